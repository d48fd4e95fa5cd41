"""Training recipes on plain `model.fit`, shared by the CLI and the tests."""

import json
import os
import time

import keras
import numpy as np

from keras_attn import decoding, tasks, zoo
from keras_attn.losses import MaskedSparseCategoricalCrossentropy
from keras_attn.metrics import MaskedAccuracy
from keras_attn.models.bert import BertMaskedLM
from keras_attn.pretraining import MaskedLMDataset
from keras_attn.saving import load_model
from keras_attn.schedules import WarmupInverseSqrtSchedule


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
    if family == "seq2seq":
        model.compile(optimizer, loss=MaskedSparseCategoricalCrossentropy(), metrics=[MaskedAccuracy()])
    elif family == "masked_lm":
        model.compile(
            optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    elif family in ("classifier", "bert"):
        model.compile(
            optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    else:
        raise ValueError(f"Unknown family {family!r}.")
    return model


def distribute_over_local_devices():
    """Data-parallel training over every local device with `keras.distribution`.

    Call before building the model: variables are replicated and each batch
    is split across the devices (its size must divide evenly). The JAX
    backend runs it; on several hosts, call
    `jax.distributed.initialize()` first on each, and the same code spans
    all their devices.
    """
    if keras.backend.backend() != "jax":
        raise RuntimeError("Data-parallel training runs on the JAX backend: set KERAS_BACKEND=jax.")
    devices = keras.distribution.list_devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return len(devices)


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
    task's training sentences (labels unused) for `pretrain_epochs`.
    """
    family = zoo.preset(name).family
    _check_task(name, family, task)
    overrides = {**task_overrides(name, task), **(overrides or {})}
    model = zoo.build(name, **overrides)  # validates before anything is written
    os.makedirs(out_dir, exist_ok=True)
    report = {"preset": name, "task": task.name, "overrides": overrides, "train_examples": len(task.splits["train"][1])}
    started = time.time()

    if family == "bert" and pretrain_epochs:
        masked_lm = BertMaskedLM(model.backbone)  # pretrains the classifier's backbone in place
        batches = MaskedLMDataset(task.splits["train"][0], len(task.vocabulary), batch_size=batch_size)
        compile_model(masked_lm, "masked_lm", learning_rate, total_steps=len(batches) * pretrain_epochs)
        history = masked_lm.fit(batches, epochs=pretrain_epochs, verbose=verbose)
        report["pretraining_loss"] = [float(v) for v in history.history["loss"]]

    x, y = _data(family, task, "train")
    total_steps = -(-len(y) // batch_size) * epochs
    warmup = zoo.preset(name).warmup
    compile_model(model, family, learning_rate, total_steps=total_steps if warmup else None)
    checkpoint = os.path.join(out_dir, "model.keras")
    history = model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=_data(family, task, "validation"),
        callbacks=[keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_loss", save_best_only=True)],
        verbose=verbose,
    )
    model = load_model(checkpoint)
    report["history"] = {key: [float(v) for v in values] for key, values in history.history.items()}
    report["training_seconds"] = round(time.time() - started, 1)
    report.update(evaluate(model, family, task, "test", batch_size, limit=eval_limit))
    if beam_size and family == "seq2seq":
        report.update(evaluate(model, family, task, "test", batch_size, limit=eval_limit, beam_size=beam_size))
    _save_metadata(out_dir, name, family, task, overrides, report)
    return model, report


def evaluate(model, family, task, split, batch_size=64, limit=None, beam_size=None):
    """Classifiers: accuracy. Seq2seq: greedy (or beam) exact match and
    sacreBLEU against the references, both as detokenised text."""
    if family != "seq2seq":
        x, labels = _data(family, task, split)
        predictions = np.argmax(model.predict(x, batch_size=batch_size, verbose=0), axis=-1)
        return {f"{split}_accuracy": float(np.mean(predictions == labels))}
    import sacrebleu

    source, target = (array[:limit] for array in task.splits[split])
    max_length = target.shape[1] - 1
    hypotheses = []
    for start in range(0, len(source), batch_size):
        batch = source[start : start + batch_size]
        if beam_size:
            result = decoding.beam_decode(model, batch, beam_size=beam_size, max_length=max_length)
        else:
            result = decoding.greedy_decode(model, batch, max_length=max_length)
        hypotheses += [task.target_text(row) for row in result.tokens]
    references = [task.target_text(row[1:]) for row in target]
    prefix = f"{split}_" + (f"beam{beam_size}_" if beam_size else "")
    return {
        f"{prefix}exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)])),
        f"{prefix}bleu": float(sacrebleu.corpus_bleu(hypotheses, [references]).score),
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
