"""Export every preset to SavedModel, TFLite and ONNX; prove parity in the real runtimes."""

import json
import os

import keras
import numpy as np
import pytest

import keras_attn
from keras_attn import runtime, zoo
from keras_attn.data import tasks
from keras_attn.inference import decoding
from keras_attn.export import exporter, parity
from keras_attn.export.kept_float import KeptFloat
from tests.conftest import EXPORTED, SEARCHED, pad_right, random_ids, run_python
from tests.test_zoo import SMALL

pytestmark = pytest.mark.tensorflow

def build(name, **extra):
    return zoo.build(name, **{**SMALL[name], **extra})


@pytest.mark.parametrize("name", EXPORTED)
def test_every_preset_exports_with_parity_in_every_runtime(exports, name):
    model, directory = exports[name]
    manifest = json.loads((directory / "manifest.json").read_text())
    generative = isinstance(model, keras_attn.models.GenerativeTask)
    roles = ({"forward", "prefill", "step"} | ({"greedy_search", "beam_search"} if name in SEARCHED else set())
             if generative else {"forward"})
    assert {(a["format"], a["role"]) for a in manifest["artifacts"]} == {
        (fmt, role) for fmt in ("saved_model", "tflite", "onnx") for role in roles
    }
    assert [a["path"] for a in manifest["assets"]] == ["model.keras"]
    for artifact in manifest["artifacts"]:
        path = directory / artifact["path"]
        assert artifact["size_bytes"] > 0 and len(artifact["sha256"]) == 64
        assert artifact["inputs"] and artifact["outputs"]
        if artifact["format"] == "tflite":
            assert b"Flex" not in path.read_bytes()  # builtin ops only
        if artifact["format"] == "onnx":
            assert artifact["opset"] == exporter.ONNX_OPSET
    assert set(manifest["versions"]) >= {"keras", "tensorflow", "tf2onnx"}

    report = parity.verify(directory, model)
    assert report["passed"], parity.format_table(report)
    cases = {row["case"] for row in report["rows"]}
    assert {"batch1", "mixed", "long"} <= cases
    if generative:  # each search, as one graph, gave the compiled Keras search's tokens
        searched = {(row["format"], row["role"]) for row in report["rows"] if row["case"] in ("greedy", "beam")}
        assert searched == {(fmt, role) for fmt in exporter.FORMATS for role in roles - {"forward", "prefill"}}
    for row in report["rows"]:
        assert row["case"] in ("integrity", "settings") or row["max_abs_error"] <= 1e-4, row
    assert all(row["max_abs_error"] <= 1e-4 for row in report["cross_format"])
    assert (directory / "parity.json").exists()


def test_dynamic_axes_are_dynamic_and_fixed_ones_recorded(exports):
    transformer = json.loads((exports["transformer"][1] / "manifest.json").read_text())
    forward = next(a for a in transformer["artifacts"] if a["role"] == "forward" and a["format"] == "onnx")
    assert all(spec["shape"] == [None, None] for spec in forward["inputs"])
    bahdanau = json.loads((exports["bahdanau"][1] / "manifest.json").read_text())
    encoder = next(a for a in bahdanau["artifacts"] if a["role"] == "prefill")
    assert encoder["inputs"][0]["shape"] == [None, 12] and bahdanau["lengths"]["max_source_length"] == 12


