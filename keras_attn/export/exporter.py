"""Export zoo models to SavedModel, TFLite (builtin ops only) and ONNX.

Needs TensorFlow (imported here, never by the core). Every piece of the
model (its `pieces()`, see `keras_attn.models.Task`) becomes one artifact
per format; `manifest.json` lists them with their inputs, outputs, sizes
and checksums, the model's registered class, and what the runtime needs
(its `runtime_spec()`).
"""

import json
import os
import platform
import shutil

import keras
import numpy as np

from keras_attn import integrity, models, progress, staging
from keras_attn.export.kept_float import KeptFloat, restore_tflite
from keras_attn.layers import fused_attention
from keras_attn.models.generative_task import SEARCH_ROLES
from keras_attn.saving import float32_copy
from keras_attn.validation import check_length

FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZATIONS = (None, "fp16", "int8")
ONNX_OPSET = 17


def _tf():
    import tensorflow as tf

    return tf


def _serving_function(piece):
    """A `tf.function` taking the piece's inputs positionally, returning a dict."""
    tf = _tf()
    names = list(piece.inputs)
    signature = [tf.TensorSpec(shape, dtype, name=name) for name, (shape, dtype) in piece.inputs.items()]

    def serve(*args):
        outputs = piece(dict(zip(names, args)), training=False)
        return outputs if isinstance(outputs, dict) else {"logits": outputs}

    return tf.function(serve, input_signature=signature)


# Keras 3's `Model.export(format="litert" | "onnx")` exports every piece too
# (bench/export_paths.py: all of them, builtin ops only once `target_spec` is
# given). This exporter keeps its own path because each `litert` call traces
# the piece and writes a SavedModel of its own, and allows Flex ops unless
# told not to; here each piece is traced once, into one SavedModel that the
# float32, float16 and int8 TFLite files are converted from, and the same
# `tf.function` gives the ONNX file.
def _write_saved_model(piece, function, path):
    archive = keras.export.ExportArchive()
    archive.track(piece.model)
    archive.add_endpoint("serve", function)
    archive.write_out(path, verbose=False)


def _write_tflite(saved_model_path, path, quantize, kept):
    """`kept` (a `KeptFloat`): the weights an int8 file keeps in float32."""
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_path)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex delegate
    if quantize == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic-range int8 weights
    converted = converter.convert()
    if quantize == "int8" and kept:
        converted = restore_tflite(converted, kept)  # the converter quantizes every weight or none
    with open(path, "wb") as f:
        f.write(converted)


# Converts each piece's SavedModel (its `serve` endpoint: the function the
# TFLite files come from) to ONNX, in order; on a failure, names the piece's
# index and the error on the last line and exits 1. A TensorFlow `where`
# (SelectV2) becomes ONNX's `Where`: tf2onnx would write a float one as
# `cond * x + (1 - cond) * y`, three passes over the tensor where `Where` makes
# one (a decoder step's cache writes: 1.4x faster in ONNX Runtime) and
# exact for infinite x or y (the searches' -inf scores).
_ONNX_CHILD = """
import json, sys
import tensorflow as tf
import tf2onnx


def where(ctx, node, name, args):
    node.type, node.domain = "Where", ""


for index, (saved_model, path) in enumerate(json.loads(sys.argv[1])):
    try:
        loaded = tf.saved_model.load(saved_model)  # kept alive: the function reads its variables
        serve = loaded.serve
        tf2onnx.convert.from_function(serve, input_signature=serve.input_signature, opset=int(sys.argv[2]),
                                      custom_op_handlers={"SelectV2": (where, [])}, output_path=path)
    except Exception as error:
        print(f"FAILED {index} {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        sys.exit(1)
"""


# Above this many bytes of variables in a piece, the ONNX converter runs on the pure-Python protobuf.
_LARGE_PIECE_BYTES = 64 * 2**20


def _variables_bytes(saved_model):
    folder = os.path.join(saved_model, "variables")
    return sum(os.path.getsize(os.path.join(folder, name)) for name in os.listdir(folder))


