"""Training recipes on plain `model.fit`, shared by the CLI and the tests.

What differs between kinds of model (loss, inputs, pretraining, scores)
comes from the model's kind (`keras_attn.models`).
"""

import json
import os
import time

import keras
import numpy as np

from keras_attn import models, progress, staging, zoo
from keras_attn.data import tasks
from keras_attn.data.batching import LengthBucketedBatches
from keras_attn.data.masked_lm import MaskedLMDataset
from keras_attn.saving import load_model
from keras_attn.tokenizers import WordPieceTokenizer
from keras_attn.training.distribution import batch_multiple
from keras_attn.training.schedules import WarmupInverseSqrtSchedule
from keras_attn.training.time_limit import TimeLimit


def compile_model(model, learning_rate=1e-3, total_steps=None):
    """Adam with the loss and metrics of the model's kind.

    With `total_steps`, the learning rate warms up over the first 10% of
    the steps (at most 4000) to `learning_rate`, then decays with the
    inverse square root of the step, with Adam's beta_2 = 0.98: the recipe
    of Vaswani et al., without which a Transformer trains poorly.
    """
    if total_steps:
        warmup_steps = max(1, min(4000, total_steps // 10))
        # `scale` puts the peak, at the end of warm-up, at `learning_rate`.
        scale = learning_rate * warmup_steps**0.5
        learning_rate = WarmupInverseSqrtSchedule(1, warmup_steps=warmup_steps, scale=scale)
        optimizer = keras.optimizers.Adam(learning_rate, beta_2=0.98, epsilon=1e-9)
    else:
        optimizer = keras.optimizers.Adam(learning_rate)
    loss, metrics = models.kind_of(model).loss_and_metrics()
    model.compile(optimizer, loss=loss, metrics=metrics)
    return model


def task_overrides(name, task):
    """The task's sizes (vocabulary, lengths, classes) that preset `name` accepts."""
    accepted = set(zoo.accepted_keys(name))
    return {key: value for key, value in task.model_overrides().items() if key in accepted}


def train(
    name,
    task,
    out_dir,
    epochs=3,
    batch_size=64,
    learning_rate=1e-3,
    overrides=None,
    pretrain_epochs=1,
    verbose="auto",
    beam_size=None,
    eval_limit=None,
    overwrite=False,
    seed=0,
    time_limit=None,
):
    """Builds preset `name` sized to `task`, fits it, keeps the best epoch
    (lowest validation loss) in `out_dir/model.keras` with the config and
    vocabularies beside it, and returns `(model, report)`.

    A kind with its own pretraining (BERT: masked LM on the task's training
    sentences, labels unused) runs it first for `pretrain_epochs`; for
    pretraining on other text, see `pretrain` and `finetune`. `time_limit`
    (seconds) ends fitting early, at the end of a batch; the interrupted
    epoch is validated like the others.
    """
    kind = zoo.preset(name).kind
    kind.check_task(name, task)
    overrides = {**task_overrides(name, task), **(overrides or {})}
    check_fit_arguments(task, overrides, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    staging.check_target(out_dir, overwrite)
    keras.utils.set_random_seed(seed)  # weights, dropout; the batches and masking take `seed` too
    model = zoo.build(name, **overrides)  # validates before anything is written
    started = time.time()
    report = kind.pretrain_on_task(model, task, pretrain_epochs, batch_size, learning_rate, verbose, seed)
    return fit(
        model, name, task, out_dir, overrides, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        verbose=verbose, beam_size=beam_size, eval_limit=eval_limit, report=report, started=started,
        overwrite=overwrite, seed=seed, time_limit=time_limit,
    )


def fit(
    model,
    name,
    task,
    out_dir,
    overrides,
    epochs=3,
    batch_size=64,
    learning_rate=1e-3,
    verbose="auto",
    beam_size=None,
    eval_limit=None,
    report=None,
    started=None,
    overwrite=False,
    seed=0,
    time_limit=None,
):
    """Fits `model` (preset `name` with `overrides`) on `task` in
    length-bucketed batches, keeps the best epoch by validation loss in
    `out_dir/model.keras`, evaluates it on the test split and saves the
    metadata beside it. Returns `(model, report)`.

    The run is written into a staging folder and takes `out_dir`'s place
    only when it is complete (`keras_attn.staging`): a failed run leaves the
    previous one as it was. A non-empty `out_dir` needs `overwrite`.
    """
    kind = models.kind_of(model)
    kind.check_task(name, task)
    check_fit_arguments(task, {}, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    with staging.staged(out_dir, overwrite) as work:
        return _fit(model, kind, name, task, work, overrides, epochs, batch_size, learning_rate, verbose,
                    beam_size, eval_limit, report, started or time.time(), seed, time_limit)


def _fit(model, kind, name, task, out_dir, overrides, epochs, batch_size, learning_rate, verbose, beam_size,
         eval_limit, report, started, seed, time_limit):
    report = {
        "preset": name, "task": task.name, "overrides": overrides, "train_examples": len(task.splits["train"][1]),
        **(report or {}),
    }
    # Written first, so that the checkpoint is usable (translate, export) while training runs.
    _write_run_config(out_dir, name, kind, task.tokenizers, overrides, task.metadata())
    rows = batch_multiple()  # under data parallelism every batch splits evenly over the devices
    train_batches = LengthBucketedBatches(
        *kind.fit_data(task, "train"), batch_size=batch_size, row_multiple=rows, seed=seed
    )
    validation_batches = LengthBucketedBatches(
        *kind.fit_data(task, "validation"), batch_size=batch_size, shuffle=False, row_multiple=rows
    )
    compile_model(model, learning_rate, total_steps=len(train_batches) * epochs if kind.warmup else None)
    with progress.step(f"training {name} for {epochs} epoch(s)"):
        model, report["history"], report["stopped_by_time_limit"] = _fit_best_epoch(
            model, train_batches, validation_batches, epochs, out_dir, verbose, time_limit
        )
    report["training_seconds"] = round(time.time() - started, 1)
    if eval_limit != 0:  # 0 skips scoring (the GPU machine has no sacreBLEU): score on the CPU later
        with progress.step("scoring the test split"):
            report.update(kind.evaluate(model, task, "test", batch_size, limit=eval_limit))
            if beam_size and kind.decodes:
                report.update(kind.evaluate(model, task, "test", batch_size, limit=eval_limit, beam_size=beam_size))
    _write_json(os.path.join(out_dir, "report.json"), report)
    tasks.save_held_out(task, out_dir)
    return model, report


def check_fit_arguments(task, overrides, **positive):
    """Refuses, before anything is written: a non-positive `epochs`,
    `batch_size` or `learning_rate`; overrides that do not fit the task (a
    vocabulary smaller than its ids, lengths shorter than its rows, fewer
    classes than its labels); a task whose arrays are inconsistent."""
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"`{name}` must be positive, got {value!r}.")
    if task is None:
        return
    task.validate()
    for key, needed in task.model_overrides().items():
        if key in overrides and isinstance(overrides[key], int) and overrides[key] < needed:
            raise ValueError(f"`{key}`={overrides[key]} does not fit the task {task.name!r}, which needs {needed}.")


def _fit_best_epoch(model, batches, validation_batches, epochs, out_dir, verbose, time_limit=None):
    """Fits, keeps the epoch of lowest validation loss in `out_dir/model.keras`
    and returns `(that model reloaded, the history as lists of floats,
    whether `time_limit` seconds ended the fit)`."""
    checkpoint = os.path.join(out_dir, "model.keras")
    callbacks = [keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True)]
    if time_limit is not None:
        callbacks.append(TimeLimit(time_limit))
    history = model.fit(batches, epochs=epochs, validation_data=validation_batches, callbacks=callbacks, verbose=verbose)
    stopped = time_limit is not None and callbacks[-1].stopped
    history = {key: [float(v) for v in values] for key, values in history.history.items()}
    return load_model(checkpoint), history, stopped


def pretrain(
    name,
    token_ids,
    validation_ids,
    vocabulary,
    out_dir,
    data_names=(),
    epochs=1,
    batch_size=64,
    learning_rate=1e-3,
    overrides=None,
    verbose="auto",
    overwrite=False,
    seed=0,
    time_limit=None,
):
    """Masked-LM pretraining of preset `name` (a kind with pretraining: BERT)
    on `token_ids` (rows that start with `[CLS]`, right-padded; the width
    sets the position table), WordPiece ids over `vocabulary`.

    Keeps the best epoch by masked-LM loss on `validation_ids` in
    `out_dir/model.keras`, with the vocabulary, `config.json` and
    `report.json` beside it: what `finetune` reads. `time_limit` (seconds)
    ends fitting early, as in `train`. Returns `(model, report)`.
    """
    kind = zoo.preset(name).kind
    if kind.pretraining_overrides is None:
        raise ValueError(f"Masked-LM pretraining needs a preset that has it (BERT); {name!r} has none.")
    check_fit_arguments(None, {}, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    staging.check_target(out_dir, overwrite)
    width = int(np.shape(token_ids)[1])
    overrides = {"vocabulary_size": len(vocabulary), "max_length": width, **(overrides or {})}
    keras.utils.set_random_seed(seed)
    masked_lm = zoo.build(name, **{**overrides, **kind.pretraining_overrides})
    with staging.staged(out_dir, overwrite) as work:
        return _pretrain(masked_lm, kind, name, token_ids, validation_ids, vocabulary, work, data_names, epochs,
                         batch_size, learning_rate, overrides, verbose, seed, width, time_limit)


def _pretrain(masked_lm, kind, name, token_ids, validation_ids, vocabulary, out_dir, data_names, epochs, batch_size,
              learning_rate, overrides, verbose, seed, width, time_limit):
    started = time.time()
    batches = MaskedLMDataset(token_ids, len(vocabulary), batch_size=batch_size, seed=seed)
    validation = MaskedLMDataset(validation_ids, len(vocabulary), batch_size=batch_size, shuffle=False, seed=seed)
    compile_model(masked_lm, learning_rate, total_steps=len(batches) * epochs)
    tokenizer = WordPieceTokenizer(vocabulary)
    metadata = {"task": "+".join(data_names) or "masked_lm", "tokenization": tokenizer.name,
                "lengths": {"max_length": width}, "data": {"texts": list(data_names)}}
    _write_run_config(out_dir, name, models.kind_of(masked_lm), {"source": tokenizer},
                      {**overrides, **kind.pretraining_overrides}, metadata)
    with progress.step(f"pretraining {name} for {epochs} epoch(s)"):
        masked_lm, history, stopped = _fit_best_epoch(
            masked_lm, batches, validation, epochs, out_dir, verbose, time_limit
        )
    report = {
        "preset": name, "data": list(data_names), "overrides": overrides,
        "train_rows": int(len(token_ids)), "train_tokens": int(np.count_nonzero(token_ids)),
        "history": history, "stopped_by_time_limit": stopped,
        "training_seconds": round(time.time() - started, 1),
    }
    _write_json(os.path.join(out_dir, "report.json"), report)
    return masked_lm, report


def read_run_config(directory):
    """The `config.json` that `train`, `pretrain` or `finetune` wrote in `directory`."""
    path = os.path.join(directory, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{directory} holds no config.json; is it a keras-attn run directory?")
    with open(path) as f:
        config = json.load(f)
    missing = sorted({"preset", "kind", "tokenization", "lengths", "config"} - set(config))
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: written by an older keras-attn? Train the run again.")
    return config


def pretrained_tokenizer(pretrained_dir):
    """The tokenizer that `pretrain` saved: tokenize the fine-tuning task with it."""
    config = read_run_config(pretrained_dir)
    return tasks.load_tokenizers(pretrained_dir, config["tokenization"])["source"]


def finetune(pretrained_dir, task, out_dir, random_init=False, **fit_args):
    """Fine-tunes the model that `pretrain` left in `pretrained_dir` as a
    classifier on `task` (tokenized with `pretrained_tokenizer`).

    `random_init=True` trains the same architecture, vocabulary and recipe
    from random weights: the baseline that measures what pretraining gave.
    Other arguments go to `fit`. Returns `(classifier, report)`.
    """
    metadata = read_run_config(pretrained_dir)
    pretrained_kind = models.get(metadata["kind"])
    name = metadata["preset"]
    kind = zoo.preset(name).kind
    if kind.pretraining_overrides is None or pretrained_kind is kind:
        raise ValueError(f"{pretrained_dir} holds no masked-LM pretraining (see `keras-attn pretrain`).")
    kind.check_task(name, task)  # before reading the task's vocabulary
    if task.vocabulary.tokens != pretrained_tokenizer(pretrained_dir).tokens:
        raise ValueError("Tokenize the fine-tuning task with the pretraining vocabulary (`pretrained_tokenizer`).")
    # The pretraining overrides dropped: the preset's own values (its classifier head) apply.
    config = {key: value for key, value in metadata["config"].items() if key not in kind.pretraining_overrides}
    config = {**zoo.config(name), **config, "num_classes": task.num_classes}
    if task.max_length > config["max_length"]:
        raise ValueError(f"The task's rows ({task.max_length}) exceed the pretrained max_length ({config['max_length']}).")
    if random_init:
        model = zoo.build(name, **config)
    else:
        pretrained = load_model(os.path.join(pretrained_dir, "model.keras"), compile=False)
        model = pretrained_kind.classifier_from(pretrained, config)
    overrides = {key: value for key, value in config.items() if zoo.config(name).get(key) != value}
    report = {"pretrained": None if random_init else os.path.abspath(pretrained_dir)}
    return fit(model, name, task, out_dir, overrides, report=report, **fit_args)


def evaluate(model, task, split="test", batch_size=64, limit=None, beam_size=None):
    """The scores of the model's kind on a task split (accuracy; exact match and BLEU)."""
    return models.kind_of(model).evaluate(model, task, split, batch_size, limit=limit, beam_size=beam_size)


def _write_run_config(out_dir, name, kind, tokenizers, overrides, task_metadata):
    """`config.json` and the vocabularies: what reloading, translating,
    exporting and evaluating a run need besides `model.keras`. The task's
    metadata holds its name, tokenization, lengths (what an export pads to)
    and the origin of its data."""
    tasks.save_tokenizers(out_dir, tokenizers)
    config = {"preset": name, "kind": kind.name, **task_metadata, "config": {**zoo.config(name), **overrides}}
    _write_json(os.path.join(out_dir, "config.json"), config)


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
