"""The parity suite: every exported artifact, run in its own runtime
(TensorFlow for SavedModel, the LiteRT interpreter, ONNX Runtime), against
the Keras model and against the other formats, on right-padded batches of
mixed lengths.

What is checked, per artifact and case:
- the Keras model runs on the batch trimmed to its longest real row, the
  artifact on the same rows with more padding (to its fixed length, or 3
  more columns), so every comparison also proves that masking survived
  export;
- `padding`: the artifact against itself with and without 3 more columns
  of padding (dynamic-length artifacts);
- `greedy`: the encoder and decoder-step artifacts decode greedily with
  `keras_attn.search`, token by token against Keras decoding;
- `real`: when the export holds the `config.json` of `keras-attn train`,
  held-out examples of its task (real dates or sentences, not random ids)
  join the cases, and greedy decoding runs on them.

Pass rules: float32, max abs error of the logits <= 1e-4 (and identical
greedy tokens); float16, argmax agreement >= 99%; int8, reported only.
"""

import json
import os

import numpy as np

from keras_attn import decoding, runtime, search, tasks
from keras_attn.models import family
from keras_attn.saving import float32_copy

FLOAT32_TOLERANCE = 1e-4
FLOAT16_AGREEMENT = 0.99
EXTRA_PADDING = 3
# Encoder outputs with a source-position axis: what sits at padded positions
# is never attended to, so runtimes may differ there.
SOURCE_ALIGNED = ("encoder_outputs", "cross_cache")


class SavedModelRunner:
    """A SavedModel's `serving_default` signature in TensorFlow."""

    def __init__(self, path):
        import tensorflow as tf

        self.function = tf.saved_model.load(path).signatures["serving_default"]
        specs = self.function.structured_input_signature[1]
        self.inputs = [{"name": n, "dtype": s.dtype.name, "shape": s.shape.as_list()} for n, s in sorted(specs.items())]

    def __call__(self, inputs):
        feed = {spec["name"]: np.asarray(inputs[spec["name"]], spec["dtype"]) for spec in self.inputs}
        return {name: value.numpy() for name, value in self.function(**feed).items()}


def open_artifact(directory, artifact):
    path = os.path.join(directory, artifact["path"])
    if artifact["format"] == "saved_model":
        return SavedModelRunner(path)
    return runtime.RUNNERS[artifact["format"]](path)


def _random_ids(rng, lengths, vocabulary_size):
    ids = rng.integers(7, vocabulary_size, (len(lengths), max(lengths))).astype("int32")
    for row, length in enumerate(lengths):
        ids[row, length:] = 0
    return ids


