"""Run exported keras-attn models without TensorFlow or Keras.

Imports numpy and onnxruntime; the LiteRT interpreter (`ai_edge_litert`) is
imported only when a TFLite artifact is opened. Greedy and beam search run
as one graph each where the export holds them (the `greedy_search` and
`beam_search` pieces: one `run` call translates a batch), else, or with
`host_loop=True`, as the numpy searches of `keras_attn.inference.search`
over the `prefill` and `step` pieces; tests hold both to the compiled Keras
searches.

    model = ExportedModel("export_dir")                 # ONNX, float32
    model = ExportedModel("export_dir", format="tflite", quantization="int8", threads=1)
    model.greedy(source_ids).tokens
    model.beam(source_ids, beam_size=4).tokens
    model.classify(token_ids)                          # probabilities
"""


import numpy as np

from keras_attn import integrity
from keras_attn.quiet import native_stderr_muted
from keras_attn.validation import (MAX_UNBOUNDED_STEPS, check_beam_size, check_non_negative, check_positive_int,
                                   check_range, check_search_rows, check_token_ids)
from keras_attn.inference import search

_ONNX_TYPES = {"tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(float)": "float32", "tensor(bool)": "bool"}


def _dims(shape):
    return [dim if isinstance(dim, int) and dim >= 0 else None for dim in shape]


class OnnxRunner:
    """One ONNX artifact in ONNX Runtime: `runner(dict of arrays) → dict of arrays`;
    `threads` for its operators (default: ONNX Runtime's, one per core)."""

    def __init__(self, path, threads=None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads = threads
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
    """One TFLite artifact in the LiteRT interpreter (builtin ops; no Flex
    delegate); `threads` for its kernels (default: LiteRT's)."""

    def __init__(self, path, threads=None):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path, num_threads=threads)
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


def check_described(runner, artifact, spec):
    """Raises `IntegrityError` unless the opened artifact takes and gives the
    tensors its manifest entry records (names and dtypes, the outputs' shapes)
    and its logits span the recorded target vocabulary: settings that do not
    describe the file are refused before they are used."""
    def described(tensors, with_shape):
        return sorted((t["name"], t["dtype"], *([tuple(t["shape"])] if with_shape else [])) for t in tensors)

    for side, with_shape in (("inputs", False), ("outputs", True)):
        found, recorded = described(getattr(runner, side), with_shape), described(artifact[side], with_shape)
        if found != recorded:
            raise integrity.IntegrityError(f"{artifact['path']}: its {side} are {found}, the manifest records {recorded}")
    vocabulary = spec.get("target_vocabulary_size")
    logits = [t["shape"][-1] for t in runner.outputs if t["name"] == "logits" and t["shape"]]
    if artifact["role"] in ("forward", "step") and vocabulary is not None and logits and logits[0] not in (None, vocabulary):
        raise integrity.IntegrityError(f"{artifact['path']}: its logits span {logits[0]} tokens, the manifest records "
                                       f"a target vocabulary of {vocabulary}")


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
            prompt_ids = search.pad_to(prompt_ids, self.fixed_prompt_length, self.pad_id)
        return super().prefill(prompt_ids)

    def step(self, token_ids, step, state):
        outputs = dict(super().step(token_ids, step, state))
        outputs["attention"] = outputs["attention"][:, : self.prompt_length]
        return outputs


def run_search(runner, spec, source_ids, max_length, beam_size=None, alpha=None):
    """A whole search exported as one graph (a `greedy_search` artifact, or
    `beam_search` when `beam_size` is given) on `source_ids`, as a
    `DecodeResult`; `spec` is the manifest's runtime spec. The prompt is
    padded to the export's fixed length where it has one; attention is
    reported over the caller's prompt."""
    source_ids = np.asarray(source_ids, "int32")

    def run(prompt):
        feed = {spec["prompt_input"]: prompt, "max_length": np.int32(max_length)}
        if beam_size is not None:
            feed.update(beam_size=np.int32(beam_size), alpha=np.float32(alpha))
        return runner(feed)

    width = spec["fixed_prompt_length"] or source_ids.shape[1]
    return search.whole_search_result(run, source_ids, width, search_ids(spec)["pad_id"], beam_size, alpha)


