"""A run directory: what `keras-attn train`, `pretrain` and `finetune`
write, and what `translate`, `evaluate`, `export` and `verify` read.

This module alone knows its layout: `model.keras` (the best epoch),
`config.json` (the run format, preset, model class, settings, tokenization,
lengths and where the data came from), `report.json`, the tokenizers'
files, and `held_out.npz` (the first test examples, which `verify` checks
exports on). An export copies the same files beside its artifacts, so an
export directory reads like a run directory here.
"""

import os

import numpy as np

from keras_attn import integrity, schema, tokenizers
from keras_attn.integrity import write_json
from keras_attn.data import tasks
from keras_attn.data.archives import read_arrays

MODEL, CONFIG, REPORT, HELD_OUT = "model.keras", "config.json", "report.json", "held_out.npz"
# The layout of config.json: 2 since models are classes (it names the class and its full settings);
# runs without a `format` are of layout 1.
RUN_FORMAT = 2


def has_config(directory):
    return os.path.isfile(os.path.join(directory, CONFIG))


def read_config(directory):
    """The run's `config.json`; `ValueError` if it is missing, unreadable, of
    another run format (a run of an older keras-attn) or not of the layout
    `keras_attn.schema.RUN_CONFIG`."""
    path = os.path.join(directory, CONFIG)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{directory} holds no config.json; is it a keras-attn run directory?")
    config = integrity.read_json(path, "keras-attn run config")
    found = config.get("format", 1)
    if found != RUN_FORMAT:
        raise ValueError(f"{path} is of run format {found!r}, written by another keras-attn; this one reads "
                         f"format {RUN_FORMAT}: train the run again.")
    schema.check(config, schema.RUN_CONFIG, path)
    if config["tokenization"] not in tokenizers.TOKENIZERS:
        raise schema.SchemaError(f"{path}: tokenization: {config['tokenization']!r} is none of "
                                 f"{sorted(tokenizers.TOKENIZERS)}")
    return config


def write_config(directory, model_class, preset, tokenizer_of, settings, task_metadata):
    """`config.json` and the tokenizers' files: what reloading, translating,
    exporting and evaluating a run need besides `model.keras`. The task's
    metadata holds its name, tokenization, lengths (what an export pads to)
    and the origin of its data."""
    from keras_attn import models

    for side, tokenizer in tokenizer_of.items():
        tokenizer.save(directory, side)
    config = {"format": RUN_FORMAT, "preset": preset, "class": models.registered_name(model_class),
              **task_metadata, "config": settings}
    write_json(os.path.join(directory, CONFIG), config)


def write_report(directory, report):
    write_json(os.path.join(directory, REPORT), report)


def model_path(directory):
    return os.path.join(directory, MODEL)


def load_model(directory, compile=False):
    """The run's `model.keras` (safe mode)."""
    from keras_attn.saving import load_model as load

    return load(model_path(directory), compile=compile)


def load_tokenizers(directory, config=None):
    """`{side: tokenizer}` as the run saved them."""
    tokenization = (config or read_config(directory))["tokenization"]
    loaded = {side: tokenizers.TOKENIZERS[tokenization].load(directory, side) for side in ("source", "target")}
    if loaded["source"] is None:
        raise ValueError(f"{directory} holds no {tokenization} tokenizer (source_vocabulary.txt).")
    return {side: tokenizer for side, tokenizer in loaded.items() if tokenizer is not None}


def save_held_out(task, directory, count=64):
    """The first `count` test examples (ids and texts) into `directory`: what
    `verify` checks an export on, exactly the examples the run held out."""
    inputs, targets = task.splits["test"]
    texts, answers = zip(*task.examples["test"][:count]) if task.examples["test"] else ((), ())
    np.savez(os.path.join(directory, HELD_OUT), name=np.array(task.name), inputs=inputs[:count],
             targets=targets[:count], texts=np.array(texts, dtype=str), answers=np.array([str(a) for a in answers]))


def load_held_out(directory):
    """The held-out examples `save_held_out` wrote, as a task whose test split
    is them (train and validation empty), with the run's tokenizers; `None`
    where the directory holds no run config or no held-out examples."""
    if not has_config(directory) or not os.path.exists(os.path.join(directory, HELD_OUT)):
        return None
    arrays = read_arrays(os.path.join(directory, HELD_OUT), "keras-attn held-out file",
                         ("name", "inputs", "targets", "texts", "answers"))
    tokenizer_of = load_tokenizers(directory)
    examples = list(zip(arrays["texts"].tolist(), arrays["answers"].tolist()))
    empty = (arrays["inputs"][:0], arrays["targets"][:0])
    splits = {"train": empty, "validation": empty, "test": (arrays["inputs"], arrays["targets"])}
    all_examples = {"train": [], "validation": [], "test": examples}
    name = str(arrays["name"])
    if "target" in tokenizer_of:
        return tasks.TranslationTask(name, tokenizer_of["source"], tokenizer_of["target"], splits, all_examples)
    num_classes = int(arrays["targets"].max()) + 1 if arrays["targets"].size else 1
    return tasks.ClassificationTask(name, tokenizer_of["source"], num_classes, splits, all_examples)


def asset_files(directory):
    """`{name: path}` of the run's files that an export copies beside its
    artifacts (the model is given separately): config, held-out examples,
    tokenizer files."""
    if not has_config(directory):
        return {}
    names = [CONFIG, HELD_OUT] + [name for side, tokenizer in load_tokenizers(directory).items()
                                  for name in tokenizer.files(side)]
    return {name: os.path.join(directory, name) for name in names if os.path.exists(os.path.join(directory, name))}


def load_task(directory, data_dir=None):
    """`(config, task)`: the data the run was trained on (a built-in task, a
    corpus or the user's files, as its config recorded them), tokenized with
    the run's tokenizers, in the same splits. Refuses data whose sha256
    changed since."""
    from keras_attn import models
    from keras_attn.data import corpora

    config = read_config(directory)
    origin = config.get("data") or {}
    if not {"corpus", "files", "builtin"} & set(origin):
        raise ValueError(f"{directory} does not record where its data came from ({config.get('task')!r}).")
    tokenizer_of = load_tokenizers(directory, config)
    if "builtin" in origin:
        return config, tasks.load(origin["builtin"], origin["examples"], origin["seed"])
    if "files" in origin:
        task = corpora.from_files(models.task_class(config["class"]).task_type, origin["files"]["train"],
                                  origin["files"].get("test"), origin["tokenization"], max_length=origin["max_length"],
                                  seed=origin["seed"], tokenizer_of=tokenizer_of, labels=config.get("labels"))
    else:
        task = corpora.load(origin["corpus"], data_dir, origin["examples"], origin["seed"], tokenizer_of,
                            origin["max_length"], origin.get("tokenization"))
    if task.origin["sha256"] != origin["sha256"]:
        changed = sorted(role for role in origin["sha256"] if task.origin["sha256"].get(role) != origin["sha256"][role])
        raise ValueError(f"The data of {directory} changed since training ({', '.join(changed)}: sha256 differs).")
    return config, task
