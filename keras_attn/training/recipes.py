"""Training recipes on plain `model.fit`, shared by the CLI and the tests.

What differs between models (loss, inputs, scores) the model's
class says (`keras_attn.models.Task`); what pretrains a preset, its preset
(`keras_attn.zoo.Preset.pretraining_class`). Runs are written as
`keras_attn.run_directory` lays them out.
"""

import contextlib
import os
import shutil
import tempfile
import time

import keras
import numpy as np

from keras_attn import models, progress, run_directory, staging, zoo
from keras_attn.data.batching import EpochOrder, LengthBucketedBatches
from keras_attn.data.masked_lm import MaskedLMDataset
from keras_attn.tokenizers import WordPieceTokenizer
from keras_attn.training import distribution
from keras_attn.training import resume as resuming
from keras_attn.training.epoch_log import EpochLog, fit_verbosity
from keras_attn.training.schedules import WarmupInverseSqrtSchedule
from keras_attn.training.time_limit import TimeLimit
from keras_attn.validation import check_beam_size, check_range


def compile_model(model, learning_rate=1e-3, total_steps=None):
    """Adam, with the model's own loss and metrics (`Task.compile`'s defaults).

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
    models.check(model).compile(optimizer)
    return model


def task_overrides(name, task):
    """The task's sizes (vocabulary, lengths, classes) and special ids that preset `name` accepts."""
    accepted = set(zoo.accepted_keys(name))
    settings = {**task.model_overrides(), **task.special_ids()}
    return {key: value for key, value in settings.items() if key in accepted}


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
    log_json=None,
    resume=False,
    checkpoint_every=0,
):
    """Builds preset `name` sized to `task`, fits it, keeps the best epoch
    (lowest validation loss) in `out_dir/model.keras` with the config and
    vocabularies beside it, and returns `(model, report)`.

    A preset with a pretraining class (BERT: masked LM on the task's training
    sentences, labels unused) runs it first for `pretrain_epochs`; for
    pretraining on other text, see `pretrain` and `finetune`. `time_limit`
    (seconds) ends fitting early, at the end of a batch; the interrupted
    epoch is validated like the others. `log_json` names a file that gets
    one JSON object per epoch (`EpochLog`).

    The training state is checkpointed every `checkpoint_every` batches
    (0: at each epoch's end only) and `resume=True` continues an
    interrupted or time-limited run into `out_dir` from its last checkpoint,
    given the same arguments (`epochs` may grow): see
    `keras_attn.training.resume`.
    """
    spec = zoo.preset(name)
    spec.task_class.check_data(task, name)
    overrides = {**task_overrides(name, task), **(overrides or {})}
    check_fit_arguments(task, overrides, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    continued = _continued_run(out_dir, resume, overwrite, time_limit)
    keras.utils.set_random_seed(seed)  # weights, dropout; the batches and masking take `seed` too
    model = zoo.build(name, **overrides)  # validates before anything is written
    started = time.time()
    report = {}
    # A resumed run's checkpoint holds the pretrained weights, and its report the pretraining's.
    if spec.pretraining_class is not None and pretrain_epochs and continued is None:
        report = _pretrain_on_task(spec.pretraining_class(model.backbone), task, pretrain_epochs, batch_size,
                                   learning_rate, verbose, seed)
    return fit(
        model, name, task, out_dir, overrides, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        verbose=verbose, beam_size=beam_size, eval_limit=eval_limit, report=report, started=started,
        overwrite=overwrite, seed=seed, time_limit=time_limit, log_json=log_json, resume=resume,
        checkpoint_every=checkpoint_every, pretrain_epochs=pretrain_epochs,
    )


def _continued_run(out_dir, resume, overwrite, time_limit):
    """`(folder, state)` of the checkpoint `resume` continues, else `None`
    (a new run, refused over an interrupted one's checkpoint without
    `overwrite`). Checks `out_dir` as a target first: process 0 does, of
    several (`_own_folder`), and they all refuse what they cannot agree on."""
    index, count = distribution.process_shard()
    if count > 1 and (resume or time_limit is not None):
        # Each process would decide for itself: a clock, or a checkpoint only process 0 sees.
        raise ValueError(f"`{'resume' if resume else 'time_limit'}` is not supported over several processes.")
    if index:
        return None
    staging.check_target(out_dir, overwrite or resume)
    if resume:
        return resuming.saved_state(out_dir)
    resuming.check_fresh(out_dir, overwrite)
    return None


def _pretrain_on_task(masked_lm, task, epochs, batch_size, learning_rate, verbose, seed):
    """Masked-LM pretraining of `masked_lm` (over the classifier's backbone, in
    place) on the task's training sentences; returns report entries."""
    batches = MaskedLMDataset(task.splits["train"][0], len(task.vocabulary), batch_size=batch_size, seed=seed,
                              **_batching())
    compile_model(masked_lm, learning_rate, total_steps=len(batches) * epochs)
    with progress.step(f"masked-LM pretraining on the task's sentences for {epochs} epoch(s)"):
        history = masked_lm.fit(batches, epochs=epochs, verbose=fit_verbosity(verbose), shuffle=False,
                                callbacks=[EpochOrder(batches)])
    return {"pretraining_loss": [float(v) for v in history.history["loss"]]}


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
    log_json=None,
    resume=False,
    checkpoint_every=0,
    pretrain_epochs=None,
):
    """Fits `model` (preset `name` with `overrides`) on `task` in
    length-bucketed batches, keeps the best epoch by validation loss in
    `out_dir/model.keras`, evaluates it on the test split and saves the
    metadata beside it. Returns `(model, report)`.

    The run is written into a staging folder and takes `out_dir`'s place
    only when it is complete (`keras_attn.staging`): a failed run leaves the
    previous one as it was. A non-empty `out_dir` needs `overwrite`.
    `checkpoint_every` and `resume` are `train`'s; `pretrain_epochs`, what
    `train` pretrained the model for (part of what a resumed run repeats).
    """
    models.check(model).check_data(task, name)
    model.check_ids(task)
    check_fit_arguments(task, {}, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    # Scoring comes after the fit: its arguments are checked before it.
    if eval_limit is not None:
        check_range("eval_limit", eval_limit, 0)
    if beam_size is not None and isinstance(model, models.GenerativeTask):
        check_beam_size(beam_size, batch_size, model.target_vocabulary_size)
    continued = _continued_run(out_dir, resume, overwrite, time_limit)
    recipe = {"stage": "fit", "preset": name, "class": models.registered_name(type(model)), "overrides": overrides,
              "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed,
              "pretrain_epochs": pretrain_epochs}
    with _own_folder(out_dir) as out_dir:
        if distribution.process_shard()[0]:
            eval_limit = 0  # process 0 scores
        fitting = _fitting(out_dir, continued, recipe, checkpoint_every, verbose, time_limit, log_json, learning_rate)
        with staging.staged(out_dir, overwrite or resume) as work:
            return _fit(model, name, task, work, overrides, epochs, batch_size, beam_size, eval_limit, report,
                        started or time.time(), seed, fitting)


@contextlib.contextmanager
def _own_folder(out_dir):
    """`out_dir` for process 0; for each other process of a data-parallel
    run, a folder of its own, removed at the end: only process 0 writes the
    run, and all of them run the same steps (the checkpoints' saves included)."""
    if not distribution.process_shard()[0]:
        yield out_dir
        return
    with tempfile.TemporaryDirectory(prefix="keras-attn-process-") as folder:
        yield os.path.join(folder, "run")


def _batching():
    """The batches' arguments under the current distribution: every batch
    splits evenly over the devices, and this process feeds its own rows."""
    return {"row_multiple": distribution.batch_multiple(), "shard": distribution.process_shard()}


def _fit(model, name, task, out_dir, overrides, epochs, batch_size, beam_size, eval_limit, report, started, seed,
         fitting):
    report = {
        "preset": name, "task": task.name, "overrides": overrides, "train_examples": len(task.splits["train"][1]),
        **(report or {}),
    }
    # Written first, so that the checkpoint is usable (translate, export) while training runs.
    # A preset's run records its settings over the preset's; an imported model's (no preset), its own.
    settings = {**zoo.config(name), **overrides} if name else model.current_settings()
    run_directory.write_config(out_dir, type(model), name, task.tokenizers, settings, task.metadata())
    pad_id = task.tokenizers["source"].vocabulary.pad_id
    train_batches = LengthBucketedBatches(*model.fit_inputs(task, "train"), batch_size=batch_size, seed=seed,
                                          pad_id=pad_id, **_batching())
    validation_batches = LengthBucketedBatches(*model.fit_inputs(task, "validation"), batch_size=batch_size,
                                               shuffle=False, pad_id=pad_id, **_batching())
    schedule_steps = len(train_batches) * epochs if model.warmup else None
    with progress.step(f"training {name or type(model).__name__} for {epochs} epoch(s)"):
        model, fitted = _fit_best_epoch(model, train_batches, validation_batches, epochs, out_dir,
                                        schedule_steps=schedule_steps, report=report, **fitting)
    report.update(fitted)
    report["training_seconds"] = round(time.time() - started, 1)
    if eval_limit != 0:  # 0 skips scoring (the GPU machine has no sacreBLEU): score on the CPU later
        with progress.step("scoring the test split"):
            report.update(model.evaluate_task(task, "test", batch_size, limit=eval_limit))
            if beam_size is not None and isinstance(model, models.GenerativeTask):
                report.update(model.evaluate_task(task, "test", batch_size, limit=eval_limit, beam_size=beam_size))
    run_directory.write_report(out_dir, report)
    run_directory.save_held_out(task, out_dir)
    resuming.move_into(fitting["target"], out_dir)
    return model, report


def check_fit_arguments(task, overrides, **positive):
    """Refuses, before anything is written: a non-positive `epochs`,
    `batch_size` or `learning_rate`; overrides that do not fit the task (a
    vocabulary smaller than its ids, lengths shorter than its rows, another
    number of classes than its own); a task whose arrays are inconsistent."""
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"`{name}` must be positive, got {value!r}.")
    if task is None:
        return
    task.validate()
    for key, needed in task.model_overrides().items():
        if key not in overrides:
            continue
        if key in task.exact_overrides and overrides[key] != needed:
            raise ValueError(f"`{key}`={overrides[key]!r} does not fit the task {task.name!r}, which has {needed}.")
        if isinstance(overrides[key], int) and overrides[key] < needed:
            raise ValueError(f"`{key}`={overrides[key]} does not fit the task {task.name!r}, which needs {needed}.")


