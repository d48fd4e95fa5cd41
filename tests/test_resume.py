"""Resuming a run (`keras_attn.training.resume`): a run interrupted at any
checkpoint and resumed ends with the weights and history of one that was
never interrupted; what cannot be resumed is refused by name."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import keras_attn
from keras_attn import cli, training
from keras_attn.data import tasks
from keras_attn.data.batching import LengthBucketedBatches
from keras_attn.tokenizers.vocabulary import RESERVED_TOKENS, Vocabulary
from keras_attn.training import resume

SMALL_TRANSFORMER = {"hidden_dim": 32, "num_layers": 1, "num_heads": 2, "intermediate_dim": 64, "dropout": 0.1}
TRANSLATOR_RUN = {"epochs": 2, "batch_size": 32, "overrides": SMALL_TRANSFORMER, "verbose": 0, "eval_limit": 0,
                  "checkpoint_every": 3}


class Interrupted(Exception):
    """Stands for a process killed right after a checkpoint."""


def _interrupt_after(monkeypatch, saves):
    save = resume.TrainingCheckpoint._save
    count = [0]

    def save_then_stop(self, epoch, batch):
        save(self, epoch, batch)
        count[0] += 1
        if count[0] == saves:
            raise Interrupted()

    monkeypatch.setattr(resume.TrainingCheckpoint, "_save", save_then_stop)


def _largest_difference(first, second):
    return max(float(np.max(np.abs(keras.ops.convert_to_numpy(a) - keras.ops.convert_to_numpy(b))))
               for a, b in zip(first.weights, second.weights, strict=True))


def _state(out_dir):
    with open(os.path.join(resume.state_folder(out_dir), resume.STATE)) as f:
        return json.load(f)


# The translator's tests share one uninterrupted run and one interrupted one, on one worker.
shares_runs = pytest.mark.xdist_group("resume")


@pytest.fixture(scope="module")
def dates():
    return tasks.load("dates", num_examples=400, seed=0)  # as `--task dates --examples 400` makes it


@pytest.fixture(scope="module")
def whole_translator_run(dates, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole") / "run"
    return out, *training.train("transformer", dates, out, **TRANSLATOR_RUN)


@pytest.fixture(scope="module")
def interrupted_translator_run(dates, tmp_path_factory):
    """The state folder of the run killed after its batch 6 (of 10 an epoch), kept as it was left."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    with pytest.MonkeyPatch.context() as patched:
        _interrupt_after(patched, saves=2)
        with pytest.raises(Interrupted):
            training.train("transformer", dates, out, **TRANSLATOR_RUN)
    assert not out.exists()
    return resume.state_folder(out)


def _interrupted_into(out, state_folder):
    shutil.copytree(state_folder, resume.state_folder(out))
    return out


@shares_runs
def test_a_translator_interrupted_mid_epoch_resumes_to_the_same_weights(dates, whole_translator_run,
                                                                      interrupted_translator_run, tmp_path,
                                                                      monkeypatch):
    _, whole, whole_report = whole_translator_run
    out = _interrupted_into(tmp_path / "run", interrupted_translator_run)
    assert (_state(out)["epoch"], _state(out)["batch"]) == (0, 6)
    resumed, report = training.train("transformer", dates, out, resume=True, **TRANSLATOR_RUN)
    assert report["resumed_from"] == {"epoch": 0, "batch": 6}
    assert _largest_difference(whole, resumed) <= 1e-6
    for key, values in whole_report["history"].items():  # the resumed epoch's metrics are whole-epoch ones
        np.testing.assert_allclose(report["history"][key], values, rtol=1e-6)
    assert sorted(os.listdir(out / resume.FINISHED)) == ["00002-0000000.npz", "00002-0000000.weights.h5",
                                                          resume.BEST, resume.STATE]
    assert not os.path.exists(resume.state_folder(out))


# The JAX pass (the GPU's backend) proves exact resumes above and for BERT; these check what does not
# depend on the backend, once.
backend_independent = pytest.mark.skipif(keras.backend.backend() == "jax",
                                         reason="checked in the TensorFlow pass; the JAX pass resumes exactly above")


