"""What every Hugging Face directory shares, whatever the architecture:
`config.json`, weights read from safetensors only (a pickle runs code when
loaded), the checksums an import records, and one weight table that maps
tensor names to Keras variables both ways. Numpy and safetensors; no PyTorch.

>>> rows = dense_rows("fc1", type("Dense", (), {"kernel": "K", "bias": "b"})())
>>> [(name, transposed) for name, _, transposed in rows]
[('fc1.weight', True), ('fc1.bias', False)]
"""

import json
import os

import numpy as np

from keras_attn import integrity

PICKLED = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "model.pth", "tf_model.h5",
           "flax_model.msgpack")
SAFETENSORS, SAFETENSORS_INDEX = "model.safetensors", "model.safetensors.index.json"
FLOAT_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}  # BF16: decoded by hand (numpy has no bfloat16)


class CheckpointError(ValueError):
    """A directory the zoo cannot import (or a run it cannot export) exactly."""


# --- Weight tables: `[(tensor name, Keras variable, transposed)]`. ---

def dense_rows(name, layer):
    """A PyTorch `Linear` as a Keras `Dense`: the weight is the kernel transposed."""
    return [(f"{name}.weight", layer.kernel, True), (f"{name}.bias", layer.bias, False)]


def norm_rows(name, layer):
    return [(f"{name}.weight", layer.gamma, False), (f"{name}.bias", layer.beta, False)]


def assign(model, table, tensors, ignored=()):
    """Sets every variable of `table` from `tensors`, refusing missing,
    unexpected (other than `ignored`) or misshapen tensors, all listed at once."""
    expected = {name for name, _, _ in table}
    missing = sorted(expected - set(tensors))
    unexpected = sorted(set(tensors) - expected - set(ignored))
    if missing or unexpected:
        parts = [f"{what} tensors {names}" for what, names in (("missing", missing), ("unexpected", unexpected)) if names]
        raise CheckpointError(f"The checkpoint does not fit a {type(model).__name__}: {'; '.join(parts)}.")
    wrong = []
    for name, variable, transposed in table:
        value = tensors[name].T if transposed else tensors[name]
        if tuple(value.shape) != tuple(variable.shape):
            wrong.append(f"{name} {tuple(tensors[name].shape)}")
    if wrong:
        raise CheckpointError(f"Tensors of the wrong shape for config.json: {', '.join(wrong)}.")
    for name, variable, transposed in table:
        variable.assign(np.ascontiguousarray(tensors[name].T if transposed else tensors[name], np.float32))


def table_tensors(table):
    """`{tensor name: float32 array}` of a weight table."""
    tensors = {}
    for name, variable, transposed in table:
        value = np.array(variable, np.float32)
        tensors[name] = np.ascontiguousarray(value.T if transposed else value)
    return tensors


def write_tensors(tensors, directory):
    from safetensors.numpy import save_file

    save_file(tensors, os.path.join(directory, SAFETENSORS), metadata={"format": "pt"})


# --- Reading a directory. ---

def read_config(path):
    """`config.json` of the directory `path`."""
    if not os.path.isdir(path):
        raise CheckpointError(f"{path} is not a directory.")
    config_path = os.path.join(path, "config.json")
    if not os.path.exists(config_path):
        raise CheckpointError(f"{path} holds no config.json.")
    return integrity.read_json(config_path, "checkpoint config")


def read_tensors(path):
    """`{name: float32 or integer array}` of every safetensors file of the directory."""
    tensors = {}
    for name in _weight_files(path):
        tensors.update(_read_safetensors(os.path.join(path, name)))
    return tensors


def _read_safetensors(path):
    from safetensors import safe_open

    tensors = {}
    try:
        with safe_open(path, framework="np") as f:
            for name in f.keys():
                dtype = f.get_slice(name).get_dtype()
                if dtype == "BF16":
                    continue
                tensor = f.get_tensor(name)
                tensors[name] = tensor.astype(np.float32) if dtype in FLOAT_DTYPES else tensor
        tensors.update(_bfloat16_tensors(path))
    except Exception as error:  # safetensors' own errors are not ValueErrors
        raise CheckpointError(f"{path} is not a readable safetensors file ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''}).") from None
    return tensors


def _bfloat16_tensors(path):
    """The BF16 tensors of a safetensors file, as float32: the upper half of a float32's bits."""
    with open(path, "rb") as f:
        header_size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(header_size))
        tensors = {}
        for name, entry in header.items():
            if name == "__metadata__" or entry["dtype"] != "BF16":
                continue
            start, end = entry["data_offsets"]
            f.seek(8 + header_size + start)
            halves = np.frombuffer(f.read(end - start), "<u2").astype(np.uint32) << 16
            tensors[name] = halves.view(np.float32).reshape(entry["shape"])
    return tensors


def _weight_files(path):
    """The safetensors files of a directory (one, or the index's shards); refuses pickles."""
    pickled = [name for name in PICKLED if os.path.exists(os.path.join(path, name))]
    if os.path.exists(os.path.join(path, SAFETENSORS)):
        return [SAFETENSORS]
    if os.path.exists(os.path.join(path, SAFETENSORS_INDEX)):
        index = integrity.read_json(os.path.join(path, SAFETENSORS_INDEX), "safetensors index")
        shards = sorted(set((index.get("weight_map") or {}).values()))
        missing = [shard for shard in shards if not os.path.exists(os.path.join(path, shard))]
        if not shards or missing:
            raise CheckpointError(f"{SAFETENSORS_INDEX} lists shards that are not in {path}: {missing or 'none'}.")
        return shards
    if pickled:
        raise CheckpointError(f"{path} holds only pickled weights ({', '.join(pickled)}); loading a pickle runs "
                              f"code, so only safetensors are read: convert it with transformers' "
                              f"`save_pretrained(..., safe_serialization=True)`.")
    raise CheckpointError(f"{path} holds no {SAFETENSORS} (or {SAFETENSORS_INDEX}).")


def architecture(config, architectures):
    """The one name of `config["architectures"]` that is a key of `architectures`."""
    names = config.get("architectures") or []
    if len(names) != 1 or names[0] not in architectures:
        raise CheckpointError(f"config.json: `architectures`={names!r}; the zoo imports one of "
                              f"{sorted(architectures)}.")
    return names[0]


def checksums(path, suffixes=(".safetensors", ".json", ".txt")):
    """`{relative path: sha256}` of every file of the directory that describes
    the model (weights, configs, tokenizer), by file suffix."""
    sums = {}
    for folder, _, names in os.walk(path):
        for name in names:
            if name.endswith(suffixes):
                full = os.path.join(folder, name)
                sums[os.path.relpath(full, path)] = integrity.digest(full)[1]
    return dict(sorted(sums.items()))


def origin(path, architecture_name, suffixes=(".safetensors", ".json", ".txt")):
    """What a run directory records of the checkpoint it was imported from."""
    return {"huggingface": os.path.abspath(path), "architecture": architecture_name,
            "sha256": checksums(path, suffixes)}