def _fitting(target, continued, recipe, every_steps, verbose, time_limit, log_json, learning_rate):
    """`_fit_best_epoch`'s arguments that `fit` and `pretrain` pass through."""
    if distribution.process_shard()[0]:
        verbose, log_json = 0, None  # process 0 logs
    return {"target": target, "continued": continued, "recipe": recipe, "every_steps": every_steps,
            "verbose": verbose, "time_limit": time_limit, "log_json": log_json, "learning_rate": learning_rate}


def _fit_best_epoch(model, batches, validation_batches, epochs, out_dir, *, target, continued, recipe, every_steps,
                    learning_rate, schedule_steps, report, verbose, time_limit, log_json):
    """Compiles `model` and fits it into the staging folder `out_dir` of the
    run into `target`: from the checkpoint `continued` (`(folder, state)`)
    if given, else anew with `recipe` (what a resumed run must repeat) and
    the learning-rate schedule over `schedule_steps`; checkpointing every
    `every_steps` batches (`resume.TrainingCheckpoint`). Keeps the epoch of
    lowest validation loss in `out_dir/model.keras`. Returns `(that model
    reloaded, the report: `report`, or the continued run's, with the history
    as lists of floats and whether `time_limit` seconds ended the fit)`.
    """
    recipe = {**recipe, "data": resuming.data_fingerprint(batches, validation_batches)}
    if continued is None:
        source, state = None, resuming.new_state(recipe, report, schedule_steps)
    else:
        (source, state), report = continued, continued[1]["report"]
        resuming.check_recipe(state, recipe, epochs)
        report = {**report, "resumed_from": {"epoch": state["epoch"], "batch": state["batch"]}}
    compile_model(model, learning_rate, total_steps=state["schedule_steps"])
    folder = resuming.open_folder(target, source)
    resuming.restore(model, folder, state, batches)
    limit = TimeLimit(time_limit) if time_limit is not None else None
    checkpoint = resuming.TrainingCheckpoint(folder, batches, state, every_steps, time_limit=limit)
    callbacks = [EpochOrder(batches)] + ([limit] if limit else []) + [checkpoint]
    if log_json is not None:
        callbacks.append(EpochLog(log_json, batches, append=continued is not None))
    # An epoch resumed mid-way is fitted alone (its batches start later), then the others.
    # The batches' order is theirs (`shuffle=False`: Keras's own shuffle of a dataset's items is not resumable).
    for end in ([state["epoch"] + 1] if state["batch"] else []) + [epochs]:
        if state["epoch"] < end and not (limit and limit.stopped):
            batches.start_at(state["epoch"], state["batch"])
            model.fit(batches, initial_epoch=state["epoch"], epochs=end, validation_data=validation_batches,
                      callbacks=callbacks, verbose=fit_verbosity(verbose), shuffle=False)
    distribution.end_processes()  # the model reloaded below, and what scores it, stay on this process
    partial = checkpoint.partial
    if partial is not None and (state["best"] is None or partial["val_loss"] < state["best"]):
        model.save(run_directory.model_path(out_dir))  # the epoch a time limit ended is the best so far
    else:
        shutil.copyfile(os.path.join(folder, resuming.BEST), run_directory.model_path(out_dir))
    history = {key: list(values) for key, values in state["history"].items()}
    for key, value in (partial or {}).items():
        history.setdefault(key, []).append(value)
    fitted = {**report, "history": history, "stopped_by_time_limit": bool(limit and limit.stopped)}
    return run_directory.load_model(out_dir, compile=True), fitted


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
    log_json=None,
    resume=False,
    checkpoint_every=0,
):
    """Masked-LM pretraining of preset `name` (one with a pretraining class: BERT)
    on `token_ids` (rows that start with `[CLS]`, right-padded; the width
    sets the position table), WordPiece ids over `vocabulary`.

    Keeps the best epoch by masked-LM loss on `validation_ids` in
    `out_dir/model.keras`, with the vocabulary, `config.json` and
    `report.json` beside it: what `finetune` reads. `time_limit` (seconds)
    ends fitting early, `log_json` logs each epoch, and `checkpoint_every`
    and `resume` checkpoint and continue the run, as in `train`. Returns
    `(model, report)`.
    """
    spec = zoo.preset(name)
    if spec.pretraining_class is None:
        raise ValueError(f"Masked-LM pretraining needs a preset that has it (BERT); {name!r} has none.")
    check_fit_arguments(None, {}, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    continued = _continued_run(out_dir, resume, overwrite, time_limit)
    width = int(np.shape(token_ids)[1])
    overrides = {"vocabulary_size": len(vocabulary), "max_length": width, **(overrides or {})}
    keras.utils.set_random_seed(seed)
    masked_lm = spec.pretraining_class(zoo.build(name, **overrides).backbone)
    recipe = {"stage": "pretrain", "preset": name, "overrides": overrides, "batch_size": batch_size,
              "learning_rate": learning_rate, "seed": seed, "texts": list(data_names)}
    with _own_folder(out_dir) as out_dir:
        fitting = _fitting(out_dir, continued, recipe, checkpoint_every, verbose, time_limit, log_json, learning_rate)
        with staging.staged(out_dir, overwrite or resume) as work:
            return _pretrain(masked_lm, name, token_ids, validation_ids, vocabulary, work, data_names, epochs,
                             batch_size, overrides, seed, width, fitting)


def _pretrain(masked_lm, name, token_ids, validation_ids, vocabulary, out_dir, data_names, epochs, batch_size,
              overrides, seed, width, fitting):
    started = time.time()
    batches = MaskedLMDataset(token_ids, len(vocabulary), batch_size=batch_size, seed=seed, **_batching())
    validation = MaskedLMDataset(validation_ids, len(vocabulary), batch_size=batch_size, shuffle=False, seed=seed,
                                 **_batching())
    tokenizer = WordPieceTokenizer(vocabulary)
    metadata = {"task": "+".join(data_names) or "masked_lm", "tokenization": tokenizer.name,
                "lengths": {"max_length": width}, "data": {"texts": list(data_names)}}
    run_directory.write_config(out_dir, type(masked_lm), name, {"source": tokenizer},
                               {**zoo.config(name), **overrides}, metadata)
    with progress.step(f"pretraining {name} for {epochs} epoch(s)"):
        masked_lm, report = _fit_best_epoch(
            masked_lm, batches, validation, epochs, out_dir, schedule_steps=len(batches) * epochs, **fitting,
            report={"preset": name, "data": list(data_names), "overrides": overrides, "train_rows": int(len(token_ids)),
                    "train_tokens": int(np.count_nonzero(token_ids))},
        )
    report["training_seconds"] = round(time.time() - started, 1)
    run_directory.write_report(out_dir, report)
    resuming.move_into(fitting["target"], out_dir)
    return masked_lm, report


def pretrained_tokenizer(pretrained_dir):
    """The tokenizer that `pretrain` saved: tokenize the fine-tuning task with it."""
    return run_directory.load_tokenizers(pretrained_dir)["source"]


def finetune(pretrained_dir, task, out_dir, random_init=False, **fit_args):
    """Fine-tunes the BERT in `pretrained_dir` as a classifier on `task`
    (tokenized with `pretrained_tokenizer`): a run of `pretrain` (the
    preset's classifier over its pretrained backbone) or an imported
    checkpoint (`keras-attn import`: a `BertClassifier` over its backbone,
    with a new head; the pooler too where the checkpoint had none).

    `random_init=True` trains the same architecture, vocabulary and recipe
    from random weights: the baseline that measures what pretraining gave.
    Other arguments go to `fit`. Returns `(classifier, report)`.
    """
    metadata = run_directory.read_config(pretrained_dir)
    name = metadata["preset"]
    pretrained_class = models.task_class(metadata["class"])
    if name is None:  # an imported checkpoint
        if pretrained_class.backbone_class is not models.BertBackbone:
            raise ValueError(f"{pretrained_dir} holds a {pretrained_class.__name__}; fine-tuning needs a BERT.")
        task_class, defaults = models.BertClassifier, {}
    else:
        spec = zoo.preset(name)
        if spec.pretraining_class is None or pretrained_class is not spec.pretraining_class:
            raise ValueError(f"{pretrained_dir} holds no masked-LM pretraining (see `keras-attn pretrain`).")
        task_class, defaults = spec.task_class, zoo.config(name)
    task_class.check_data(task, name)  # before reading the task's vocabulary
    if task.vocabulary.tokens != pretrained_tokenizer(pretrained_dir).tokens:
        raise ValueError("Tokenize the fine-tuning task with the pretraining vocabulary (`pretrained_tokenizer`).")
    # A pretraining run records the preset's settings; an import, its own model's (the backbone's are kept).
    recorded = metadata["config"] if name else task_class.split_settings(metadata["config"])[0]
    config = {**task_class.settings(), **defaults, **recorded, "pooler": True, "num_classes": task.num_classes}
    if task.max_length > config["max_length"]:
        raise ValueError(f"The task's rows ({task.max_length}) exceed the pretrained max_length ({config['max_length']}).")
    if random_init:
        model = task_class.from_settings(**config)
    else:
        backbone = with_pooler(run_directory.load_model(pretrained_dir).backbone)
        model = task_class(backbone, **task_class.split_settings(config)[1])
    overrides = {key: value for key, value in config.items() if defaults.get(key) != value}
    report = {"pretrained": None if random_init else os.path.abspath(pretrained_dir)}
    return fit(model, name, task, out_dir, overrides, report=report, **fit_args)


def with_pooler(backbone):
    """`backbone` itself if it has its pooler; otherwise a copy with a new
    (freshly initialized) one, as `transformers` does for a classifier over a
    checkpoint saved without it."""
    if backbone.get_config()["pooler"]:
        return backbone
    copy = type(backbone).from_config({**backbone.get_config(), "pooler": True})
    weights = {variable.path: variable for variable in backbone.weights}
    for variable in copy.weights:
        if variable.path in weights:
            variable.assign(weights[variable.path])
    return copy


def evaluate(model, task, split="test", batch_size=64, limit=None, beam_size=None):
    """The model's standard scores on a task split (accuracy; exact match and BLEU)."""
    return models.check(model).evaluate_task(task, split, batch_size, limit=limit, beam_size=beam_size)