@backend_independent
@shares_runs
def test_restarting_the_interrupted_epoch_from_its_first_batch_would_differ(dates, whole_translator_run,
                                                                          interrupted_translator_run, tmp_path,
                                                                          monkeypatch):
    """The check above fails where a resume is not exact: as Keras's
    `BackupAndRestore` does, this one starts the interrupted epoch again at
    its first batch."""
    _, whole, _ = whole_translator_run
    out = _interrupted_into(tmp_path / "restarted", interrupted_translator_run)
    start_at = LengthBucketedBatches.start_at
    monkeypatch.setattr(LengthBucketedBatches, "start_at", lambda self, epoch, batch=0: start_at(self, epoch, 0))
    restarted, _ = training.train("transformer", dates, out, resume=True, **TRANSLATOR_RUN)
    assert _largest_difference(whole, restarted) > 1e-4


def _pretraining_corpus(rows=96, width=24, words=40, seed=5):
    rng = np.random.default_rng(seed)
    vocabulary = Vocabulary(list(RESERVED_TOKENS) + [f"w{i}" for i in range(words)])
    cls = vocabulary.tokens.index("[CLS]")
    ids = rng.integers(len(RESERVED_TOKENS), len(vocabulary), (rows, width)).astype("int32")
    lengths = rng.integers(6, width + 1, rows)
    ids[np.arange(width)[None, :] >= lengths[:, None]] = 0
    ids[:, 0] = cls
    return vocabulary, ids[:80], ids[80:]