def _write_onnx(jobs):
    """`[(piece, SavedModel path, ONNX path)]` converted in one interpreter of
    its own. tf2onnx rewrites every node's attributes at each optimizer pass;
    with protobuf's default (upb) runtime the replaced constant tensors stay
    in the message's arena until the conversion ends, so a model with a
    65,001 x 512 token table peaked at 23 GB in-process, against 5 GB (and
    half the time) with the pure-Python protobuf. Small pieces keep upb: on
    them it converts 2.6x faster (a 1-layer transformer's whole greedy
    search, 29 s against 77 s)."""
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if max(_variables_bytes(saved) for _, saved, _ in jobs) > _LARGE_PIECE_BYTES:
        env["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
    result = subprocess.run(
        [sys.executable, "-c", _ONNX_CHILD, json.dumps([[saved, path] for _, saved, path in jobs]), str(ONNX_OPSET)],
        env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        lines = (result.stdout + result.stderr).strip().splitlines() or ["the converter exited without a message"]
        failed = next((line for line in lines if line.startswith("FAILED ")), None)
        piece = jobs[int(failed.split()[1])][0] if failed else jobs[0][0]
        message = failed.split(" ", 2)[2] if failed else lines[-1]
        raise _format_error(piece, "onnx", RuntimeError(message))


# Weight matrices consumed by these ops (input index) are stored in int8.
_WEIGHT_INPUTS = {"MatMul": 1, "Gather": 0}
_MIN_QUANTIZED_SIZE = 1024  # smaller tensors (biases, norms) stay float32


def _node_graphs(node):
    """The graphs a node holds (a `Loop`'s body, an `If`'s branches)."""
    for attribute in node.attribute:
        yield from [attribute.g] if attribute.type == attribute.GRAPH else attribute.graphs


def _subgraphs(graph):
    """The graphs held by `graph`'s nodes, at any depth."""
    for node in graph.node:
        for sub in _node_graphs(node):
            yield sub
            yield from _subgraphs(sub)


def _uses(graph, name):
    """`[(op type, input index), ...]` of every node that reads `name` in
    `graph` and its subgraphs (which read the outer scope). A value fed to
    a `Loop` as a carried input counts by its uses inside the body, where
    it passes to the next iteration unchanged (tf2onnx carries the weights
    a loop's body captures so), and by those of the loop's final value."""
    uses = []
    outputs = {output.name for output in graph.output}
    for node in graph.node:
        for index, value in enumerate(node.input):
            if value != name:
                continue
            if node.op_type == "Loop" and index >= 2:
                body = next(attribute.g for attribute in node.attribute if attribute.name == "body")
                uses += _uses(body, body.input[index].name) + _uses(graph, node.output[index - 2])
            elif not (node.op_type == "Identity" and node.output[0] in outputs):  # carried, unchanged
                uses.append((node.op_type, index))
        for sub in _node_graphs(node):
            uses += _uses(sub, name)
    return uses


def _write_onnx_int8(float_path, path, kept):
    """Weight-only int8: each large MatMul weight (per output column) and
    Gather table (per row) is stored as int8 with float32 scales and
    dequantized in the graph, but those of `kept` (a `KeptFloat`), which
    stay float32; activations stay float32.

    Not onnxruntime's `quantize_dynamic`: it quantizes activations with one
    scale per tensor computed on each call, so an output changed with the
    padding and with the other rows of the batch (0.11 on a transformer row).
    Here the weights are rounded and the activations are not, so padding and
    batch change nothing (ONNX Runtime fuses each dequantization with its
    MatMul into MatMulNBits). A weight inside a loop's body (the whole
    searches) moves out to the main graph and is dequantized there, once per
    call rather than once per step (a subgraph reads the outer scope; that
    MatMul then runs in float32 on the rounded weights)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(float_path)
    main = model.graph
    dequantize = []
    for graph in (main, *_subgraphs(main)):
        for tensor in list(graph.initializer):
            name, consumers = tensor.name, _uses(graph, tensor.name)
            weights = numpy_helper.to_array(tensor)
            if (weights.dtype != np.float32 or weights.ndim != 2 or weights.size < _MIN_QUANTIZED_SIZE
                    or len({op for op, _ in consumers}) != 1
                    or any(_WEIGHT_INPUTS.get(op) != index for op, index in consumers)
                    or kept.original(weights) is not None):
                continue
            axis = 0 if consumers[0][0] == "Gather" else 1  # per row of a table, per output column of a matrix
            scale = np.maximum(np.abs(weights).max(axis=1 - axis), 1e-12) / 127.0
            shape = (-1, 1) if axis == 0 else (1, -1)
            quantized = np.clip(np.round(weights / scale.reshape(shape)), -127, 127).astype(np.int8)
            graph.initializer.remove(tensor)
            main.initializer.extend([
                numpy_helper.from_array(quantized, f"{name}_int8"),
                numpy_helper.from_array(scale.astype(np.float32), f"{name}_scale"),
                numpy_helper.from_array(np.zeros(scale.shape, np.int8), f"{name}_zero_point"),
            ])
            dequantize.append(helper.make_node("DequantizeLinear", [f"{name}_int8", f"{name}_scale",
                                                                    f"{name}_zero_point"],
                                               [name], name=f"{name}_dequantize", axis=axis))
    nodes = list(main.node)
    del main.node[:]
    main.node.extend(dequantize + nodes)  # before their consumers: the graph stays topologically sorted
    onnx.checker.check_model(model)
    onnx.save(model, path)


def _saved_model_outputs(path):
    """The outputs of a SavedModel's serving signature (loading it proves it loads)."""
    signature = _tf().saved_model.load(path).signatures["serving_default"]
    return [
        {"name": name, "dtype": spec.dtype.name, "shape": spec.shape.as_list()}
        for name, spec in sorted(signature.structured_outputs.items())
    ]


def _versions():
    import onnx
    import tensorflow as tf
    import tf2onnx

    return {
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "python": platform.python_version(),
    }


def _format_error(piece, fmt, error):
    layers = ", ".join(sorted({type(layer).__name__ for layer in piece.model._flatten_layers(include_self=False)}))
    return RuntimeError(
        f"Cannot export the {piece.role!r} piece of {piece.model.name!r} to {fmt}: "
        f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''} "
        f"(layers in this piece: {layers})."
    )


def export(
    model,
    out_dir,
    formats=FORMATS,
    quantize=None,
    searches=True,
    overwrite=False,
    lengths=None,
    assets=None,
    tokenizers=None,
):
    """Exports `model` into `out_dir` and returns the manifest (also written
    as `out_dir/manifest.json`).

    Args:
        model: a keras-attn task model (a registered class; trained or not).
        formats: any of `"saved_model"`, `"tflite"`, `"onnx"`.
        quantize: `None`, `"fp16"` (adds float16 TFLite) or `"int8"` (adds
            dynamic-range int8 TFLite and ONNX). Float32 artifacts are
            always written: they are the reference the quantized ones are
            checked against.
        searches: for generative models, also the whole greedy and beam
            searches as one graph each (`SEARCH_ROLES`); the prefill and
            step pieces are exported either way.
        overwrite: replace a non-empty `out_dir`.
        lengths: the training task's lengths (`task.lengths()`): the fixed
            lengths of pieces of models without position tables (`bahdanau`;
            64 when not given).
        assets: `{name in the export: file}` to copy into `out_dir` (the model,
            its vocabularies and config), listed with their sha256 too.
        tokenizers: optional `{side: Tokenizer}` (the training task's
            `tokenizers`): adds `text_saved_model`, a SavedModel whose
            `translate` or `classify` signature takes strings (see
            `text_signatures.py`).

    The export is written into a staging directory beside `out_dir` and
    renamed into place only when every artifact is written (`staging`), so
    a failure leaves `out_dir` as it was.
    """
    formats = tuple(formats)
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"`formats` must be a non-empty subset of {list(FORMATS)}, got {list(formats)}.")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"`quantize` must be one of {list(QUANTIZATIONS)}, got {quantize!r}.")
    staging.check_target(out_dir, overwrite)
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("Export needs the TensorFlow backend: run with KERAS_BACKEND=tensorflow.")

    models.check(model)
    model = float32_copy(model)  # a model trained under mixed precision exports in float32
    with staging.staged(out_dir, overwrite) as work:
        # Exports trace the plain attention: the one whose TFLite and ONNX lowering is tested.
        with fused_attention(False):
            manifest = _export_into(model, work, formats, quantize, searches, lengths)
            if tokenizers is not None:
                manifest["artifacts"].append(_export_text(model, work, tokenizers, manifest))
        manifest["assets"] = []
        for name, source in (assets or {}).items():
            shutil.copy(source, os.path.join(work, name))
            manifest["assets"].append(integrity.record(work, name))
        with open(os.path.join(work, integrity.MANIFEST), "w") as f:
            json.dump(manifest, f, indent=2)
    return manifest


