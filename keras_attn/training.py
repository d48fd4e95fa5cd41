"""Training recipes on plain `model.fit`, shared by the CLI and the tests."""

import json
import os
import time

import keras
import numpy as np

from keras_attn import decoding, tasks, zoo
from keras_attn.losses import MaskedSparseCategoricalCrossentropy
from keras_attn.metrics import MaskedAccuracy
from keras_attn.batching import LengthBucketedBatches, pad_rows
from keras_attn.distribution import batch_multiple
from keras_attn.models.bert import BertClassifier, BertMaskedLM
from keras_attn.pretraining import MaskedLMDataset
from keras_attn.saving import load_model
from keras_attn.schedules import WarmupInverseSqrtSchedule
from keras_attn.vocabulary import Vocabulary


def compile_model(model, family, learning_rate=1e-3, total_steps=None):
    """Adam with the loss and metric that suit the family ("seq2seq",
    "classifier", "bert", or "masked_lm" for pretraining).

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
    if family in ("seq2seq", "masked_lm"):
        # Label 0 marks padding: target padding, or an unused prediction slot of masked LM.
        model.compile(optimizer, loss=MaskedSparseCategoricalCrossentropy(), metrics=[MaskedAccuracy()])
    elif family in ("classifier", "bert"):
        model.compile(
            optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    else:
        raise ValueError(f"Unknown family {family!r}.")
    return model


def task_overrides(name, task):
    """The task's sizes (vocabulary, lengths, classes) that preset `name` accepts."""
    accepted = set(zoo.accepted_keys(name))
    return {key: value for key, value in task.model_overrides().items() if key in accepted}


def _classifier_inputs(family, token_ids):
    if family == "bert":
        return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids)}
    return token_ids


def _data(family, task, split):
    if family == "seq2seq":
        return task.model_inputs(split)
    token_ids, labels = task.splits[split]
    return _classifier_inputs(family, token_ids), labels


def _check_task(name, family, task):
    wants_translation = family == "seq2seq"
    if wants_translation != isinstance(task, tasks.TranslationTask):
        kind = "a translation" if wants_translation else "a classification"
        raise ValueError(f"{name!r} needs {kind} task; {task.name!r} is not one.")


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
):
    """Builds preset `name` sized to `task`, fits it, keeps the best epoch
    (lowest validation loss) in `out_dir/model.keras` with the config and
    vocabularies beside it, and returns `(model, report)`.

    BERT presets are first pretrained with the masked-LM objective on the
    task's training sentences (labels unused) for `pretrain_epochs`; for
    pretraining on other text, see `pretrain` and `finetune`.
    """
    family = zoo.preset(name).family
    _check_task(name, family, task)
    overrides = {**task_overrides(name, task), **(overrides or {})}
    model = zoo.build(name, **overrides)  # validates before anything is written
    os.makedirs(out_dir, exist_ok=True)
    started = time.time()
    report = {}
    if family == "bert" and pretrain_epochs:
        masked_lm = BertMaskedLM(model.backbone)  # pretrains the classifier's backbone in place
        batches = MaskedLMDataset(task.splits["train"][0], len(task.vocabulary), batch_size=batch_size)
        compile_model(masked_lm, "masked_lm", learning_rate, total_steps=len(batches) * pretrain_epochs)
        history = masked_lm.fit(batches, epochs=pretrain_epochs, verbose=verbose)
        report["pretraining_loss"] = [float(v) for v in history.history["loss"]]
    return fit(
        model, name, task, out_dir, overrides, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        verbose=verbose, beam_size=beam_size, eval_limit=eval_limit, report=report, started=started,
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
):
    """Fits `model` (preset `name` with `overrides`) on `task` in
    length-bucketed batches, keeps the best epoch by validation loss in
    `out_dir/model.keras`, evaluates it on the test split and saves the
    metadata beside it. Returns `(model, report)`."""
    family = zoo.preset(name).family
    _check_task(name, family, task)
    os.makedirs(out_dir, exist_ok=True)
    started = started or time.time()
    report = {
        "preset": name, "task": task.name, "overrides": overrides, "train_examples": len(task.splits["train"][1]),
        **(report or {}),
    }
    # Written first too, so that the checkpoint is usable (translate, export) while training runs.
    _save_metadata(out_dir, name, family, task, overrides, report)
    rows = batch_multiple()  # under data parallelism every batch splits evenly over the devices
    train_batches = LengthBucketedBatches(*_data(family, task, "train"), batch_size=batch_size, row_multiple=rows)
    validation_batches = LengthBucketedBatches(
        *_data(family, task, "validation"), batch_size=batch_size, shuffle=False, row_multiple=rows
    )
    warmup = zoo.preset(name).warmup
    compile_model(model, family, learning_rate, total_steps=len(train_batches) * epochs if warmup else None)
    model, report["history"] = _fit_best_epoch(model, train_batches, validation_batches, epochs, out_dir, verbose)
    report["training_seconds"] = round(time.time() - started, 1)
    if eval_limit != 0:  # 0 skips scoring (the GPU machine has no sacreBLEU): score on the CPU later
        report.update(evaluate(model, family, task, "test", batch_size, limit=eval_limit))
        if beam_size and family == "seq2seq":
            report.update(evaluate(model, family, task, "test", batch_size, limit=eval_limit, beam_size=beam_size))
    _save_metadata(out_dir, name, family, task, overrides, report)
    return model, report


