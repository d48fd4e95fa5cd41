"""Data-parallel training over several processes (`keras-attn train --processes N`):
two JAX processes on 127.0.0.1 train the model one process trains on the
same global batches; each feeds its own rows; what they cannot agree on is
refused."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_attn import cli
from keras_attn.data.batching import LengthBucketedBatches
from keras_attn.data.masked_lm import MaskedLMDataset
from keras_attn.training import distribution, recipes

SMALL = ["--set", "num_layers=1", "--set", "hidden_dim=32", "--set", "num_heads=2", "--set", "intermediate_dim=64"]


def _keras_attn(args, timeout=600):
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "keras_attn.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _train(out_dir, *extra):
    # 200 examples: 160 training rows in batches of 8, 20 steps; dropout stays on (0.1).
    result = _keras_attn(["train", "transformer", "--task", "dates", "--examples", "200", "--epochs", "1",
                          "--batch-size", "8", "--checkpoint-every", "7", "--eval-examples", "0", *SMALL,
                          "--out", str(out_dir), *extra])
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.own_process
def test_two_processes_train_the_one_process_model(tmp_path):
    _train(tmp_path / "one")
    two = _train(tmp_path / "two", "--processes", "2")
    assert "data-parallel over 2 devices of 2 processes" in two.stdout
    assert sorted(os.listdir(tmp_path)) == ["one", "two"]  # process 1 wrote nothing beside the run
    code = r"""
import json, sys
import numpy as np
from keras_attn import run_directory
one, two = (run_directory.load_model(path) for path in sys.argv[1:])
weights = {}
for a, b in zip(one.weights, two.weights, strict=True):
    weights[a.path] = float(np.abs(np.asarray(a) - np.asarray(b)).max())
inputs, _ = one.fit_inputs(run_directory.load_held_out(sys.argv[1]), "test")
outputs = float(np.abs(np.asarray(one.predict_on_batch(inputs)) - np.asarray(two.predict_on_batch(inputs))).max())
print(json.dumps({"weights": weights, "outputs": outputs}))
"""
    compared = subprocess.run([sys.executable, "-c", code, str(tmp_path / "one"), str(tmp_path / "two")],
                              env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True, timeout=300)
    assert compared.returncode == 0, compared.stderr[-3000:]
    differences = json.loads(compared.stdout.strip().splitlines()[-1])
    # An attention key's bias shifts every score of a query alike, so softmax cancels it: its
    # gradient is rounding noise, which Adam scales up to steps of the learning rate, in
    # any run. It changes no output; every other weight has a real gradient.
    noise = {path for path in differences["weights"] if path.endswith("/key/bias")}
    assert noise, sorted(differences["weights"])
    assert max(v for path, v in differences["weights"].items() if path not in noise) <= 1e-5, differences
    assert differences["outputs"] <= 1e-5, differences
    histories = [json.loads((tmp_path / run / "report.json").read_text())["history"] for run in ("one", "two")]
    assert histories[0].keys() == histories[1].keys() and len(histories[0]["loss"]) == 1
    for key in histories[0]:
        assert np.allclose(histories[0][key], histories[1][key], rtol=0, atol=1e-5), (key, histories)


@pytest.mark.own_process
def test_a_process_that_fails_fails_the_command(tmp_path):
    result = _keras_attn(["train", "transformer", "--task", "dates", "--examples", "50", "--processes", "2",
                          "--set", "no_such_setting=1", "--out", str(tmp_path / "run")], timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "no_such_setting" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "run").exists()


def test_processes_need_the_jax_backend_and_a_count(tmp_path, capsys):
    if keras.backend.backend() == "jax":
        pytest.skip("the TensorFlow pass shows the backend refusal")
    assert cli.main(["train", "transformer", "--processes", "2", "--out", str(tmp_path / "run")]) == 2
    assert "--processes runs on the JAX backend" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        cli.main(["train", "transformer", "--processes", "0", "--out", str(tmp_path / "run")])
    assert refused.value.code == 2 and "must be a positive integer, got '0'" in capsys.readouterr().err


def test_joining_needs_every_variable(monkeypatch):
    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "127.0.0.1:1234")
    monkeypatch.delenv("KERAS_DISTRIBUTION_NUM_PROCESSES", raising=False)
    monkeypatch.delenv("KERAS_DISTRIBUTION_PROCESS_ID", raising=False)
    assert distribution.started_as_process()
    with pytest.raises(ValueError, match="missing: KERAS_DISTRIBUTION_NUM_PROCESSES, KERAS_DISTRIBUTION_PROCESS_ID"):
        distribution.initialize_processes()


@pytest.mark.parametrize("refused", [{"resume": True}, {"time_limit": 60}])
def test_what_each_process_would_decide_alone_is_refused(monkeypatch, tmp_path, refused):
    monkeypatch.setattr(distribution, "process_shard", lambda: (0, 2))
    arguments = {"resume": False, "time_limit": None, **refused}
    with pytest.raises(ValueError, match=f"`{next(iter(refused))}` is not supported over several processes"):
        recipes._continued_run(str(tmp_path / "run"), arguments["resume"], False, arguments["time_limit"])
    monkeypatch.setattr(distribution, "process_shard", lambda: (0, 1))
    recipes._continued_run(str(tmp_path / "run"), False, False, arguments["time_limit"])  # one process: fine


def _ragged(rng, rows, width):
    ids = rng.integers(4, 50, (rows, width))
    for row, length in enumerate(rng.integers(2, width + 1, rows)):
        ids[row, length:] = 0
    return ids.astype("int32")


@pytest.mark.parametrize("kind", ["seq2seq", "masked_lm"])
def test_the_shards_of_a_batch_make_up_the_batch(rng, kind):
    x, y = _ragged(rng, 70, 12), _ragged(rng, 70, 9)

    def batches(shard):
        if kind == "masked_lm":
            return MaskedLMDataset(x, 50, batch_size=8, seed=3, row_multiple=2, shard=shard)
        return LengthBucketedBatches({"source": x}, y, batch_size=8, seed=3, row_multiple=2, shard=shard)

    whole, first, second = batches((0, 1)), batches((0, 2)), batches((1, 2))
    for epoch in range(2):
        for dataset in (whole, first, second):
            dataset.start_at(epoch)
        assert len(whole) == len(first) == len(second) > 1
        for index in range(len(whole)):
            parts = [whole[index], first[index], second[index]]
            rows = len(np.asarray(_first_array(parts[0])))
            assert len(np.asarray(_first_array(parts[1]))) == rows // 2
            for complete, half, other in zip(*parts, strict=True):
                for key in (complete if isinstance(complete, dict) else [None]):
                    pick = (lambda part: part[key]) if key is not None else (lambda part: part)
                    np.testing.assert_array_equal(np.concatenate([pick(half), pick(other)]), pick(complete))
    assert not np.array_equal(_first_array(first[0]), _first_array(second[0]))  # the halves are not the same rows


def _first_array(batch):
    x = batch[0]
    return next(iter(x.values())) if isinstance(x, dict) else x


@pytest.mark.parametrize("shard", [(2, 2), (0, 3), (-1, 2), [0, 2], (0, 0)])
def test_a_shard_that_does_not_divide_the_batches_is_refused(shard):
    with pytest.raises(ValueError, match="`shard` must be"):
        LengthBucketedBatches(np.ones((8, 4), "int32"), batch_size=4, row_multiple=2, shard=shard)
