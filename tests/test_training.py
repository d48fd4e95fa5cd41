"""Training on plain `model.fit`, and the `keras-attn` command line."""

import json

import numpy as np
import pytest

import keras_attn
from keras_attn import cli, training
from keras_attn.data import tasks
from keras_attn.inference import decoding


@pytest.mark.slow
def test_bahdanau_learns_dates(tmp_path, capsys):
    task = tasks.dates(1500, seed=1)
    model, report = training.train(
        "bahdanau", task, tmp_path, epochs=3, batch_size=32,
        overrides={"embedding_dim": 32, "units": 64}, verbose=0,
    )
    losses = report["history"]["loss"]
    assert losses[-1] < 0.6 * losses[0]
    assert report["history"]["val_masked_accuracy"][-1] > 0.5
    for name in ("model.keras", "config.json", "report.json", "source_vocabulary.txt", "target_vocabulary.txt"):
        assert (tmp_path / name).exists()
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["config"]["units"] == 64 and config["config"]["target_vocabulary_size"] == len(task.target_vocabulary)
    assert keras_attn.tokenizers.Vocabulary.load(tmp_path / "source_vocabulary.txt").tokens == task.source_vocabulary.tokens

    # `keras-attn translate` on the saved directory gives the greedy decoding of the same text.
    text = task.examples["test"][0][0]
    expected = task.target_text(decoding.greedy_decode(model, task.splits["test"][0][:1]).tokens[0])
    plot = tmp_path / "attention.png"
    assert cli.main(["translate", str(tmp_path), text, "--plot", str(plot)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == expected
    assert plot.stat().st_size > 1000


@pytest.mark.slow
def test_bert_pretrains_then_finetunes(tmp_path):
    task = tasks.sentiment(800, seed=2)
    overrides = {"num_layers": 1, "hidden_dim": 32, "num_heads": 2, "intermediate_dim": 64}
    model, report = training.train(
        "bert-tiny", task, tmp_path, epochs=1, batch_size=16, pretrain_epochs=3, learning_rate=3e-3,
        overrides=overrides, verbose=0,
    )
    # Masked-LM loss per prediction, falling from the uniform guess over the vocabulary.
    losses = report["pretraining_loss"]
    assert losses[-1] < losses[0] - 0.05 and losses[0] < np.log(len(task.vocabulary)) + 0.1
    reloaded = keras_attn.load_model(tmp_path / "model.keras")
    assert training.evaluate(reloaded, task)["test_accuracy"] == report["test_accuracy"]
    ids = task.splits["test"][0][:4]
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids)}
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_train_refuses_a_task_of_the_wrong_kind(tmp_path):
    with pytest.raises(ValueError, match="needs a translation task"):
        training.train("transformer", tasks.sentiment(100), tmp_path)


def test_cli_list_and_describe(capsys):
    assert cli.main(["list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in keras_attn.zoo.names())
    assert cli.main(["describe", "transformer-base"]) == 0
    assert '"hidden_dim": 512' in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["describe", "gpt"], "Unknown model 'gpt'"),
        (["train", "bahdanau", "--task", "poetry", "--out", "x"], "Unknown task 'poetry'"),
        (["train", "bahdanau", "--set", "unit=3", "--examples", "50", "--out", "x"], "Unknown override(s) ['unit']"),
        (["train", "transformer", "--task", "sentiment", "--examples", "50", "--out", "x"], "needs a translation task"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("keras-attn: error:") and message in err and "\n" not in err
    assert not (tmp_path / "x").exists()  # nothing written


def test_cli_trains_a_classifier(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "transformer-classifier", "--examples", "400", "--epochs", "1", "--out", str(out)]
    assert cli.main(argv) == 0
    accuracy = json.loads((out / "report.json").read_text())["test_accuracy"]
    assert f"{{'test_accuracy': {accuracy}}}" in capsys.readouterr().out
    assert (out / "model.keras").exists() and (out / "source_vocabulary.txt").exists()


def test_a_time_limit_keeps_the_interrupted_epoch(tmp_path):
    task = tasks.sentiment(200, seed=3)
    _, report = training.train(
        "transformer-classifier", task, tmp_path, epochs=3, batch_size=16, verbose=0, time_limit=0
    )
    assert report["stopped_by_time_limit"] and len(report["history"]["val_loss"]) == 1
    assert (tmp_path / "model.keras").exists()


@pytest.mark.parametrize("minutes", ["0", "-5", "nan", "soon"])
def test_cli_refuses_a_time_limit_that_is_not_a_positive_duration(minutes, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "bahdanau", "--time-limit", minutes, "--out", "x"])
    assert exit_.value.code == 2 and "argument --time-limit" in capsys.readouterr().err
