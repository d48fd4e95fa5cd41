"""Runs that continue where they stopped: `train`, `pretrain` and `finetune`
with `resume=True` (`--resume`).

While a run trains, `TrainingCheckpoint` keeps its state in a folder beside
the run directory (`.keras-attn-resume-NAME`, so that a killed run's staging
folder can go and the state stays): every `every_steps` batches and at every
epoch's end it writes the weights with the optimizer's state (Keras's own
`save_weights` file), the other model variables (the dropout layers' seed
states, which `save_weights` leaves out) and the metrics of the epoch so far,
then `state.json` naming them: epoch, batch, history, the best validation
loss and the recipe. The epoch of lowest validation loss is kept there as
`best.keras`. Each file takes its place only once complete and `state.json`
last, so a run killed at any moment (SIGKILL included) leaves the previous
checkpoint whole and loses at most `every_steps` batches. A finished run
moves the folder into itself (`resume/`), so it can be given more epochs.

Resuming rebuilds the model, loads the checkpoint and starts the data at
the same epoch and batch: the batches and the masking are functions of the
seed, the epoch and the batch index (`LengthBucketedBatches.start_at`), so
the resumed run computes what the uninterrupted one would. Keras's
`BackupAndRestore` is not used because it restarts an interrupted epoch
from its first batch, writes its two files in place one after the other,
and does not keep the dropout seeds: its resumed runs differ.

    model, report = train("transformer", task, "runs/t", epochs=5, checkpoint_every=100)
    # killed, or stopped by its time limit; then, the same call with:
    model, report = train("transformer", task, "runs/t", epochs=8, checkpoint_every=100, resume=True)
"""

import glob
import hashlib
import json
import os
import shutil

import keras
import numpy as np

from keras_attn import schema
from keras_attn.data.archives import read_arrays, write_arrays
from keras_attn.integrity import read_json, write_json

PREFIX = ".keras-attn-resume-"
FINISHED = "resume"  # the folder's name inside a finished run directory
STATE, BEST = "state.json", "best.keras"
STATE_FORMAT = 1

STATE_SCHEMA = {
    "type": "object",
    "required": ["format", "recipe", "schedule_steps", "epoch", "batch", "checkpoint", "history", "best",
                 "report"],
    "properties": {
        "format": {"const": STATE_FORMAT},
        "recipe": {"type": "object"},
        "schedule_steps": {"type": ["integer", "null"], "minimum": 1},
        "epoch": {"type": "integer", "minimum": 0},
        "batch": {"type": "integer", "minimum": 0},
        "checkpoint": {"type": ["string", "null"], "pattern": "^[0-9]+-[0-9]+$"},
        "history": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"}}},
        "best": {"type": ["number", "null"]},
        "report": {"type": "object"},
    },
}


class NothingToResume(FileNotFoundError):
    """`resume=True` for a run directory with no checkpoint."""


def data_fingerprint(*batches):
    """A digest of the arrays `LengthBucketedBatches` draw from: a resumed
    run must train on the data the checkpoint was trained on."""
    digest = hashlib.sha256()
    for dataset in batches:
        for part in (dataset.x, dataset.y):
            for key, array in sorted(part.items()) if isinstance(part, dict) else [("", part)]:
                if array is not None:
                    array = np.ascontiguousarray(array)
                    digest.update(f"{key}{array.dtype}{array.shape}".encode())
                    digest.update(array.tobytes())
    return digest.hexdigest()


def state_folder(out_dir):
    """Where a run into `out_dir` keeps its state while it trains."""
    out_dir = os.path.abspath(out_dir)
    return os.path.join(os.path.dirname(out_dir), PREFIX + os.path.basename(out_dir))


def saved_state(out_dir):
    """`(folder, state)` of the checkpoint a run into `out_dir` can resume
    from: an interrupted run's (beside it) before a finished one's (inside
    it); `NothingToResume` if there is none."""
    for folder in (state_folder(out_dir), os.path.join(out_dir, FINISHED)):
        path = os.path.join(folder, STATE)
        if os.path.isfile(path):
            state = schema.check(read_json(path, "keras-attn training state"), STATE_SCHEMA, path)
            return folder, state
    raise NothingToResume(f"{out_dir} has no checkpoint to resume from (none beside it or in it); run it "
                          "without --resume.")