def _case_lengths(limit):
    """Row lengths: one row; a mixed batch; rows near the longest allowed."""
    limit = max(3, limit)
    short = max(2, limit // 3)
    return {
        "batch1": [short],
        "mixed": [limit // 2, 2, short, limit // 2 - 1],
        "long": [limit - 1, limit - EXTRA_PADDING - 1],
    }


def _vocabulary_size(layer):
    """Of a `keras.layers.Embedding` or a `TokenAndPositionEmbedding`."""
    return getattr(layer, "vocabulary_size", None) or layer.input_dim


def _vocabulary_sizes(model, kind):
    if kind in ("bahdanau", "transformer"):
        return {
            "encoder_token_ids": _vocabulary_size(model.get_layer("encoder_embedding")),
            "decoder_token_ids": _vocabulary_size(model.get_layer("decoder_embedding")),
        }
    if kind == "classifier":
        return {"token_ids": _vocabulary_size(model.get_layer("embedding"))}
    return {"token_ids": _vocabulary_size(model.backbone.get_layer("embeddings"))}


def real_case(directory, manifest):
    """Eight held-out examples of the built-in task named in the export's
    `config.json` (written by `keras-attn train`), or `None`."""
    path = os.path.join(directory, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        task_name = json.load(f).get("task")
    if task_name not in tasks.TASKS:
        return None
    task = tasks.load(task_name, num_examples=200)
    if manifest["family"] in ("bahdanau", "transformer"):
        source, target = task.splits["test"]
        x, _ = task.model_inputs("test")
        if source.shape[1] > manifest["max_source_length"] or target.shape[1] > manifest["max_target_length"]:
            return None
        return {name: _trim(value[:8]) for name, value in x.items()}
    ids = _trim(task.splits["test"][0][:8])
    if ids.shape[1] > manifest["max_length"]:
        return None
    inputs = {"token_ids": ids}
    if manifest["family"] != "classifier":
        inputs["segment_ids"] = np.zeros_like(ids)
    if manifest["family"] == "bert_masked_lm":
        inputs["mask_positions"] = np.ones((len(ids), 1), "int32")
    return inputs


def _trim(ids):
    """Drops the columns that are padding in every row."""
    return ids[:, : max(1, int((ids != 0).sum(1).max()))]


def make_cases(model, manifest, seed=0):
    """`{case name: Keras inputs}`: right-padded batches of mixed lengths."""
    rng = np.random.default_rng(seed)
    kind = manifest["family"]
    sizes = _vocabulary_sizes(model, kind)
    if kind in ("bahdanau", "transformer"):
        source_limit, target_limit = manifest["max_source_length"], manifest["max_target_length"]
        cases = {}
        for name, lengths in _case_lengths(min(source_limit, target_limit)).items():
            cases[name] = {
                "encoder_token_ids": _random_ids(rng, lengths, sizes["encoder_token_ids"]),
                "decoder_token_ids": _random_ids(rng, lengths[::-1], sizes["decoder_token_ids"]),
            }
        return cases
    cases = {}
    for name, lengths in _case_lengths(manifest["max_length"]).items():
        ids = _random_ids(rng, lengths, sizes["token_ids"])
        ids[:, 0] = 4  # [CLS]
        inputs = {"token_ids": ids}
        if kind != "classifier":
            inputs["segment_ids"] = np.zeros_like(ids)
        if kind == "bert_masked_lm":
            inputs["mask_positions"] = np.stack([rng.integers(1, max(2, n), 2) for n in lengths]).astype("int32")
        cases[name] = inputs
    return cases


def _padded(inputs, artifact, extra):
    """The artifact's view of `inputs`: padded to its fixed length, or `extra` more columns."""
    shapes = {spec["name"]: spec["shape"] for spec in artifact["inputs"]}
    limits = artifact.get("max_lengths", {})
    out = {}
    for name, value in inputs.items():
        if name in ("token_ids", "segment_ids", "encoder_token_ids", "decoder_token_ids"):
            fixed = shapes[name][1]
            length = fixed if fixed is not None else min(value.shape[1] + extra, limits.get(name, 10**9))
            value = runtime.pad_to(value, length)
        out[name] = value
    return out


def _keras_outputs(model, kind, role, inputs):
    if role == "forward":
        inputs = inputs if kind != "classifier" else inputs["token_ids"]
        outputs = model(inputs, training=False)
        return {"logits": np.asarray(outputs)}
    encoder, _ = decoding.inference_models(model)
    return {name: np.asarray(value) for name, value in encoder({"encoder_token_ids": inputs["encoder_token_ids"]}).items()}


def _compare(reference, candidate, source_ids=None):
    """Max abs and relative errors over the reference's shape, and argmax
    agreement of the logits; per-source-position memories (`SOURCE_ALIGNED`)
    only at real source positions."""
    worst = {"max_abs_error": 0.0, "relative_error": 0.0, "argmax_agreement": None}
    for name, ref in reference.items():
        got = candidate[name][tuple(slice(0, n) for n in ref.shape)].astype("float64")
        ref = ref.astype("float64")
        if name in SOURCE_ALIGNED and source_ids is not None:
            keep = (source_ids != 0)[:, :, None]
            got, ref = got * keep, ref * keep
        error = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        scale = float(np.max(np.abs(ref))) or 1.0
        worst["max_abs_error"] = max(worst["max_abs_error"], error)
        worst["relative_error"] = max(worst["relative_error"], error / scale)
        if name == "logits":
            worst["logits_error"] = error
            worst["argmax_agreement"] = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
    return worst


def _status(artifact, row):
    quantization = artifact["quantization"]
    if quantization == "int8":
        return "info"
    if quantization == "fp16":
        return "pass" if row["argmax_agreement"] is None or row["argmax_agreement"] >= FLOAT16_AGREEMENT else "fail"
    ok = row.get("logits_error", row["max_abs_error"]) <= FLOAT32_TOLERANCE
    return "pass" if ok and row.get("tokens_equal", True) else "fail"


class _RecordingDecoder:
    """Wraps a search decoder and keeps the logits of every step."""

    def __init__(self, decoder):
        self.decoder, self.logits = decoder, []

    def encode(self, source_ids):
        return self.decoder.encode(source_ids)

    def step(self, token_ids, step, memory):
        logits, attention, memory = self.decoder.step(token_ids, step, memory)
        self.logits.append(np.asarray(logits, "float64"))
        return logits, attention, memory


def _greedy_row(model, manifest, encoder, step, source_ids):
    max_length = min(manifest["max_target_length"], 12)
    keras_decoder = _RecordingDecoder(decoding.KerasDecoder(model))
    fixed = manifest["max_source_length"] if manifest["family"] == "bahdanau" else None
    artifact_decoder = _RecordingDecoder(runtime.ArtifactDecoder(encoder, step, fixed))
    expected = search.greedy_search(keras_decoder, source_ids, max_length)
    got = search.greedy_search(artifact_decoder, source_ids, max_length)
    steps = min(len(keras_decoder.logits), len(artifact_decoder.logits))
    agree = [(k.argmax(-1) == a.argmax(-1)).mean() for k, a in zip(keras_decoder.logits, artifact_decoder.logits)]
    row = {
        "max_abs_error": float(max(np.abs(keras_decoder.logits[i] - artifact_decoder.logits[i]).max() for i in range(steps))),
        "argmax_agreement": float(np.mean(agree)),
        "tokens_equal": bool(expected.tokens.shape == got.tokens.shape and np.array_equal(expected.tokens, got.tokens)),
    }
    scale = max(float(np.abs(k).max()) for k in keras_decoder.logits) or 1.0
    row["relative_error"] = row["max_abs_error"] / scale
    row["logits_error"] = row["max_abs_error"]
    return row


def _text_row(directory, artifact, model, manifest):
    """The string signature on held-out sentences against Keras on the same text."""
    import tensorflow as tf

    from keras_attn.translation import text_decoder, text_encoder
    from keras_attn.vocabulary import CLS_ID, Vocabulary, pad_sequences

    with open(os.path.join(directory, "config.json")) as f:
        task_name = json.load(f)["task"]
    if artifact["tokenization"] == "wordpiece":
        import tensorflow_text  # noqa: F401  (registers the tokenizer's ops before the graph loads)
    loaded = tf.saved_model.load(os.path.join(directory, artifact["path"]))  # keeps the variables alive
    signature = getattr(loaded, artifact["signature"])
    texts = [source for source, _ in _held_out_texts(task_name)]
    tokenization = artifact["tokenization"]
    if artifact["signature"] == "translate":
        source = Vocabulary.load(os.path.join(directory, "source_vocabulary.txt"))
        target = Vocabulary.load(os.path.join(directory, "target_vocabulary.txt"))
        encode, decode = text_encoder(tokenization, source), text_decoder(tokenization, target)
        ids = pad_sequences([encode(t)[: manifest["max_source_length"]] for t in texts])
        result = decoding.greedy_decode(model, ids, max_length=manifest["max_target_length"] - 1)
        expected = [decode(row) for row in result.tokens]
        got = [t.decode("utf-8") for t in signature(tf.constant(texts))["translation"].numpy()]
        agreement = float(np.mean([a == b for a, b in zip(got, expected)]))
        status = "pass" if agreement == 1.0 else "fail"
        return {"case": "real", "max_abs_error": 0.0, "relative_error": 0.0, "argmax_agreement": agreement, "status": status}
    encode = text_encoder(tokenization, Vocabulary.load(os.path.join(directory, "vocabulary.txt")))
    token_ids = pad_sequences([[CLS_ID] + encode(t) for t in texts])[:, : manifest["max_length"]]
    inputs = {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids)} if hasattr(model, "backbone") else token_ids
    expected = runtime.softmax(model(inputs, training=False))
    row = _compare({"logits": expected}, {"logits": signature(tf.constant(texts))["probabilities"].numpy()})
    row.update(case="real", status="pass" if row["max_abs_error"] <= FLOAT32_TOLERANCE else "fail")
    return row


def _held_out_texts(task_name):
    """Eight held-out `(text, target)` examples of the task the model was trained on."""
    if task_name in tasks.TASKS:
        return tasks.load(task_name, num_examples=200).examples["test"][:8]
    from keras_attn import corpora

    return corpora.load(task_name, num_examples=400).examples["test"][:8]


def verify(directory, model):
    """Runs the parity suite on the export in `directory` against `model`;
    writes `directory/parity.json` and returns the report."""
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    kind = manifest["family"]
    if family(model) != kind:
        raise ValueError(f"The model is a {family(model)} model but {directory} holds a {kind} export.")
    model = float32_copy(model)  # what was exported
    cases = make_cases(model, manifest)
    real = real_case(directory, manifest)
    if real is not None:
        cases["real"] = real
    rows, outputs_by_case = [], {}
    runners = {a["path"]: open_artifact(directory, a) for a in manifest["artifacts"] if a["role"] != "text"}

    for artifact in manifest["artifacts"]:
        if artifact["role"] == "text":
            row = _text_row(directory, artifact, model, manifest)
            rows.append({**{k: artifact[k] for k in ("path", "format", "role", "quantization")}, **row})
            continue
        runner = runners[artifact["path"]]
        base = {k: artifact[k] for k in ("path", "format", "role", "quantization")}
        if artifact["role"] == "decoder_step":
            encoder = next(
                a for a in manifest["artifacts"]
                if a["role"] == "encoder" and a["format"] == artifact["format"] and a["quantization"] == artifact["quantization"]
            )
            source = cases.get("real", cases["mixed"])["encoder_token_ids"]
            row = _greedy_row(model, manifest, runners[encoder["path"]], runner, source)
            rows.append({**base, "case": "greedy", **row, "status": _status(artifact, row)})
            continue
        for case, inputs in cases.items():
            role_inputs = inputs if artifact["role"] == "forward" else {"encoder_token_ids": inputs["encoder_token_ids"]}
            reference = _keras_outputs(model, kind, artifact["role"], role_inputs)
            got = runner(_padded(role_inputs, artifact, EXTRA_PADDING))
            row = _compare(reference, got, role_inputs.get("encoder_token_ids"))
            rows.append({**base, "case": case, **row, "status": _status(artifact, row)})
            if artifact["quantization"] == "float32":
                outputs_by_case.setdefault((artifact["role"], case), {})[artifact["format"]] = (reference, got)
        if all(spec["shape"][1] is None for spec in artifact["inputs"] if spec["name"].endswith("token_ids")):
            # Padding invariance of the artifact itself.
            role_inputs = cases["mixed"] if artifact["role"] == "forward" else {"encoder_token_ids": cases["mixed"]["encoder_token_ids"]}
            plain = runner(_padded(role_inputs, artifact, 0))
            padded = runner(_padded(role_inputs, artifact, EXTRA_PADDING))
            row = _compare(plain, padded, role_inputs.get("encoder_token_ids"))
            rows.append({**base, "case": "padding", **row, "status": _status(artifact, row)})

    cross = []
    for (role, case), by_format in sorted(outputs_by_case.items()):
        formats = sorted(by_format)
        for i, first in enumerate(formats):
            for second in formats[i + 1 :]:
                reference, a = by_format[first]
                _, b = by_format[second]
                cropped = {name: a[name][tuple(slice(0, n) for n in ref.shape)] for name, ref in reference.items()}
                diff = _compare(cropped, b, None)
                cross.append({"role": role, "case": case, "formats": f"{first} vs {second}", "max_abs_error": diff["max_abs_error"]})

    report = {"directory": os.path.abspath(directory), "passed": all(r["status"] != "fail" for r in rows), "rows": rows, "cross_format": cross}
    with open(os.path.join(directory, "parity.json"), "w") as f:
        json.dump(report, f, indent=2)
    return report


def format_table(report):
    """One line per artifact and case, then the cross-format differences."""
    header = f"{'artifact':34s} {'case':8s} {'max abs err':>11s} {'rel err':>9s} {'argmax':>7s}  status"
    lines = [header, "-" * len(header)]
    for row in report["rows"]:
        agreement = "" if row["argmax_agreement"] is None else f"{100 * row['argmax_agreement']:.1f}%"
        lines.append(
            f"{row['path']:34s} {row['case']:8s} {row['max_abs_error']:11.2e} {row['relative_error']:9.2e} {agreement:>7s}  {row['status']}"
        )
    if report["cross_format"]:
        lines += ["", "float32 formats against each other (max abs difference):"]
        for row in report["cross_format"]:
            lines.append(f"  {row['role']:12s} {row['case']:8s} {row['formats']:24s} {row['max_abs_error']:.2e}")
    lines.append("")
    lines.append("PASSED" if report["passed"] else "FAILED")
    return "\n".join(lines)