class ExportedModel:
    """The artifacts of one export directory, in one format and quantization.

    Each artifact is checked against the manifest first (inside the
    directory, its size and sha256; `check_integrity=False` skips the
    hashing), so a tampered or truncated file is an `IntegrityError`, never
    a silently different model; it is opened when first used.
    `host_loop=True` searches with the prefill and step pieces even where
    the export holds the whole searches as graphs. `threads` caps the
    threads of each runtime's kernels (default: the runtime's own choice).
    """

    def __init__(self, directory, format="onnx", quantization="float32", check_integrity=True, host_loop=False,
                 threads=None):
        if format not in RUNNERS:
            raise ValueError(f"`format` must be one of {sorted(RUNNERS)}, got {format!r}.")
        self.threads = None if threads is None else check_positive_int("threads", threads)
        self.manifest = integrity.read_manifest(directory)
        self.format, self.host_loop = format, host_loop
        self.paths, self.artifacts, self.opened = {}, {}, {}
        for artifact in self.manifest["artifacts"]:
            if artifact["format"] == format and artifact["quantization"] == quantization:
                if check_integrity:
                    integrity.check(directory, artifact)
                self.paths[artifact["role"]] = integrity.resolve(directory, artifact["path"])
                self.artifacts[artifact["role"]] = artifact
        if not self.paths:
            raise ValueError(f"{directory} has no {format} artifacts quantized as {quantization!r}.")

    def runner(self, role):
        """The runner of the artifact of `role`, opened once and checked against its manifest entry."""
        if role not in self.opened:
            runner = RUNNERS[self.format](self.paths[role], self.threads)
            check_described(runner, self.artifacts[role], self.manifest["runtime"])
            self.opened[role] = runner
        return self.opened[role]

    def _in_graph(self, role):
        return not self.host_loop and role in self.paths

    @property
    def max_target_length(self):
        return self.manifest["lengths"]["max_target_length"]

    def _require(self, task, use):
        spec = self.manifest["runtime"]
        if spec["task"] != task:
            raise ValueError(f"A {self.manifest['class']} model ({spec['task']}) cannot {use}.")
        return spec

    def _generation(self, source_ids, max_length):
        """`(prompt ids, steps, runtime spec)`, the inputs checked."""
        spec = self._require("translation", "decode")
        source_ids = check_token_ids("source_ids", source_ids, spec["vocabulary_sizes"][spec["prompt_input"]],
                                     spec["max_prompt_length"])
        # Exports before the bound recorded no steps for a model without a position table.
        steps = check_range("max_length", self.max_target_length if max_length is None else max_length, 1,
                            spec["max_steps"] or MAX_UNBOUNDED_STEPS)
        if "target_vocabulary_size" in spec:
            check_search_rows(len(source_ids), spec["target_vocabulary_size"])
        return source_ids, steps, spec

    def _generator(self, spec):
        return ArtifactGenerator(self.runner("prefill"), self.runner("step"), spec["prompt_input"],
                                 spec["fixed_prompt_length"], search_ids(spec)["pad_id"])

    def greedy(self, source_ids, max_length=None):
        source_ids, steps, spec = self._generation(source_ids, max_length)
        if self._in_graph("greedy_search"):
            return run_search(self.runner("greedy_search"), spec, source_ids, steps)
        return search.greedy_search(self._generator(spec), source_ids, steps, **search_ids(spec))

    def beam(self, source_ids, beam_size=4, alpha=0.6, max_length=None):
        source_ids, steps, spec = self._generation(source_ids, max_length)
        if "target_vocabulary_size" not in spec:
            raise ValueError("This export's manifest does not record the target vocabulary (runtime."
                             "target_vocabulary_size), which bounds the beam: export the model again.")
        beam_size = check_beam_size(beam_size, len(source_ids), spec["target_vocabulary_size"])
        alpha = check_non_negative("alpha", alpha)
        if self._in_graph("beam_search"):
            return run_search(self.runner("beam_search"), spec, source_ids, steps, beam_size, alpha)
        return search.beam_search(self._generator(spec), source_ids, steps, beam_size=beam_size, alpha=alpha,
                                  **search_ids(spec))

    def _forward(self, spec, token_ids):
        token_ids = check_token_ids("token_ids", token_ids, spec["vocabulary_sizes"]["token_ids"], spec["max_length"])
        inputs = {"token_ids": token_ids, **{name: np.zeros_like(token_ids) for name in spec["zero_inputs"]}}
        return self.runner("forward")(inputs)

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
