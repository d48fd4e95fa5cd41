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
- `greedy`: the prefill and step artifacts generate greedily with
  `keras_attn.inference.search`, token by token against Keras; the
  `greedy_search` artifact (the whole search as one graph) against
  `generate`, on the prompts with more padding;
- `beam`: the `beam_search` artifact against `beam_generate` (beam 4);
- `real`: when the export holds the run files of `keras-attn train`
  (`keras_attn.run_directory`), held-out examples of its task (real dates
  or sentences, not random ids) join the cases, and greedy decoding runs
  on them.

Before any of it, the integrity of the export (`integrity_rows`): every
file the manifest lists inside the directory, of its size and sha256, and
no file it does not list; an artifact that fails it, or cannot be opened,
is a failed row and is not run.

Pass rules (`_status`): float32, max abs error of the logits <= 1e-4 (the
scores for a whole search) and identical tokens; every artifact against
itself with more padding, the same; float16, argmax agreement with Keras
(the share of tokens equal for a whole search) >= 99%; int8, >= 95% on the
run's held-out examples and in greedy and beam decoding (random ids: reported).
Sentence embeddings (a model's `directional` outputs) have no argmax: their floor is
the cosine similarity to Keras, row by row, >= 0.9999 in float32 and >= 0.99
quantized, on every case.
"""

import json
import os

import numpy as np

from keras_attn import integrity, models, run_directory, runtime
from keras_attn.inference import decoding, search
from keras_attn.saving import float32_copy

FLOAT32_TOLERANCE = 1e-4
# Argmax agreement with Keras that quantized artifacts must reach (see `_status`).
QUANTIZED_AGREEMENT = {"fp16": 0.99, "int8": 0.95}
# The least cosine similarity to Keras of an embedding, row by row.
COSINE_FLOOR = {"float32": 0.9999, "fp16": 0.99, "int8": 0.99}
EXTRA_PADDING = 3
# The searches `verify` runs: at most this many steps, and beam search's settings.
SEARCH_STEPS, BEAM_SIZE, ALPHA = 12, 4, 0.6


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
    path = integrity.resolve(directory, artifact["path"])
    if artifact["format"] == "saved_model":
        return SavedModelRunner(path)
    return runtime.RUNNERS[artifact["format"]](path)


def _case_lengths(limit):
    """Row lengths: one row; a mixed batch; rows near the longest allowed."""
    limit = max(3, limit)
    short = max(2, limit // 3)
    return {
        "batch1": [short],
        "mixed": [limit // 2, 2, short, limit // 2 - 1],
        "long": [limit - 1, limit - EXTRA_PADDING - 1],
    }


def real_case(model, directory, manifest):
    """Eight of the run's held-out examples, as the forward piece's inputs, or `None`."""
    task = run_directory.load_held_out(directory)
    if task is None or any(task.lengths()[name] > manifest["lengths"][name] for name in manifest["lengths"]):
        return None
    return _trim(model.real_inputs(task, 8), model.pad_id)


def _trim(inputs, pad_id):
    """Drops the columns after the last real (not `pad_id`) id of every row
    of the 2-D token ids; arrays of one shape (token ids and their all-zero
    segment ids) keep one width. Marian's decoder input starts with its
    padding id, so the width is the last real position, not a count."""
    widths = {}
    for value in inputs.values():
        if value.ndim == 2 and value.shape[1]:
            real = value != pad_id
            last = int((real * np.arange(1, value.shape[1] + 1)).max())
            widths[value.shape] = max(widths.get(value.shape, 1), last)
    return {name: value[:, : widths[value.shape]] if value.shape in widths else value
            for name, value in inputs.items()}


def make_cases(model, manifest, seed=0):
    """`{case name: Keras inputs}`: right-padded batches of mixed lengths."""
    rng = np.random.default_rng(seed)
    lengths = manifest["lengths"]
    return {name: model.example_inputs(lengths, rng, rows)
            for name, rows in _case_lengths(min(lengths.values())).items()}


def _padded(inputs, artifact, extra, pad_id):
    """The artifact's view of `inputs`: the inputs with a length axis (its
    `max_lengths`) padded with `pad_id` to their fixed length, or `extra` more columns."""
    shapes = {spec["name"]: spec["shape"] for spec in artifact["inputs"]}
    out = dict(inputs)
    for name, limit in artifact["max_lengths"].items():
        if name in inputs:
            fixed = shapes[name][1]
            width = fixed if fixed is not None else min(inputs[name].shape[1] + extra, limit)
            out[name] = search.pad_to(inputs[name], width, pad_id)
    return out


def _compare(reference, candidate, source_ids=None, source_aligned=None, directional=(), pad_id=0):
    """Max abs and relative errors over the reference's shape, and argmax
    agreement of the logits; outputs over source positions (the model's
    `source_aligned`: `{name: axis of the positions}`) only at real source
    positions; the least cosine similarity of the model's `directional`
    outputs."""
    source_aligned = source_aligned or {}
    worst = {"max_abs_error": 0.0, "relative_error": 0.0, "argmax_agreement": None}
    for name, ref in reference.items():
        got = candidate[name][tuple(slice(0, n) for n in ref.shape)].astype("float64")
        ref = ref.astype("float64")
        if name in source_aligned and source_ids is not None:
            shape = [1] * ref.ndim
            shape[0], shape[source_aligned[name]] = source_ids.shape
            keep = (source_ids != pad_id).reshape(shape)
            got, ref = got * keep, ref * keep
        error = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        scale = float(np.max(np.abs(ref))) or 1.0
        worst["max_abs_error"] = max(worst["max_abs_error"], error)
        worst["relative_error"] = max(worst["relative_error"], error / scale)
        if name == "logits":
            worst["logits_error"] = error
            worst["argmax_agreement"] = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
        if name in directional:
            worst["cosine"] = min(worst.get("cosine", 1.0), cosine_similarity(got, ref))
    return worst


def cosine_similarity(got, ref):
    """The least cosine similarity of matching rows (1 where both rows are zero)."""
    norms = np.linalg.norm(got, axis=-1) * np.linalg.norm(ref, axis=-1)
    cosine = np.where(norms > 0, (got * ref).sum(-1) / np.maximum(norms, 1e-30), 1.0)
    return float(cosine.min()) if cosine.size else 1.0


def _status(artifact, row, case):
    """Float32 (and any artifact against itself with more padding): logits
    within `FLOAT32_TOLERANCE` and identical greedy tokens. Quantized: argmax
    agreement with Keras of at least `QUANTIZED_AGREEMENT[quantization]` on
    the cases where it means something: every case for float16; the run's
    held-out examples and greedy decoding for int8 (random ids through an
    int8 model are reported only)."""
    quantization = artifact["quantization"]
    if "cosine" in row:
        exact = quantization == "float32" or case == "padding"
        floor = COSINE_FLOOR["float32" if exact else quantization]
        close = row["max_abs_error"] <= FLOAT32_TOLERANCE or not exact
        return "pass" if close and row["cosine"] >= floor else "fail"
    if quantization == "float32" or case == "padding":
        ok = row.get("logits_error", row["max_abs_error"]) <= FLOAT32_TOLERANCE
        return "pass" if ok and row.get("tokens_equal", True) else "fail"
    if quantization == "int8" and case not in ("real", "greedy", "beam"):
        return "info"
    agreement = row["argmax_agreement"]
    return "pass" if agreement is None or agreement >= QUANTIZED_AGREEMENT[quantization] else "fail"


class _RecordingGenerator:
    """Wraps a search generator and keeps the logits of every step."""

    def __init__(self, generator):
        self.generator, self.logits = generator, []

    def prefill(self, prompt_ids):
        return self.generator.prefill(prompt_ids)

    def step(self, token_ids, step, state):
        outputs = self.generator.step(token_ids, step, state)
        self.logits.append(np.asarray(outputs["logits"], "float64"))
        return outputs


def _greedy_row(model, manifest, prefill, step, prompt_ids):
    max_length = min(manifest["lengths"]["max_target_length"], SEARCH_STEPS)
    spec = manifest["runtime"]
    ids = runtime.search_ids(spec)
    keras_decoder = _RecordingGenerator(decoding.KerasGenerator(model))
    artifact_decoder = _RecordingGenerator(
        runtime.ArtifactGenerator(prefill, step, spec["prompt_input"], spec["fixed_prompt_length"], ids["pad_id"]))
    expected = search.greedy_search(keras_decoder, prompt_ids, max_length, **ids)
    got = search.greedy_search(artifact_decoder, prompt_ids, max_length, **ids)
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


def _search_row(model, manifest, artifact, runner, prompt_ids):
    """A whole exported search (`greedy_search`, or `beam_search`) on the
    prompts with more padding, against the compiled Keras search on them:
    tokens, scores and the share of tokens equal."""
    max_length = min(manifest["lengths"]["max_target_length"], SEARCH_STEPS)
    padded = _padded({model.prompt_name: prompt_ids}, artifact, EXTRA_PADDING, model.pad_id)[model.prompt_name]
    if artifact["role"] == "greedy_search":
        expected = model.generate(prompt_ids, max_length=max_length)
        got = runtime.run_search(runner, manifest["runtime"], padded, max_length)
    else:
        expected = model.beam_generate(prompt_ids, beam_size=BEAM_SIZE, alpha=ALPHA, max_length=max_length)
        got = runtime.run_search(runner, manifest["runtime"], padded, max_length, BEAM_SIZE, ALPHA)
    width = max(expected.tokens.shape[1], got.tokens.shape[1])
    same = (search.pad_to(expected.tokens, width, model.pad_id) == search.pad_to(got.tokens, width, model.pad_id))
    error = float(np.max(np.abs(expected.scores - got.scores)))
    return {"max_abs_error": error, "relative_error": error / (float(np.max(np.abs(expected.scores))) or 1.0),
            "argmax_agreement": float(same.mean()),
            "tokens_equal": bool(expected.tokens.shape == got.tokens.shape and same.all())}


def _text_row(directory, artifact, model, manifest):
    """The string signature on held-out sentences against Keras on the same text."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers its tokenizers' ops before the graph loads)

    from keras_attn.export import text_signatures

    held_out = run_directory.load_held_out(directory)
    if held_out is None:
        return {"case": "real", "max_abs_error": None, "relative_error": None, "argmax_agreement": None,
                "status": "fail", "reason": f"no {run_directory.HELD_OUT} to check the text signature on"}
    tokenizers = run_directory.load_tokenizers(directory)
    texts = [text for text, _ in held_out.examples["test"][:8]]
    loaded = tf.saved_model.load(os.path.join(directory, artifact["path"]))  # keeps the variables alive
    got = getattr(loaded, artifact["signature"])(tf.constant(texts))
    signature = text_signatures.signature_for(model)
    expected = signature.reference(model, tokenizers, texts, manifest["lengths"])
    if artifact["signature"] == "translate":
        got = [t.decode("utf-8") for t in got["translation"].numpy()]
        agreement = float(np.mean([a == b for a, b in zip(got, expected)]))
        status = "pass" if agreement == 1.0 else "fail"
        return {"case": "real", "max_abs_error": 0.0, "relative_error": 0.0, "argmax_agreement": agreement, "status": status}
    name = signature.outputs[0]["name"]
    row = _compare({signature.compared: expected}, {signature.compared: got[name].numpy()},
                   directional=model.directional)
    row.update(case="real", status=_status(artifact, row, "real") if "cosine" in row else
               "pass" if row["max_abs_error"] <= FLOAT32_TOLERANCE else "fail")
    return row


