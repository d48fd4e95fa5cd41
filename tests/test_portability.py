"""The core runs without TensorFlow, and a model trained under JAX loads under TensorFlow."""

import json

import keras_attn
import numpy as np
import pytest

from tests.conftest import EXPORTED, run_python

TRAIN_UNDER_JAX = r"""
import json, sys
import numpy as np
import keras_attn, keras
from keras_attn import training, zoo
from tests.conftest import EXPORTED
from tests.test_zoo import SMALL, example_inputs
assert keras.backend.backend() == "jax"
out = sys.argv[1] if len(sys.argv) > 1 else OUT
rng = np.random.default_rng(0)
report = {}
for name in [n for n in EXPORTED if n in zoo.names()]:  # every distinct model at test widths
    model = zoo.build(name, **SMALL[name])
    x = example_inputs(name, rng, model)
    y = x["decoder_token_ids"] if zoo.preset(name).task_class.task_type == "translation" else np.array([0, 1])
    training.compile_model(model)
    history = model.fit(model.call_inputs(x), y, epochs=1, verbose=0)
    model.save(f"{out}/{name}.keras")
    np.savez(f"{out}/{name}.npz", output=np.asarray(model.predict(model.call_inputs(x), verbose=0)), **x)
    report[name] = float(history.history["loss"][0])
print(json.dumps(report))
"""


@pytest.mark.tensorflow
def test_core_trains_under_jax_without_tensorflow_and_loads_under_tensorflow(tmp_path):
    code = f"OUT = {str(tmp_path)!r}\n" + TRAIN_UNDER_JAX
    losses = json.loads(run_python(code, "jax", block_tensorflow=True).strip().splitlines()[-1])
    assert sorted(losses) == sorted(n for n in EXPORTED if n in keras_attn.zoo.names())
    assert all(np.isfinite(v) for v in losses.values())
    for name in losses:
        arrays = dict(np.load(tmp_path / f"{name}.npz"))
        expected = arrays.pop("output")
        model = keras_attn.load_model(tmp_path / f"{name}.keras")
        got = np.asarray(model.predict(model.call_inputs(arrays), verbose=0))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.own_process
def test_everything_outside_the_tensorflow_only_modules_imports_without_tensorflow():
    out = run_python(
        "import importlib, pkgutil, keras_attn\n"
        "names = [m.name for m in pkgutil.walk_packages(keras_attn.__path__, 'keras_attn.')]\n"
        "core = [n for n in names if not n.startswith(keras_attn.TENSORFLOW_ONLY)]\n"
        "for name in core: importlib.import_module(name)\n"
        "print(len(core), sorted(set(names) - set(core)))\n"
        "print(sys.modules.get('tensorflow') is not None)",
        "jax",
        block_tensorflow=True,
    )
    count, tensorflow_only = out.strip().splitlines()[-2].split(" ", 1)
    assert int(count) > 30 and "keras_attn.export.exporter" in tensorflow_only
    assert out.strip().splitlines()[-1] == "False"


@pytest.mark.own_process
def test_every_submodule_the_readme_names_is_reachable_after_import():
    import re
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    named = sorted(set(re.findall(r"keras_attn(?:\.[A-Za-z_0-9]+)+", readme)))
    assert len(named) > 10
    code = "import keras_attn, functools\n" + "".join(
        f"functools.reduce(getattr, {name.split('.')[1:]!r}, keras_attn)\n" for name in named
    )
    run_python(code, "tensorflow")