def test_bert_masked_lm_pretraining_interrupted_mid_epoch_resumes_to_the_same_weights(tmp_path, monkeypatch):
    vocabulary, train_ids, validation_ids = _pretraining_corpus()
    run = {"epochs": 2, "batch_size": 16, "verbose": 0, "checkpoint_every": 2,
           "overrides": {"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64}}
    whole, whole_report = training.pretrain("bert-tiny", train_ids, validation_ids, vocabulary, tmp_path / "whole",
                                            **run)
    out = tmp_path / "cut"
    with monkeypatch.context() as patched:
        _interrupt_after(patched, saves=4)  # epoch 0 ends after 5 batches: this is batch 2 of epoch 1
        with pytest.raises(Interrupted):
            training.pretrain("bert-tiny", train_ids, validation_ids, vocabulary, out, **run)
    assert (_state(out)["epoch"], _state(out)["batch"]) == (1, 2)
    resumed, report = training.pretrain("bert-tiny", train_ids, validation_ids, vocabulary, out, resume=True, **run)
    assert _largest_difference(whole, resumed) <= 1e-6
    np.testing.assert_allclose(report["history"]["loss"], whole_report["history"]["loss"], rtol=1e-6)


@backend_independent
def test_a_run_stopped_by_its_time_limit_resumes_and_takes_more_epochs(tmp_path):
    task = tasks.sentiment(300, seed=3)
    run = {"batch_size": 32, "overrides": {"hidden_units": 8}, "verbose": 0, "checkpoint_every": 2}
    _, whole_report = training.train("transformer-classifier", task, tmp_path / "whole", epochs=2, **run)
    out = tmp_path / "run"
    _, stopped = training.train("transformer-classifier", task, out, epochs=2, time_limit=0, **run)
    assert stopped["stopped_by_time_limit"] and len(stopped["history"]["loss"]) == 1  # the partial epoch, reported
    assert (out / resume.FINISHED / resume.STATE).exists() and (out / "model.keras").exists()
    _, report = training.train("transformer-classifier", task, out, epochs=3, resume=True, **run)
    assert report["resumed_from"] == {"epoch": 0, "batch": 1} and not report["stopped_by_time_limit"]
    # The learning-rate schedule stays the one the run started with: its first 2 epochs are the 2-epoch run's.
    assert len(report["history"]["loss"]) == 3
    for key, values in whole_report["history"].items():
        np.testing.assert_allclose(report["history"][key][:2], values, rtol=1e-6)


@shares_runs
def test_resume_refuses_what_it_cannot_continue(dates, whole_translator_run, interrupted_translator_run, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(resume.NothingToResume, match="no checkpoint to resume from"):
        training.train("transformer", dates, out, resume=True, **TRANSLATOR_RUN)
    _interrupted_into(out, interrupted_translator_run)
    with pytest.raises(FileExistsError, match="interrupted run's checkpoint .* pass --resume"):
        training.train("transformer", dates, out, **TRANSLATOR_RUN)
    with pytest.raises(ValueError, match="`batch_size` differs from the checkpoint's \\(16 against 32\\)"):
        training.train("transformer", dates, out, resume=True, **{**TRANSLATOR_RUN, "batch_size": 16})
    with pytest.raises(ValueError, match="the data differs"):
        training.train("transformer", tasks.dates(400, seed=2), out, resume=True, **TRANSLATOR_RUN)
    state_path = os.path.join(resume.state_folder(out), resume.STATE)
    state = _state(out)
    with open(state_path, "w") as f:
        json.dump({**state, "batch": "3"}, f)
    with pytest.raises(ValueError, match="state.json: batch: '3' is not of type 'integer'"):
        training.train("transformer", dates, out, resume=True, **TRANSLATOR_RUN)
    with open(state_path, "w") as f:
        json.dump(state, f)
    os.remove(os.path.join(resume.state_folder(out), f"{state['checkpoint']}.npz"))
    with pytest.raises(FileNotFoundError, match="npz: no such file"):
        training.train("transformer", dates, out, resume=True, **TRANSLATOR_RUN)
    assert not out.exists()  # nothing was written
    finished = whole_translator_run[0]
    with pytest.raises(ValueError, match="has trained 2 epoch\\(s\\); pass a larger `epochs`"):
        training.train("transformer", dates, finished, resume=True, **TRANSLATOR_RUN)
    assert not os.path.exists(resume.state_folder(finished))


def _progress(state_path):
    with open(state_path) as f:
        state = json.load(f)
    return 100 * state["epoch"], state["batch"]


@pytest.mark.slow
@backend_independent
@shares_runs
def test_a_run_killed_with_sigkill_resumes_from_the_command_line(whole_translator_run, tmp_path):
    argv = ["train", "transformer", "--task", "dates", "--examples", "400", "--epochs", "2", "--batch-size", "32",
            "--eval-examples", "0", "--checkpoint-every", "2", *[f"--set={k}={v}" for k, v in SMALL_TRANSFORMER.items()]]
    out = tmp_path / "run"
    state_path = os.path.join(resume.state_folder(out), resume.STATE)
    process = subprocess.Popen([sys.executable, "-m", "keras_attn.cli", *argv, "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (os.path.exists(state_path) and sum(_progress(state_path)) >= 4):
            assert process.poll() is None and time.monotonic() < deadline, "the run ended before its checkpoint"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert not (out / "model.keras").exists()
    assert cli.main([*argv, "--out", str(out)]) == 2  # a new run would discard the checkpoint
    assert cli.main([*argv, "--resume", "--out", str(out)]) == 0
    resumed = keras_attn.load_model(out / "model.keras")
    assert _largest_difference(whole_translator_run[1], resumed) <= 1e-6


@pytest.mark.parametrize("steps", ["-1", "1.5", "often"])
def test_cli_refuses_a_checkpoint_interval_that_is_not_a_count(steps, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "transformer", "--checkpoint-every", steps, "--out", "x"])
    error = capsys.readouterr().err
    assert exit_.value.code == 2 and "argument --checkpoint-every: must be a non-negative integer" in error


@pytest.mark.parametrize("steps", [-1, 1.5, True])
def test_the_checkpoint_callback_refuses_an_interval_that_is_not_a_count(steps, tmp_path):
    batches = LengthBucketedBatches(np.ones((4, 2), "int32"), np.ones((4, 1)), batch_size=2)
    with pytest.raises(ValueError, match="`every_steps` must be a non-negative integer"):
        resume.TrainingCheckpoint(str(tmp_path), batches, resume.new_state({}, {}), every_steps=steps)