def _export_text(model, directory, tokenizers, manifest):
    from keras_attn.export import text_signatures

    path = os.path.join(directory, "text_saved_model")
    with progress.step("text_saved_model: tokenizer and model in one SavedModel"):
        signature = text_signatures.write(model, path, tokenizers, manifest["lengths"])
    return {
        "format": "saved_model",
        "role": "text",
        "quantization": "float32",
        **integrity.record(directory, "text_saved_model"),
        "tokenization": tokenizers["source"].name,
        **signature,
    }


def _export_into(model, directory, formats, quantize, searches, lengths):
    from keras_attn import runtime

    lengths = {name: check_length(name, value) for name, value in model.export_lengths(lengths).items()}
    artifacts = []

    def record(piece, fmt, relative_path, quantization):
        path = os.path.join(directory, relative_path)
        outputs = _saved_model_outputs(path) if fmt == "saved_model" else runtime.describe_artifact(fmt, path)[1]
        inputs = [{"name": name, "dtype": dtype, "shape": list(shape)} for name, (shape, dtype) in piece.inputs.items()]
        artifacts.append(
            {
                "format": fmt,
                "role": piece.role,
                "quantization": quantization or "float32",
                **integrity.record(directory, relative_path),
                "inputs": inputs,
                "outputs": outputs,
                "max_lengths": piece.max_lengths,
                **({"opset": ONNX_OPSET} if fmt == "onnx" else {}),
            }
        )

    kept = KeptFloat(model.weights_kept_float())
    staging_models = os.path.join(directory, ".tmp")
    onnx_jobs = []
    for piece in model.pieces(lengths):
        if piece.role in SEARCH_ROLES and not searches:
            continue
        function = _serving_function(piece)
        saved_model = os.path.join(staging_models if "saved_model" not in formats else directory, f"{piece.role}_saved_model")
        try:
            with progress.step(f"{piece.role}: SavedModel"):
                _write_saved_model(piece, function, saved_model)
        except Exception as error:
            raise _format_error(piece, "saved_model", error) from error
        if "saved_model" in formats:
            record(piece, "saved_model", f"{piece.role}_saved_model", None)
        if "tflite" in formats:
            variants = [None] + ([quantize] if quantize else [])
            for variant in variants:
                name = f"{piece.role}{'' if variant is None else '_' + variant}.tflite"
                try:
                    with progress.step(f"{piece.role}: TFLite {variant or 'float32'}"):
                        _write_tflite(saved_model, os.path.join(directory, name), variant, kept)
                except Exception as error:
                    raise _format_error(piece, "tflite", error) from error
                record(piece, "tflite", name, variant)
        if "onnx" in formats:
            onnx_jobs.append((piece, saved_model, os.path.join(directory, f"{piece.role}.onnx")))
    if onnx_jobs:
        with progress.step(f"ONNX: {', '.join(piece.role for piece, _, _ in onnx_jobs)}"):
            _write_onnx(onnx_jobs)
        for piece, _, path in onnx_jobs:
            record(piece, "onnx", os.path.basename(path), None)
            if quantize == "int8":
                _write_onnx_int8(path, os.path.join(directory, f"{piece.role}_int8.onnx"), kept)
                record(piece, "onnx", f"{piece.role}_int8.onnx", "int8")
    shutil.rmtree(staging_models, ignore_errors=True)
    return {"format": integrity.MANIFEST_FORMAT, "model": model.name, "class": models.registered_name(model),
            "task_type": model.task_type, "lengths": lengths, "runtime": model.runtime_spec(lengths),
            "artifacts": artifacts, "versions": _versions()}
