"""The core runs without TensorFlow, and a model trained under JAX loads under TensorFlow."""

import json

import keras
import keras_attn
import numpy as np
import pytest

from tests.conftest import run_python

TRAIN_UNDER_JAX = r"""
import json, sys
import numpy as np
import keras_attn, keras
from keras_attn import training, zoo
from tests.test_zoo import SMALL, example_inputs
assert keras.backend.backend() == "jax"
out = sys.argv[1] if len(sys.argv) > 1 else OUT
rng = np.random.default_rng(0)
report = {}
for name in zoo.names():
    model = zoo.build(name, **SMALL[name])
    x = example_inputs(name, rng)
    family = zoo.preset(name).family
    if family == "seq2seq":
        y = np.maximum(x["decoder_token_ids"], 0)
    else:
        y = np.array([0, 1])
    training.compile_model(model, family)
    history = model.fit(x, y, epochs=1, verbose=0)
    model.save(f"{out}/{name}.keras")
    np.savez(f"{out}/{name}.npz", output=np.asarray(model.predict(x, verbose=0)), **(x if isinstance(x, dict) else {"ids": x}))
    report[name] = float(history.history["loss"][0])
print(json.dumps(report))
"""


@pytest.mark.tensorflow
def test_core_trains_under_jax_without_tensorflow_and_loads_under_tensorflow(tmp_path):
    code = f"OUT = {str(tmp_path)!r}\n" + TRAIN_UNDER_JAX
    losses = json.loads(run_python(code, "jax", block_tensorflow=True).strip().splitlines()[-1])
    assert sorted(losses) == sorted(__import__("keras_attn").zoo.names())
    assert all(np.isfinite(v) for v in losses.values())
    for name in losses:
        arrays = dict(np.load(tmp_path / f"{name}.npz"))
        expected = arrays.pop("output")
        inputs = arrays.get("ids", arrays)
        model = keras_attn.load_model(tmp_path / f"{name}.keras")
        got = np.asarray(model.predict(inputs, verbose=0))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_core_modules_import_without_tensorflow():
    out = run_python(
        "import keras_attn.zoo, keras_attn.decoding, keras_attn.training, keras_attn.layers, keras_attn.tasks\n"
        "import keras_attn.search, keras_attn.data, keras_attn.wordpiece, keras_attn.pretraining\n"
        "print('tensorflow' in sys.modules and sys.modules['tensorflow'] is not None)",
        "jax",
        block_tensorflow=True,
    )
    assert out.strip() == "False"
