"""Data-parallel training over two (simulated) devices follows the one-device trajectory."""

import json
import os

import pytest

from tests.conftest import run_python

TRAIN = r"""
import json, sys
import numpy as np, keras
from keras_attn import training, zoo
from keras_attn.data import tasks
from keras_attn.training import distribution
if PARALLEL:
    assert distribution.distribute_over_devices() == 2
    assert distribution.batch_multiple() == 2
keras.utils.set_random_seed(0)
task = tasks.dates(512, seed=0)
model = zoo.build("transformer", dropout=0.0, hidden_dim=32, num_layers=1, num_heads=2, intermediate_dim=64,
                  **training.recipes.task_overrides("transformer", task))
training.compile_model(model, learning_rate=1e-3)
x, y = task.model_inputs("train")
history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)
print(json.dumps(history.history["loss"]))
"""


@pytest.mark.own_process
def test_two_devices_give_the_one_device_loss_trajectory():
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    try:
        one = json.loads(run_python("PARALLEL = False\n" + TRAIN, "jax").strip().splitlines()[-1])
        two = json.loads(run_python("PARALLEL = True\n" + TRAIN, "jax").strip().splitlines()[-1])
    finally:
        del os.environ["XLA_FLAGS"]
    assert one[-1] < one[0]
    for a, b in zip(one, two):
        assert abs(a - b) <= 1e-4 * max(1.0, abs(a)), (one, two)


@pytest.mark.own_process
def test_cli_trains_and_scores_on_two_devices_with_uneven_sizes(tmp_path):
    # 401 examples: neither the splits nor their last batches divide by two.
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    try:
        run_python(
            "from keras_attn import cli\n"
            "assert cli.main(['train', 'transformer', '--distribute', '--examples', '401', '--epochs', '1',"
            " '--set', 'num_layers=1', '--set', 'hidden_dim=16', '--set', 'num_heads=2', '--set', 'intermediate_dim=32',"
            f" '--out', {str(tmp_path)!r}]) == 0\n",
            "jax",
        )
    finally:
        del os.environ["XLA_FLAGS"]
    report = json.loads((tmp_path / "report.json").read_text())
    # Every test row is scored once: evaluation pads its batches, then drops the padding rows.
    assert report["train_examples"] == 321 and len(report["history"]["loss"]) == 1
    assert (report["test_exact_match"] * 100) == pytest.approx(round(report["test_exact_match"] * 100), abs=1e-9)