def _row(entry, case, status, reason=None):
    """A report row that compares nothing (integrity, or an artifact that cannot run)."""
    return {"path": entry["path"], "format": entry.get("format", "asset"), "role": entry.get("role", "asset"),
            "quantization": entry.get("quantization", ""), "case": case, "max_abs_error": None,
            "relative_error": None, "argmax_agreement": None, "status": status, **({"reason": reason} if reason else {})}


def settings_row(model, manifest):
    """One row: the manifest's lengths and runtime settings are what the model
    itself gives for them (an edited `pad_id` or vocabulary size fails here)."""
    lengths = model.export_lengths(manifest["lengths"])
    expected = {"lengths": lengths, "runtime": model.runtime_spec(lengths)}
    wrong = [f"{part}.{key} is {manifest[part].get(key)!r}, the model's {value!r}"
             for part in expected for key, value in sorted(expected[part].items()) if manifest[part].get(key) != value]
    wrong += [f"{part}.{key}: not a setting of this model" for part in expected for key in sorted(manifest[part])
              if key not in expected[part]]
    entry = {"path": integrity.MANIFEST, "format": "json", "role": "manifest"}
    return _row(entry, "settings", "fail", "; ".join(wrong)) if wrong else _row(entry, "settings", "pass")


def integrity_rows(directory, manifest):
    """One row per file the manifest lists (inside the directory, present, its
    size and sha256), and one per file it does not list."""
    rows = []
    for entry in integrity.entries(manifest):
        try:
            integrity.check(directory, entry)
            rows.append(_row(entry, "integrity", "pass"))
        except (integrity.IntegrityError, OSError) as error:
            rows.append(_row(entry, "integrity", "fail", str(error)))
    for name in integrity.unlisted(directory, manifest):
        rows.append(_row({"path": name}, "integrity", "fail", f"{name}: not listed in the manifest"))
    return rows