@pytest.mark.parametrize("name", ["bahdanau", "transformer"])
@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
@pytest.mark.parametrize("host_loop", [False, True], ids=["in_graph", "host_loop"])
def test_runtime_decoding_equals_keras(exports, name, fmt, host_loop, rng):
    model, directory = exports[name]
    source = random_ids(rng, (4, 9), 40, lengths=[9, 3, 6, 1])
    exported = runtime.ExportedModel(directory, format=fmt, host_loop=host_loop)
    greedy = exported.greedy(source, max_length=8)
    expected = decoding.greedy_decode(model, source, max_length=8)
    np.testing.assert_array_equal(greedy.tokens, expected.tokens)
    np.testing.assert_allclose(greedy.attention, expected.attention, atol=1e-5)
    beam = exported.beam(source, beam_size=3, max_length=8)
    expected_beam = decoding.beam_decode(model, source, beam_size=3, max_length=8)
    # An untrained model has near-ties between hypotheses: a row may pick the other of two
    # whose scores agree to float32 rounding, never a worse one.
    np.testing.assert_allclose(beam.scores, expected_beam.scores, atol=1e-5)
    same = (beam.tokens == expected_beam.tokens).all(axis=1)
    assert same.sum() >= len(same) - 1, (beam.tokens, expected_beam.tokens)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_the_runtime_runs_on_the_threads_it_is_given(exports, fmt, rng):
    model, directory = exports["transformer"]
    source = random_ids(rng, (2, 5), 40, lengths=[5, 2])
    exported = runtime.ExportedModel(directory, format=fmt, threads=1)
    np.testing.assert_array_equal(exported.greedy(source, max_length=6).tokens,
                                  decoding.greedy_decode(model, source, max_length=6).tokens)
    if fmt == "onnx":
        assert exported.runner("greedy_search").session.get_session_options().intra_op_num_threads == 1
    for threads in (0, 1.5, True):
        with pytest.raises(ValueError, match="`threads` must be a positive integer"):
            runtime.ExportedModel(directory, format=fmt, threads=threads)


def test_runtime_classifies_like_keras(exports, rng):
    model, directory = exports["transformer-classifier"]
    ids = random_ids(rng, (3, 8), 40, lengths=[8, 2, 5])
    logits = np.asarray(model(ids))
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for fmt in ("onnx", "tflite"):
        np.testing.assert_allclose(runtime.ExportedModel(directory, format=fmt).classify(ids), expected, atol=1e-5)


def test_runtime_needs_neither_tensorflow_nor_keras(exports, rng):
    _, directory = exports["transformer"]
    source = random_ids(rng, (2, 5), 40, lengths=[5, 2])
    code = (
        "import sys, numpy as np\n"
        "sys.modules['keras'] = None\n"
        "from keras_attn.runtime import ExportedModel\n"
        f"model = ExportedModel({str(directory)!r})\n"
        f"print(model.greedy(np.array({source.tolist()}), max_length=6).tokens.tolist())\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if sys.modules.get(m) is not None))\n"
    )
    lines = run_python(code, "jax", block_tensorflow=True).strip().splitlines()
    assert lines[-1] == "[]"
    model, _ = exports["transformer"]
    assert json.loads(lines[-2]) == decoding.greedy_decode(model, source, max_length=6).tokens.tolist()


@pytest.mark.slow
def test_quantized_artifacts_are_judged_and_int8_ignores_padding_and_batch(tmp_path, rng, capsys, monkeypatch):
    run = tmp_path / "run"
    assert keras_attn.cli.main(["train", "transformer-classifier", "--examples", "1500", "--epochs", "3",
                                "--out", str(run)]) == 0
    model = keras_attn.load_model(run / "model.keras")
    for quantize in ("fp16", "int8"):
        directory = tmp_path / quantize
        assert keras_attn.cli.main(["export", str(run / "model.keras"), "--out", str(directory),
                                    "--formats", "tflite", "onnx", "--quantize", quantize]) == 0
        manifest = json.loads((directory / "manifest.json").read_text())
        quantized = {(a["format"], a["quantization"]) for a in manifest["artifacts"]}
        assert ("tflite", quantize) in quantized and (("onnx", "int8") in quantized) == (quantize == "int8")
        report = parity.verify(directory, model)
        assert report["passed"], parity.format_table(report)
        judged = [r for r in report["rows"] if r["quantization"] == quantize and r["status"] != "info"]
        assert any(r["case"] == "real" for r in judged)  # the floor applies to the run's held-out examples
        assert all(r["argmax_agreement"] >= parity.QUANTIZED_AGREEMENT[quantize] for r in judged
                   if r["argmax_agreement"] is not None)

    # int8 ONNX and TFLite: a row gives the same logits alone, with more padding, and among other rows.
    ids = random_ids(rng, (4, 9), 40, lengths=[9, 3, 6, 2])
    ids[:, 0] = 4
    for runner in (runtime.OnnxRunner(str(tmp_path / "int8" / "forward_int8.onnx")),
                   runtime.LiteRTRunner(str(tmp_path / "int8" / "forward_int8.tflite"))):
        batch = runner({"token_ids": ids})["logits"]
        for row in range(4):
            alone = runner({"token_ids": ids[row : row + 1, : max(1, int((ids[row] != 0).sum()))]})["logits"]
            padded = runner({"token_ids": pad_right(ids[row : row + 1], 5)})["logits"]
            np.testing.assert_allclose(alone[0], batch[row], atol=1e-5)
            np.testing.assert_allclose(padded[0], batch[row], atol=1e-5)

    # The floor is enforced: an agreement no artifact can reach fails verify.
    monkeypatch.setitem(parity.QUANTIZED_AGREEMENT, "int8", 1.01)
    assert not parity.verify(tmp_path / "int8", model)["passed"]