def check_fresh(out_dir, overwrite):
    """Refuses to start a new run over an interrupted one's checkpoint unless `overwrite`."""
    path = os.path.join(state_folder(out_dir), STATE)
    if os.path.isfile(path) and not overwrite:
        raise FileExistsError(f"{out_dir} has an interrupted run's checkpoint ({state_folder(out_dir)}): pass "
                              "--resume to continue it, or --overwrite to start anew.")


def check_recipe(state, recipe, epochs):
    """Refuses to resume with another recipe than the checkpoint's (only the
    number of epochs may grow) or with no epoch left to train."""
    recorded, recipe = state["recipe"], json.loads(json.dumps(recipe))
    for key in sorted(set(recorded) | set(recipe)):
        if recorded.get(key) != recipe.get(key):
            what = "the data" if key == "data" else f"`{key}`"
            raise ValueError(f"--resume continues the run as it was started: {what} differs from the checkpoint's "
                             f"({_shown(recipe.get(key))} against {_shown(recorded.get(key))}).")
    if state["epoch"] >= epochs:
        raise ValueError(f"The checkpoint has trained {state['epoch']} epoch(s); pass a larger `epochs` than that "
                         "to resume it.")


def _shown(value):
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def new_state(recipe, report, schedule_steps=None):
    """The state of a run not yet trained: its `recipe` (what a resumed run
    must repeat), its report so far and the steps its learning-rate schedule
    was set for (kept when a resumed run is given more epochs)."""
    recipe = json.loads(json.dumps(recipe))  # as state.json will read it back
    return {"format": STATE_FORMAT, "recipe": recipe, "schedule_steps": schedule_steps, "epoch": 0, "batch": 0,
            "checkpoint": None, "history": {}, "best": None, "report": report}


def open_folder(out_dir, source=None):
    """The folder a run into `out_dir` keeps its state in: the interrupted
    run's own, a copy of `source` (a finished run's: it stays as it was until
    the new run replaces it), or a new one. Call inside `staging.staged`,
    which holds `out_dir`'s lock."""
    folder = state_folder(out_dir)
    if source is None or os.path.abspath(source) != folder:
        shutil.rmtree(folder, ignore_errors=True)  # a fresh run's (check_fresh allowed it) or an older copy
    if source is not None and os.path.abspath(source) != folder:
        shutil.copytree(source, folder)
    os.makedirs(folder, exist_ok=True)
    return folder


def move_into(out_dir, work_dir):
    """Moves the state into the staging folder `work_dir` that becomes
    `out_dir`: the last step of a run, so that a failure before it leaves the
    state where `--resume` finds it."""
    os.rename(state_folder(out_dir), os.path.join(work_dir, FINISHED))


def restore(model, folder, state, batches):
    """Loads the checkpoint `state` names into `model` (compiled, with the
    architecture the checkpoint was written from; `batches`, its training
    data)."""
    if state["checkpoint"] is None:
        return
    tag = state["checkpoint"]
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    if state["batch"]:
        # The TensorFlow backend creates the compiled metrics' variables at the first step; the interrupted
        # epoch's metrics are restored into them (`TrainingCheckpoint`). An evaluation step changes no weight.
        model.test_on_batch(*batches.batch(0))
    model.load_weights(os.path.join(folder, f"{tag}.weights.h5"))
    arrays = read_arrays(os.path.join(folder, f"{tag}.npz"), "keras-attn training checkpoint")
    variables = model.non_trainable_variables
    if sum(key.startswith("variable") for key in arrays) != len(variables):
        raise ValueError(f"{folder}: the checkpoint's variables do not match the model's.")
    for index, variable in enumerate(variables):
        variable.assign(arrays[f"variable{index}"])