def verify(directory, model):
    """Checks the export's integrity, then runs the parity suite on the
    artifacts that passed it, against `model`; writes
    `directory/parity.json` and returns the report."""
    manifest = integrity.read_manifest(directory)
    name = models.registered_name(models.check(model))
    if name != manifest["class"]:
        raise ValueError(f"The model is a {name} but {directory} holds an export of a {manifest['class']}.")
    model = float32_copy(model)  # what was exported
    cases = make_cases(model, manifest)
    real = real_case(model, directory, manifest)
    if real is not None:
        cases["real"] = real
    outputs_by_case = {}
    rows = [settings_row(model, manifest)] + integrity_rows(directory, manifest)
    broken = {row["path"] for row in rows if row["status"] == "fail"}
    runners = {}
    for artifact in manifest["artifacts"]:
        if artifact["role"] == "text" or artifact["path"] in broken:
            continue
        try:
            runners[artifact["path"]] = open_artifact(directory, artifact)
            if artifact["format"] in runtime.RUNNERS:
                runtime.check_described(runners[artifact["path"]], artifact, manifest["runtime"])
        except Exception as error:  # an unparsable file: a failed check, not a crash
            rows.append(_row(artifact, "open", "fail", f"cannot be opened: {type(error).__name__}: {error}"[:300]))
            broken.add(artifact["path"])

    for artifact in manifest["artifacts"]:
        if artifact["path"] in broken:
            continue
        if artifact["role"] == "text":
            row = _text_row(directory, artifact, model, manifest)
            rows.append({**{k: artifact[k] for k in ("path", "format", "role", "quantization")}, **row})
            continue
        runner = runners[artifact["path"]]
        base = {k: artifact[k] for k in ("path", "format", "role", "quantization")}
        if artifact["role"] == "step":
            prefill = next(
                a for a in manifest["artifacts"]
                if a["role"] == "prefill" and a["format"] == artifact["format"] and a["quantization"] == artifact["quantization"]
            )
            if prefill["path"] in broken:
                rows.append(_row(artifact, "greedy", "fail", f"its prefill {prefill['path']} failed its checks"))
                continue
            prompt = cases.get("real", cases["mixed"])[model.aligned_input]
            row = _greedy_row(model, manifest, runners[prefill["path"]], runner, prompt)
            rows.append({**base, "case": "greedy", **row, "status": _status(artifact, row, "greedy")})
            continue
        if artifact["role"] in ("greedy_search", "beam_search"):
            case = "greedy" if artifact["role"] == "greedy_search" else "beam"
            row = _search_row(model, manifest, artifact, runner, cases.get("real", cases["mixed"])[model.aligned_input])
            rows.append({**base, "case": case, **row, "status": _status(artifact, row, case)})
            continue
        for case, inputs in cases.items():
            role_inputs = model.role_inputs(artifact["role"], inputs)
            reference = model.reference_outputs(artifact["role"], role_inputs)
            got = runner(_padded(role_inputs, artifact, EXTRA_PADDING, model.pad_id))
            row = _compare(reference, got, role_inputs.get(model.aligned_input), model.source_aligned,
                           model.directional, model.pad_id)
            rows.append({**base, "case": case, **row, "status": _status(artifact, row, case)})
            if artifact["quantization"] == "float32":
                outputs_by_case.setdefault((artifact["role"], case), {})[artifact["format"]] = (reference, got)
        if all(spec["shape"][1] is None for spec in artifact["inputs"] if spec["name"] in artifact["max_lengths"]):
            # Padding invariance of the artifact itself.
            role_inputs = model.role_inputs(artifact["role"], cases["mixed"])
            plain = runner(_padded(role_inputs, artifact, 0, model.pad_id))
            padded = runner(_padded(role_inputs, artifact, EXTRA_PADDING, model.pad_id))
            row = _compare(plain, padded, role_inputs.get(model.aligned_input), model.source_aligned,
                           model.directional, model.pad_id)
            rows.append({**base, "case": "padding", **row, "status": _status(artifact, row, "padding")})

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
    report["not_saved"] = _save_report(directory, report)
    return report