def _fit_best_epoch(model, batches, validation_batches, epochs, out_dir, verbose):
    """Fits, keeps the epoch of lowest validation loss in `out_dir/model.keras`
    and returns `(that model reloaded, the history as lists of floats)`."""
    checkpoint = os.path.join(out_dir, "model.keras")
    history = model.fit(
        batches,
        epochs=epochs,
        validation_data=validation_batches,
        callbacks=[keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True)],
        verbose=verbose,
    )
    return load_model(checkpoint), {key: [float(v) for v in values] for key, values in history.history.items()}


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
):
    """Masked-LM pretraining of BERT preset `name` on `token_ids` (rows that
    start with `[CLS]`, right-padded; the width sets the position table).

    Keeps the best epoch by masked-LM loss on `validation_ids` in
    `out_dir/model.keras` (a `BertMaskedLM`), with `vocabulary.txt`,
    `config.json` and `report.json` beside it: what `finetune` reads.
    Returns `(masked_lm, report)`.
    """
    if zoo.preset(name).family != "bert":
        raise ValueError(f"Masked-LM pretraining needs a BERT preset; {name!r} is not one.")
    overrides = {"vocabulary_size": len(vocabulary), "max_length": int(np.shape(token_ids)[1]), **(overrides or {})}
    masked_lm = zoo.build(name, **{**overrides, "head": "masked_lm"})
    os.makedirs(out_dir, exist_ok=True)
    started = time.time()
    batches = MaskedLMDataset(token_ids, len(vocabulary), batch_size=batch_size)
    validation = MaskedLMDataset(validation_ids, len(vocabulary), batch_size=batch_size, shuffle=False)
    compile_model(masked_lm, "masked_lm", learning_rate, total_steps=len(batches) * epochs)
    masked_lm, history = _fit_best_epoch(masked_lm, batches, validation, epochs, out_dir, verbose)
    report = {
        "preset": name, "data": list(data_names), "overrides": overrides,
        "train_rows": int(len(token_ids)), "train_tokens": int(np.count_nonzero(token_ids)),
        "history": history,
        "training_seconds": round(time.time() - started, 1),
    }
    vocabulary.save(os.path.join(out_dir, "vocabulary.txt"))
    metadata = {
        "preset": name, "family": "masked_lm", "task": "+".join(data_names) or "masked_lm",
        "config": {**zoo.config(name), **overrides, "head": "masked_lm"},
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(metadata, f, indent=2)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    return masked_lm, report


def pretrained_vocabulary(pretrained_dir):
    """The `Vocabulary` that `pretrain` saved: tokenize the fine-tuning task with it."""
    return Vocabulary.load(os.path.join(pretrained_dir, "vocabulary.txt"))


def finetune(pretrained_dir, task, out_dir, random_init=False, **fit_args):
    """Fine-tunes the backbone that `pretrain` left in `pretrained_dir` as a
    `BertClassifier` on `task` (tokenized with `pretrained_vocabulary`).

    `random_init=True` trains the same architecture, vocabulary and recipe
    from random weights: the baseline that measures what pretraining gave.
    Other arguments go to `fit`. Returns `(classifier, report)`.
    """
    with open(os.path.join(pretrained_dir, "config.json")) as f:
        metadata = json.load(f)
    if metadata.get("family") != "masked_lm":
        raise ValueError(f"{pretrained_dir} holds no masked-LM pretraining (see `keras-attn pretrain`).")
    _check_task(metadata["preset"], "bert", task)  # before reading the task's vocabulary
    if task.vocabulary.tokens != pretrained_vocabulary(pretrained_dir).tokens:
        raise ValueError("Tokenize the fine-tuning task with the pretraining vocabulary (`pretrained_vocabulary`).")
    name = metadata["preset"]
    config = {**metadata["config"], "head": "classifier", "num_classes": task.num_classes}
    if task.max_length > config["max_length"]:
        raise ValueError(f"The task's rows ({task.max_length}) exceed the pretrained max_length ({config['max_length']}).")
    if random_init:
        model = zoo.build(name, **config)
    else:
        backbone = load_model(os.path.join(pretrained_dir, "model.keras"), compile=False).backbone
        model = BertClassifier(backbone, num_classes=task.num_classes, dropout=config["classifier_dropout"])
    overrides = {key: value for key, value in config.items() if zoo.config(name).get(key) != value}
    report = {"pretrained": None if random_init else os.path.abspath(pretrained_dir)}
    return fit(model, name, task, out_dir, overrides, report=report, **fit_args)


def evaluate(model, family, task, split, batch_size=64, limit=None, beam_size=None):
    """Classifiers: accuracy. Seq2seq: greedy (or beam) exact match and
    sacreBLEU against the references, both as detokenised text."""
    if family != "seq2seq":
        x, labels = _data(family, task, split)
        x, _ = pad_rows(x, batch_size)  # whole batches only, which split evenly over devices
        predictions = np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=-1)[: len(labels)]
        return {f"{split}_accuracy": float(np.mean(predictions == labels))}

    def decode(source_ids, max_length):
        if beam_size:
            return decoding.beam_decode(model, source_ids, beam_size=beam_size, max_length=max_length).tokens
        return decoding.greedy_decode(model, source_ids, max_length=max_length).tokens

    scores = score_translations(task, split, decode, batch_size, limit)
    prefix = f"{split}_" + (f"beam{beam_size}_" if beam_size else "")
    return {f"{prefix}{key}": value for key, value in scores.items()}