class TrainingCheckpoint(keras.callbacks.Callback):
    """Keeps the training state of a `fit` over `LengthBucketedBatches` in
    `folder` (see the module's docstring), and the best epoch by validation
    loss in `folder/best.keras`.

    Args:
        folder: where the state is written.
        batches: the training batches (their epoch length).
        state: the state to continue (`new_state`, or `saved_state`'s).
        every_steps: batches between two checkpoints inside an epoch;
            0 writes one at each epoch's end only.
        time_limit: the run's `TimeLimit`, if any (listed before this
            callback): the batch it stops at is checkpointed at once, while
            the metrics are still the epoch's (validation reuses them).

    `history` is every complete epoch's logs; `partial` the logs of an epoch
    a time limit ended early (validated, but not counted as trained).

    Example:
    >>> import keras, numpy as np, tempfile
    >>> from keras_attn.data.batching import LengthBucketedBatches
    >>> batches = LengthBucketedBatches(np.ones((8, 3), "int32"), np.ones((8, 1)), batch_size=2)
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> checkpoint = TrainingCheckpoint(tempfile.mkdtemp(), batches, new_state({}, {}), every_steps=3)
    >>> history = model.fit(batches, epochs=2, validation_data=batches, verbose=0, callbacks=[checkpoint])
    >>> checkpoint.state["epoch"], checkpoint.state["batch"], len(checkpoint.state["history"]["loss"])
    (2, 0, 2)
    """

    def __init__(self, folder, batches, state, every_steps=0, time_limit=None):
        super().__init__()
        if isinstance(every_steps, bool) or not isinstance(every_steps, int) or every_steps < 0:
            raise ValueError(f"`every_steps` must be a non-negative integer, got {every_steps!r}.")
        self.folder, self.batches, self.state, self.every_steps = folder, batches, state, every_steps
        self.time_limit = time_limit
        self.partial = None
        self._metrics = self._saved_metrics()

    def _saved_metrics(self):
        if not self.state["batch"]:
            return None
        arrays = read_arrays(os.path.join(self.folder, f"{self.state['checkpoint']}.npz"), "keras-attn checkpoint")
        return [arrays[key] for key in sorted((k for k in arrays if k.startswith("metric")), key=lambda k: int(k[6:]))]

    @property
    def epoch_length(self):
        return len(self.batches.batches)

    def on_epoch_begin(self, epoch, logs=None):
        self.done = self.state["batch"] if epoch == self.state["epoch"] else 0
        if self._metrics is not None:  # the interrupted epoch's metrics so far, which Keras has just reset
            if len(self.model.metrics_variables) != len(self._metrics):
                raise ValueError(f"{self.folder}: the checkpoint's metrics do not match the model's.")
            for variable, value in zip(self.model.metrics_variables, self._metrics):
                variable.assign(value)
            self._metrics = None

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done == self.epoch_length:
            return  # the epoch's end writes its checkpoint
        due = self.every_steps and self.done % self.every_steps == 0
        if due or (self.time_limit is not None and self.time_limit.stopped):
            self._save(self.state["epoch"], self.done)

    def on_epoch_end(self, epoch, logs=None):
        logs = {name: float(value) for name, value in (logs or {}).items()}
        if self.done < self.epoch_length:  # a time limit ended it (and it was checkpointed): resume from there
            self.partial = logs
            return
        for name, value in logs.items():
            self.state["history"].setdefault(name, []).append(value)
        if "val_loss" in logs and (self.state["best"] is None or logs["val_loss"] < self.state["best"]):
            self._write(BEST, lambda path: self.model.save(path))
            self.state["best"] = logs["val_loss"]
        self._save(epoch + 1, 0)

    def _save(self, epoch, batch):
        tag = f"{epoch:05d}-{batch:07d}"
        model = self.model
        self._write(f"{tag}.weights.h5", lambda path: model.save_weights(path))
        arrays = {f"variable{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.non_trainable_variables)}
        arrays.update({f"metric{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.metrics_variables)})
        write_arrays(os.path.join(self.folder, f"{tag}.npz"), arrays)
        self.state.update(epoch=epoch, batch=batch, checkpoint=tag)
        self._write(STATE, lambda path: write_json(path, self.state))
        for path in glob.glob(os.path.join(self.folder, "*-*.*")):  # the previous checkpoint's files
            if not os.path.basename(path).startswith(tag):
                os.remove(path)

    def _write(self, name, save):
        """`save(path)` to a file that takes `name`'s place once complete."""
        final = os.path.join(self.folder, name)
        partial = os.path.join(self.folder, f".partial.{name}")  # the suffix Keras's savers check is kept
        try:
            save(partial)
            os.replace(partial, final)
        finally:
            if os.path.exists(partial):
                os.remove(partial)