@pytest.mark.slow
@pytest.mark.parametrize("name,wider", [("transformer", dict(hidden_dim=32, intermediate_dim=64)), ("bahdanau", dict(units=24))])
def test_int8_searches_store_their_loop_weights_in_int8_and_pass_verify(tmp_path, name, wider):
    import onnx

    keras.utils.set_random_seed(0)
    model = build(name, **wider)  # matrices of 1,024 weights and more
    directory = tmp_path / "export"
    exporter.export(model, directory, formats=("tflite", "onnx"), quantize="int8",
                    lengths={"max_source_length": 12, "max_target_length": 10})
    # What stays float32 is what the model keeps so (the recurrent decoder's matrices), in both
    # formats, in every piece that holds the decoder; the transformer keeps nothing.
    kept = KeptFloat(model.weights_kept_float())
    assert bool(kept) == (name == "bahdanau")
    for path in directory.glob("*_int8.*"):
        holds_decoder = name == "bahdanau" and not path.name.startswith("prefill")
        assert holds_decoder == any(kept.original(values) is not None for values in _float_matrices(path)), path.name

    def other_floats(path):
        return [values.shape for values in _float_matrices(path) if kept.original(values) is None]

    for role in ("greedy_search", "beam_search"):
        graph = onnx.load(str(directory / f"{role}_int8.onnx")).graph
        # What the loop's body computes with, its own weights (the transformer's decoder) or carried in
        # from outside (the recurrent decoder's), is int8 in the file, as in the step piece.
        floats = other_floats(directory / f"{role}_int8.onnx")
        step = onnx.load(str(directory / "step_int8.onnx")).graph
        assert list(exporter._subgraphs(graph)) and len(floats) <= len(other_floats(directory / "step_int8.onnx")), floats
        assert sum(t.data_type == onnx.TensorProto.INT8 for t in graph.initializer) >= sum(
            t.data_type == onnx.TensorProto.INT8 for t in step.initializer)
    # Judged as every int8 artifact is: ≥ 95% of the tokens of the Keras searches. (In a piece ONNX
    # Runtime fuses each dequantization and its MatMul into MatMulNBits; across a loop's body it
    # cannot, and computes in float32 on the rounded weights.)
    report = parity.verify(directory, model)
    assert report["passed"], parity.format_table(report)
    judged = {(row["format"], row["role"]) for row in report["rows"]
              if row["quantization"] == "int8" and row["case"] in ("greedy", "beam") and row["status"] == "pass"}
    assert judged == {(fmt, role) for fmt in ("tflite", "onnx") for role in ("step", "greedy_search", "beam_search")}


def _float_matrices(path):
    """The float32 constant matrices of ≥ `_MIN_QUANTIZED_SIZE` weights in an ONNX or TFLite file."""
    if path.suffix == ".onnx":
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(path)).graph
        tensors = [numpy_helper.to_array(t) for g in (graph, *exporter._subgraphs(graph)) for t in g.initializer]
    else:
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

        model = flatbuffer_utils.read_model(str(path))
        tensors = [np.frombuffer(model.buffers[t.buffer].data.tobytes(), np.float32).reshape(t.shape)
                   for g in model.subgraphs for t in g.tensors
                   if t.type == schema.TensorType.FLOAT32 and model.buffers[t.buffer].data is not None
                   and len(model.buffers[t.buffer].data)]
    return [t for t in tensors if t.dtype == np.float32 and t.ndim == 2 and t.size >= exporter._MIN_QUANTIZED_SIZE]


