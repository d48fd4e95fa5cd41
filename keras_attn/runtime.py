"""Run exported keras-attn models without TensorFlow or Keras.

Imports numpy and onnxruntime; the LiteRT interpreter (`ai_edge_litert`) is
imported only when a TFLite artifact is opened. Greedy and beam search are
the numpy searches of `keras_attn.inference.search`, which tests hold to the compiled Keras ones.

    model = ExportedModel("export_dir")                 # ONNX, float32
    model = ExportedModel("export_dir", format="tflite", quantization="int8")
    model.greedy(source_ids).tokens
    model.beam(source_ids, beam_size=4).tokens
    model.classify(token_ids)                          # probabilities
"""


import numpy as np

from keras_attn import integrity
from keras_attn.quiet import native_stderr_muted
from keras_attn.validation import check_range, check_token_ids
from keras_attn.inference import search

_ONNX_TYPES = {"tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(float)": "float32", "tensor(bool)": "bool"}


def _dims(shape):
    return [dim if isinstance(dim, int) and dim >= 0 else None for dim in shape]


class OnnxRunner:
    """One ONNX artifact in ONNX Runtime: `runner(dict of arrays) → dict of arrays`."""

    def __init__(self, path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.inputs = [
            {"name": i.name, "dtype": _ONNX_TYPES.get(i.type, i.type), "shape": _dims(i.shape)}
            for i in self.session.get_inputs()
        ]
        self.outputs = [
            {"name": o.name, "dtype": _ONNX_TYPES.get(o.type, o.type), "shape": _dims(o.shape)}
            for o in self.session.get_outputs()
        ]

    def __call__(self, inputs):
        feed = {spec["name"]: np.asarray(inputs[spec["name"]], spec["dtype"]) for spec in self.inputs}
        names = [spec["name"] for spec in self.outputs]
        return dict(zip(names, self.session.run(names, feed)))


class LiteRTRunner:
    """One TFLite artifact in the LiteRT interpreter (builtin ops; no Flex delegate)."""

    def __init__(self, path):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path)
        self.runner = self.interpreter.get_signature_runner()
        self.called = False
        details = self.runner.get_input_details(), self.runner.get_output_details()
        self.inputs, self.outputs = (
            [
                {"name": name, "dtype": np.dtype(d["dtype"]).name, "shape": _dims(d["shape_signature"])}
                for name, d in sorted(group.items())
            ]
            for group in details
        )

    def __call__(self, inputs):
        feed = {spec["name"]: np.asarray(inputs[spec["name"]], spec["dtype"]) for spec in self.inputs}
        if self.called:
            outputs = self.runner(**feed)
        else:
            with native_stderr_muted():  # the first run prints "Created TensorFlow Lite XNNPACK delegate for CPU"
                outputs = self.runner(**feed)
            self.called = True
        return {name: np.array(value) for name, value in outputs.items()}


RUNNERS = {"onnx": OnnxRunner, "tflite": LiteRTRunner}


def describe_artifact(fmt, path):
    """`(inputs, outputs)` of an ONNX or TFLite artifact: lists of `{"name", "dtype", "shape"}`."""
    runner = RUNNERS[fmt](path)
    return runner.inputs, runner.outputs


def pad_to(ids, length, pad_id=0):
    """Right-pads int ids to `length` columns with `pad_id` (or refuses if they are longer)."""
    ids = np.asarray(ids, "int32")
    if ids.shape[1] > length:
        raise ValueError(f"Inputs of length {ids.shape[1]} exceed the exported fixed length {length}.")
    return np.pad(ids, ((0, 0), (0, length - ids.shape[1])), constant_values=pad_id)


def search_ids(spec):
    """`{start_id, end_id, pad_id}` of a manifest's runtime spec (exports from
    before `pad_id` was recorded pad with 0)."""
    return {"start_id": spec["start_id"], "end_id": spec["end_id"], "pad_id": spec.get("pad_id", 0)}