def _save_report(directory, report):
    """Writes `parity.json` whole (or not at all); `None` once written, else why
    it could not be (a read-only export still gets its verdict)."""
    path = os.path.join(directory, integrity.PARITY_REPORT)
    partial = f"{path}.{os.getpid()}.tmp"
    try:
        with open(partial, "w") as f:
            json.dump(report, f, indent=2)
        os.replace(partial, path)
    except OSError as error:
        if os.path.exists(partial):
            os.remove(partial)
        return f"{integrity.PARITY_REPORT} could not be saved: {error.strerror or error}"
    return None


def format_table(report):
    """One line per artifact and case, then the cross-format differences."""
    header = f"{'artifact':34s} {'case':9s} {'max abs err':>11s} {'rel err':>9s} {'argmax':>7s} {'cosine':>8s}  status"
    lines = [header, "-" * len(header)]
    for row in report["rows"]:
        agreement = "" if row["argmax_agreement"] is None else f"{100 * row['argmax_agreement']:.1f}%"
        errors = ("-" if row["max_abs_error"] is None else f"{row['max_abs_error']:.2e}",
                  "-" if row["relative_error"] is None else f"{row['relative_error']:.2e}")
        reason = f"  ({row['reason']})" if row.get("reason") else ""
        cosine = f"{row['cosine']:.6f}" if row.get("cosine") is not None else ""
        lines.append(f"{row['path']:34s} {row['case']:9s} {errors[0]:>11s} {errors[1]:>9s} {agreement:>7s} "
                     f"{cosine:>8s}  {row['status']}{reason}")
    if report["cross_format"]:
        lines += ["", "float32 formats against each other (max abs difference):"]
        for row in report["cross_format"]:
            lines.append(f"  {row['role']:12s} {row['case']:8s} {row['formats']:24s} {row['max_abs_error']:.2e}")
    lines.append("")
    lines.append("PASSED" if report["passed"] else "FAILED")
    if report.get("not_saved"):
        lines.append(f"(the verdict stands; {report['not_saved']})")
    return "\n".join(lines)