def test_kept_float_finds_a_weight_by_its_values_in_either_layout():
    weight = np.arange(12, dtype="float32").reshape(3, 4)
    kept = KeptFloat([weight])
    np.testing.assert_array_equal(kept.original(weight.T), weight.T)
    assert kept.original(weight + 0.4, tolerance=0.5) is not None
    assert kept.original(weight + 0.6, tolerance=0.5) is None  # further than half a step: another weight
    assert kept.original(weight[:, :3]) is None and not KeptFloat([])
    with pytest.raises(ValueError, match="matrices"):
        KeptFloat([np.zeros(5, "float32")])


def test_a_kept_weight_that_tflite_cannot_hold_in_float_is_refused(tmp_path, monkeypatch):
    # An embedding table is read by GATHER, whose int8 table cannot turn float32 in place.
    model = build("bahdanau", target_vocabulary_size=300)  # a table of 1,024 weights and more
    monkeypatch.setattr(type(model), "weights_kept_float",
                        lambda self: [np.asarray(self.backbone.decoder_embedding.embeddings)])
    with pytest.raises(RuntimeError, match="cannot keep the weight .* in float32 in TFLite"):
        exporter.export(model, tmp_path / "export", formats=("tflite",), quantize="int8", searches=False,
                        lengths={"max_source_length": 6, "max_target_length": 5})
    assert not (tmp_path / "export").exists()