def score_translations(task, split, decode, batch_size=64, limit=None):
    """`{"exact_match", "bleu"}` (sacreBLEU, detokenised text) of
    `decode(source_ids, max_length) → token ids` on `split` (`limit`
    evenly spaced pairs of it, if given): one scorer for Keras models and
    exported artifacts."""
    import sacrebleu

    source, target = task.splits[split]
    if limit is not None and limit < len(source):
        # Evenly spaced rows, not the first ones: the corpora keep file order,
        # and the Anki files run from the shortest sentences to the longest.
        rows = np.linspace(0, len(source) - 1, limit).round().astype(int)
        source, target = source[rows], target[rows]
    max_length = target.shape[1] - 1
    hypotheses = []
    for start in range(0, len(source), batch_size):
        hypotheses += [task.target_text(row) for row in decode(source[start : start + batch_size], max_length)]
    references = [task.target_text(row[1:]) for row in target]
    return {
        "exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)])),
        "bleu": float(sacrebleu.corpus_bleu(hypotheses, [references]).score),
    }


def _save_metadata(out_dir, name, family, task, overrides, report):
    if family == "seq2seq":
        task.source_vocabulary.save(os.path.join(out_dir, "source_vocabulary.txt"))
        task.target_vocabulary.save(os.path.join(out_dir, "target_vocabulary.txt"))
    else:
        task.vocabulary.save(os.path.join(out_dir, "vocabulary.txt"))
    metadata = {"preset": name, "family": family, "task": task.name, "config": {**zoo.config(name), **overrides}}
    if family == "seq2seq":  # the lengths an export pads to
        metadata["lengths"] = {"max_source_length": task.max_source_length, "max_target_length": task.max_target_length}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(metadata, f, indent=2)
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