class ArtifactGenerator(search.PieceGenerator):
    """The `keras_attn.inference.search` generator protocol over exported
    prefill and step artifacts; pads prompts to a fixed exported length."""

    def __init__(self, prefill, step, prompt_name, fixed_prompt_length=None, pad_id=0):
        super().__init__(prefill, step, prompt_name)
        self.fixed_prompt_length, self.pad_id = fixed_prompt_length, pad_id

    def prefill(self, prompt_ids):
        prompt_ids = np.asarray(prompt_ids, "int32")
        self.prompt_length = prompt_ids.shape[1]  # attention is reported over the caller's prompt
        if self.fixed_prompt_length is not None:
            prompt_ids = pad_to(prompt_ids, self.fixed_prompt_length, self.pad_id)
        return super().prefill(prompt_ids)

    def step(self, token_ids, step, state):
        outputs = dict(super().step(token_ids, step, state))
        outputs["attention"] = outputs["attention"][:, : self.prompt_length]
        return outputs


class ExportedModel:
    """The artifacts of one export directory, in one format and quantization.

    Each artifact opened is checked against the manifest first (inside the
    directory, its size and sha256; `check_integrity=False` skips the
    hashing), so a tampered or truncated file is an `IntegrityError`, never
    a silently different model.
    """

    def __init__(self, directory, format="onnx", quantization="float32", check_integrity=True):
        if format not in RUNNERS:
            raise ValueError(f"`format` must be one of {sorted(RUNNERS)}, got {format!r}.")
        self.manifest = integrity.read_manifest(directory)
        self.runners = {}
        for artifact in self.manifest["artifacts"]:
            if artifact["format"] == format and artifact["quantization"] == quantization:
                if check_integrity:
                    integrity.check(directory, artifact)
                self.runners[artifact["role"]] = RUNNERS[format](integrity.resolve(directory, artifact["path"]))
        if not self.runners:
            raise ValueError(f"{directory} has no {format} artifacts quantized as {quantization!r}.")

    @property
    def max_target_length(self):
        return self.manifest["lengths"]["max_target_length"]

    def _require(self, task, use):
        spec = self.manifest["runtime"]
        if spec["task"] != task:
            raise ValueError(f"A {self.manifest['class']} model ({spec['task']}) cannot {use}.")
        return spec

    def _generation(self, source_ids, max_length):
        """`(generator, prompt ids, steps)`, the inputs checked, and the start and end ids."""
        spec = self._require("translation", "decode")
        prompt = spec["prompt_input"]
        source_ids = check_token_ids("source_ids", source_ids, spec["vocabulary_sizes"][prompt],
                                     spec["max_prompt_length"])
        steps = check_range("max_length", self.max_target_length if max_length is None else max_length, 1,
                            spec["max_steps"])
        ids = search_ids(spec)
        generator = ArtifactGenerator(self.runners["prefill"], self.runners["step"], prompt,
                                      spec["fixed_prompt_length"], ids["pad_id"])
        return (generator, source_ids, steps), ids

    def greedy(self, source_ids, max_length=None):
        arguments, ids = self._generation(source_ids, max_length)
        return search.greedy_search(*arguments, **ids)

    def beam(self, source_ids, beam_size=4, alpha=0.6, max_length=None):
        arguments, ids = self._generation(source_ids, max_length)
        return search.beam_search(*arguments, beam_size=check_range("beam_size", beam_size, 1), alpha=alpha, **ids)

    def _forward(self, spec, token_ids):
        token_ids = check_token_ids("token_ids", token_ids, spec["vocabulary_sizes"]["token_ids"], spec["max_length"])
        inputs = {"token_ids": token_ids, **{name: np.zeros_like(token_ids) for name in spec["zero_inputs"]}}
        return self.runners["forward"](inputs)

    def classify(self, token_ids):
        """Class probabilities `(batch, num_classes)` of token ids that start with `[CLS]`."""
        spec = self._require("classification", "classify")
        return softmax(self._forward(spec, token_ids)["logits"])

    def embed(self, token_ids):
        """Sentence embeddings `(batch, dim)` of packed token ids (`[CLS] text [SEP]`)."""
        spec = self._require("embedding", "embed")
        return np.asarray(self._forward(spec, token_ids)["embedding"])


def softmax(logits):
    """Probabilities over the last axis, in float64."""
    logits = np.asarray(logits, "float64")
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)