def test_export_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        exporter.export(build("transformer-classifier"), tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    # The converter's own interpreter fails on the first piece, as tf2onnx does on an op it lacks.
    monkeypatch.setattr(exporter, "_ONNX_CHILD", "import sys; print('FAILED 0 ValueError: unsupported op'); sys.exit(1)")
    target = tmp_path / "out"
    with pytest.raises(RuntimeError, match=r"'forward' piece of 'transformer_classifier' to onnx.*unsupported op.*TransformerEncoderBlock"):
        exporter.export(build("transformer-classifier"), target)
    assert os.listdir(tmp_path) == []


def test_export_rejects_bad_arguments(tmp_path):
    model = build("transformer-classifier")
    with pytest.raises(ValueError, match="`formats`"):
        exporter.export(model, tmp_path / "a", formats=("coreml",))
    with pytest.raises(ValueError, match="`quantize`"):
        exporter.export(model, tmp_path / "b", quantize="int4")


def test_a_mixed_precision_model_exports_in_float32(tmp_path):
    # Trained under mixed_bfloat16 on a GPU: the export computes in float32,
    # with builtin ops only, and verify compares it with the float32 copy.
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build("transformer")
    finally:
        keras.config.set_dtype_policy("float32")
    # Builtin ops have no bfloat16; the searches run the same float32 copy as the pieces.
    manifest = exporter.export(model, tmp_path / "export", formats=("tflite",), searches=False)
    inputs = [i for a in manifest["artifacts"] for i in a["inputs"] + a["outputs"]]
    assert {i["dtype"] for i in inputs} <= {"int32", "float32"}
    report = parity.verify(tmp_path / "export", model)
    assert report["passed"], parity.format_table(report)


@pytest.mark.slow
def test_cli_export_and_verify(tmp_path, capsys):
    run = tmp_path / "run"
    assert keras_attn.cli.main(["train", "bahdanau", "--examples", "300", "--epochs", "1",
                                "--set", "units=16", "--set", "embedding_dim=8", "--out", str(run)]) == 0
    out = tmp_path / "export"
    # TFLite of every piece, and the searches, are covered by the shared exports; here the text
    # signature and ONNX of the pieces alone.
    assert keras_attn.cli.main(["export", str(run / "model.keras"), "--out", str(out),
                                "--formats", "saved_model", "onnx", "--no-searches"]) == 0
    assert {"model.keras", "config.json", "source_vocabulary.txt", "manifest.json", "text_saved_model"} <= set(os.listdir(out))
    assert {a["role"] for a in json.loads((out / "manifest.json").read_text())["artifacts"]} == {
        "forward", "prefill", "step", "text"}
    assert json.loads((out / "manifest.json").read_text())["lengths"]["max_source_length"] == json.loads(
        (run / "config.json").read_text())["lengths"]["max_source_length"]
    assert keras_attn.cli.main(["export", str(run / "model.keras"), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    capsys.readouterr()
    assert keras_attn.cli.main(["verify", str(out)]) == 0
    table = capsys.readouterr().out
    assert "real" in table and "greedy" in table and table.strip().endswith("PASSED")
    # translate(tf.string) → tf.string gives Keras's greedy translation of the same text.
    import tensorflow as tf

    loaded = tf.saved_model.load(str(out / "text_saved_model"))
    task = tasks.dates(200)
    texts = [text for text, _ in task.examples["test"][:4]]
    model = keras_attn.load_model(run / "model.keras")
    manifest = json.loads((out / "manifest.json").read_text())
    expected = decoding.greedy_decode(model, task.splits["test"][0][:4], max_length=manifest["lengths"]["max_target_length"] - 1)
    assert [t.decode() for t in loaded.translate(tf.constant(texts))["translation"].numpy()] == [
        task.target_text(row) for row in expected.tokens
    ]
    # Empty text reads as one padding token; text longer than the model reads is cut and
    # flagged, in the signature as in `keras-attn translate`.
    from keras_attn.inference.translation import Translator

    translator, long_text = Translator(run), "the 1st of may 2018 " * 5
    result = loaded.translate(tf.constant(["", long_text]))
    assert result["truncated"].numpy().tolist() == [False, True]
    assert [t.decode() for t in result["translation"].numpy()] == [translator.translate(t).text for t in ("", long_text)]
    capsys.readouterr()
    assert keras_attn.cli.main(["translate", str(run), long_text]) == 0
    assert "the model read the first" in capsys.readouterr().err


@pytest.mark.slow
def test_string_signature_classifies_like_keras(tmp_path, capsys):
    run, out = tmp_path / "run", tmp_path / "export"
    assert keras_attn.cli.main(["train", "transformer-classifier", "--examples", "300", "--epochs", "1", "--out", str(run)]) == 0
    assert keras_attn.cli.main(["export", str(run / "model.keras"), "--out", str(out), "--formats", "saved_model"]) == 0
    capsys.readouterr()
    assert keras_attn.cli.main(["verify", str(out)]) == 0
    rows = json.loads((out / "parity.json").read_text())["rows"]
    text_row = next(r for r in rows if r["role"] == "text" and r["case"] == "real")
    assert text_row["status"] == "pass" and text_row["max_abs_error"] <= 1e-4


@pytest.mark.parametrize("name", ["transformer-classifier", "bert-tiny"])
def test_a_row_of_only_padding_gives_the_same_finite_result_everywhere(exports, name, rng):
    model, directory = exports[name]

    ids = random_ids(rng, (2, 6), 40, lengths=[6, 0])  # the second row is all padding
    inputs = model.forward_inputs(ids)
    x = model.call_inputs(inputs)
    results = {"keras": np.asarray(model(x)), "keras predict": model.predict(x, verbose=0)}
    manifest = json.loads((directory / "manifest.json").read_text())
    for artifact in manifest["artifacts"]:
        results[artifact["path"]] = parity.open_artifact(directory, artifact)(inputs)["logits"]
    for where, logits in results.items():
        assert np.all(np.isfinite(logits)), where
        np.testing.assert_allclose(logits, results["keras"], atol=1e-4, err_msg=where)


@pytest.mark.parametrize("name", ["bahdanau", "transformer"])
def test_a_source_of_only_padding_decodes_the_same_everywhere(exports, name):
    model, directory = exports[name]
    source = np.array([[9, 12, 7], [0, 0, 0]], "int32")
    expected = decoding.greedy_decode(model, source, max_length=6)
    for fmt in ("onnx", "tflite"):
        got = runtime.ExportedModel(directory, format=fmt).greedy(source, max_length=6)
        np.testing.assert_array_equal(got.tokens, expected.tokens)
        assert np.all(np.isfinite(got.attention))
