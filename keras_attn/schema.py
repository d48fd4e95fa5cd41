"""The layouts of the JSON files keras-attn reads back: an export's
`manifest.json` and a run's `config.json`, as JSON Schemas.

Both are checked on read, before any field is used: a field that is
missing, of another type or out of range is a `SchemaError` naming the file
and the field (`manifest.json: artifacts[0].sha256: ...`), never a
`KeyError` or a traceback further on. Pure Python (`jsonschema`, imported
when a file is checked: training alone, as on the GPU machine, never needs it).
"""

_COUNT = {"type": "integer", "minimum": 1}
_ID = {"type": "integer", "minimum": 0}
_NAME = {"type": "string", "minLength": 1}
_DIMENSIONS = {"type": "array", "items": {"type": ["integer", "null"], "minimum": 0}}
_TENSOR = {"type": "object", "required": ["name", "dtype", "shape"],
           "properties": {"name": _NAME, "dtype": _NAME, "shape": _DIMENSIONS}}
_LENGTHS = {"type": "object", "additionalProperties": _COUNT,
            "propertyNames": {"enum": ["max_length", "max_source_length", "max_target_length"]}}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_FILE = {
    "type": "object",
    "required": ["path", "size_bytes", "sha256"],
    "properties": {"path": _NAME, "size_bytes": {"type": "integer", "minimum": 0},
                   "sha256": _SHA256},
}
_ARTIFACT = {
    "allOf": [_FILE],
    "type": "object",
    "required": ["format", "role", "quantization", "inputs", "outputs"],
    "properties": {
        "format": {"enum": ["saved_model", "tflite", "onnx"]},
        "role": {"enum": ["forward", "prefill", "step", "greedy_search", "beam_search", "text"]},
        "quantization": {"enum": ["float32", "fp16", "int8"]},
        "inputs": {"type": "array", "items": _TENSOR},
        "outputs": {"type": "array", "items": _TENSOR},
        "max_lengths": {"type": "object", "additionalProperties": _COUNT},
        "opset": _COUNT,
    },
    "if": {"properties": {"role": {"not": {"const": "text"}}}},
    "then": {"required": ["max_lengths"]},
}
_VOCABULARY_SIZES = {"type": "object", "minProperties": 1, "additionalProperties": _COUNT}
_RUNTIME = {
    "type": "object",
    "required": ["task", "vocabulary_sizes"],
    "properties": {"task": {"enum": ["translation", "classification", "embedding", "masked_lm"]},
                   "vocabulary_sizes": _VOCABULARY_SIZES},
    "if": {"properties": {"task": {"const": "translation"}}},
    "then": {
        "required": ["prompt_input", "start_id", "end_id", "fixed_prompt_length", "max_prompt_length", "max_steps"],
        "properties": {
            "prompt_input": _NAME, "start_id": _ID, "end_id": _ID, "pad_id": _ID,
            "fixed_prompt_length": {"type": ["integer", "null"], "minimum": 1}, "max_prompt_length": _COUNT,
            # null: an export from before steps were bounded (the runtime bounds them).
            "max_steps": {"type": ["integer", "null"], "minimum": 1},
            "target_vocabulary_size": _COUNT,
        },
    },
    "else": {"required": ["max_length"],
             "properties": {"max_length": _COUNT, "zero_inputs": {"type": "array", "items": _NAME}}},
}

MANIFEST = {
    "type": "object",
    "required": ["format", "class", "lengths", "runtime", "artifacts"],
    "properties": {
        "format": {"type": "integer"},
        "class": _NAME,
        "model": {"type": "string"},
        "task_type": {"type": "string"},
        "lengths": _LENGTHS,
        "runtime": _RUNTIME,
        "artifacts": {"type": "array", "minItems": 1, "items": _ARTIFACT},
        "assets": {"type": "array", "items": _FILE},
        "versions": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

# Where a run's data came from: a built-in task, a named corpus, the user's files, or pretraining texts.
_DATA = {
    "type": "object",
    "properties": {
        "builtin": _NAME, "corpus": _NAME, "texts": {"type": "array", "items": _NAME},
        "files": {"type": "object", "required": ["train"], "additionalProperties": _NAME},
        "examples": {"type": ["integer", "null"], "minimum": 1}, "seed": {"type": "integer"},
        "max_length": _COUNT, "tokenization": _NAME, "sha256": {"type": "object", "additionalProperties": _SHA256},
    },
    "oneOf": [{"required": ["builtin", "examples", "seed"]},
              {"required": ["corpus", "examples", "seed", "max_length", "sha256"]},
              {"required": ["files", "seed", "tokenization", "max_length", "sha256"]},
              {"required": ["texts"]}],
}

RUN_CONFIG = {
    "type": "object",
    "required": ["format", "preset", "class", "tokenization", "lengths", "config"],
    "properties": {
        "format": {"type": "integer"},
        "preset": {"type": ["string", "null"]},
        "class": _NAME,
        "task": {"type": ["string", "null"]},  # null: an imported checkpoint
        "tokenization": _NAME,
        "lengths": _LENGTHS,
        "labels": {"type": ["array", "null"], "items": {"type": ["string", "integer"]}},
        "data": {"oneOf": [{"type": "null"}, _DATA]},  # null: a task built in code, with no origin
        "imported": {"type": "object"},
        "config": {"type": "object"},
    },
}


class SchemaError(ValueError):
    """A JSON file keras-attn wrote whose fields are not of its layout."""


def check(value, schema, what):
    """Raises `SchemaError` naming `what` and the first wrong field unless `value` follows `schema`."""
    import jsonschema

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(value))
    if error is None:
        return value
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    raise SchemaError(f"{what}: {field.lstrip('.') or 'the top level'}: {error.message}")
