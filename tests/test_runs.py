"""Runs are whole, reproducible and refuse bad data before writing anything."""

import json

import numpy as np
import pytest

import keras_attn
from keras_attn import cli, run_directory, training
from keras_attn.data import tasks

SMALL_RUN = ["--examples", "300", "--epochs", "1", "--set", "hidden_units=8"]


def test_same_command_same_weights(tmp_path):
    command = ["train", "transformer-classifier", "--examples", "300", "--epochs", "1"]
    for run in ("a", "b"):
        assert cli.main([*command, "--seed", "7", "--out", str(tmp_path / run)]) == 0
    assert cli.main([*command, "--seed", "8", "--out", str(tmp_path / "c")]) == 0
    weights = {run: keras_attn.load_model(tmp_path / run / "model.keras").get_weights() for run in "abc"}
    assert all(np.array_equal(a, b) for a, b in zip(weights["a"], weights["b"]))
    assert not all(np.array_equal(a, c) for a, c in zip(weights["a"], weights["c"]))


def test_a_run_needs_overwrite_and_a_failed_run_leaves_the_previous_one(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert cli.main(["train", "transformer-classifier", *SMALL_RUN, "--out", str(out)]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()}
    assert cli.main(["train", "transformer-classifier", *SMALL_RUN, "--out", str(out)]) == 2
    assert "is not empty; pass --overwrite" in capsys.readouterr().err

    def broken(*args, **kwargs):
        raise RuntimeError("the machine ran out of patience")

    monkeypatch.setattr(training.recipes, "_fit_best_epoch", broken)
    assert cli.main(["train", "transformer-classifier", *SMALL_RUN, "--seed", "3", "--overwrite", "--out", str(out)]) == 2
    assert {path.name: path.read_bytes() for path in out.iterdir() if path.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder left
    monkeypatch.undo()
    assert cli.main(["train", "transformer-classifier", *SMALL_RUN, "--seed", "3", "--overwrite", "--out", str(out)]) == 0
    assert (out / "model.keras").read_bytes() != before["model.keras"]


@pytest.mark.parametrize("argv,message", [
    (["--epochs", "0"], "`epochs` must be positive"),
    (["--examples", "0"], "--examples must be positive"),
    (["--learning-rate", "-1"], "`learning_rate` must be positive"),
    (["--set", "source_vocabulary_size=5"], "`source_vocabulary_size`=5 does not fit the task 'dates', which needs 48"),
    (["--eval-examples", "-1"], "`eval_limit` must be an integer >= 0, got -1"),
    (["--beam", "0"], "`beam_size` must be an integer in [1, "),  # not greedy in disguise
    (["--beam", "1000000"], "at most the target vocabulary"),
    (["--examples", "5"], "`num_examples` must be an integer in [10, 1000000], got 5"),
    (["--examples", "1000000000"], "`num_examples` must be an integer in [10, 1000000], got 1000000000"),
])
def test_bad_training_arguments_are_refused_before_anything_is_written(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    assert cli.main(["train", "bahdanau", *(["--examples", "100"] if "--examples" not in argv else []), *argv,
                     "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_task_files_are_checked(tmp_path, capsys):
    task = tasks.sentiment(200, seed=1)
    ids, labels = task.splits["train"]
    task.splits["train"] = (ids, np.where(labels == 1, 2, labels).astype("int32"))  # a label outside [0, 2)
    tasks.save(task, tmp_path / "bad_labels.npz")
    with np.load(tmp_path / "bad_labels.npz") as stored:
        np.savez(tmp_path / "incomplete.npz", **{k: stored[k] for k in stored.files if k != "test_inputs"})
    assert cli.main(["train", "transformer-classifier", "--task-file", str(tmp_path / "bad_labels.npz"),
                     "--out", str(tmp_path / "a")]) == 2
    assert "labels must be class ids in [0, 2)" in capsys.readouterr().err
    assert cli.main(["train", "transformer-classifier", "--task-file", str(tmp_path / "incomplete.npz"),
                     "--out", str(tmp_path / "b")]) == 2
    assert "not a keras-attn task file (missing test_inputs)" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_run_keeps_its_held_out_examples_and_evaluate_rescores_them(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "transformer-classifier", "--examples", "400", "--epochs", "1", "--seed", "4",
                     "--out", str(out)]) == 0
    task = tasks.sentiment(400, seed=4)
    held_out = run_directory.load_held_out(out)
    np.testing.assert_array_equal(held_out.splits["test"][0], task.splits["test"][0][:64])
    assert held_out.examples["test"] == [(text, str(label)) for text, label in task.examples["test"][:64]]
    train_texts = {text for text, _ in task.examples["train"]}
    assert not train_texts & {text for text, _ in held_out.examples["test"]}
    capsys.readouterr()
    assert cli.main(["evaluate", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"test_accuracy": report["test_accuracy"]}


def test_a_run_of_an_older_version_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text(json.dumps({"preset": "bahdanau", "family": "seq2seq", "task": "dates"}))
    assert cli.main(["translate", str(tmp_path), "9 may 2018"]) == 2
    assert "is of run format 1, written by another keras-attn" in capsys.readouterr().err
    # A run of layout 1 (the model kind, no format) is refused by every command that reads runs.
    (tmp_path / "config.json").write_text(json.dumps({"preset": "bahdanau", "kind": "bahdanau", "task": "dates",
                                                      "tokenization": "characters", "lengths": {}, "config": {}}))
    for argv in (["evaluate", str(tmp_path)], ["finetune", str(tmp_path), "--out", str(tmp_path / "f")]):
        assert cli.main(argv) == 2
        assert "train the run again" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"format": 2, "preset": "bahdanau"}))
    assert cli.main(["translate", str(tmp_path), "9 may 2018"]) == 2
    assert "config.json: the top level: 'class' is a required property" in capsys.readouterr().err


def test_a_run_written_to_a_file_logs_one_line_per_epoch_and_a_json_object_per_epoch(tmp_path, capsys):
    log = tmp_path / "epochs.jsonl"
    out = tmp_path / "run"
    assert cli.main(["train", "transformer-classifier", "--examples", "300", "--epochs", "2", "--set",
                     "hidden_units=8", "--log-json", str(log), "--out", str(out)]) == 0
    printed = capsys.readouterr().out  # not a terminal: no redrawn progress bar
    assert "\r" not in printed and "\x1b" not in printed and "━" not in printed
    assert len([line for line in printed.splitlines() if " - loss: " in line]) == 2
    records = [json.loads(line) for line in log.read_text().splitlines()]
    history = json.loads((out / "report.json").read_text())["history"]
    assert [record["epoch"] for record in records] == [1, 2]
    assert [record["val_loss"] for record in records] == history["val_loss"]
    assert all(record["examples_per_second"] > 0 and record["seconds"] > 0 for record in records)


def test_a_run_config_is_read_only_in_its_layout(tmp_path):
    config = {"format": 2, "preset": "bahdanau", "class": "keras_attn>BahdanauTranslator", "task": "dates",
              "tokenization": "characters", "lengths": {"max_source_length": 9}, "config": {}, "data": None}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert run_directory.read_config(tmp_path)["data"] is None  # a task built in code records no origin
    config["data"] = {"builtin": "dates", "examples": "many", "seed": 0}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="config.json: data.examples: 'many' is not of type 'integer', 'null'"):
        run_directory.read_config(tmp_path)
    config["data"], config["tokenization"] = None, "bytes"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="tokenization: 'bytes' is none of"):
        run_directory.read_config(tmp_path)
