"""The integrity of an export directory: every file its `manifest.json`
lists is inside the directory, present, of the recorded size and sha256,
and nothing else is there. Pure Python: the exporter records, `verify`
checks everything, `keras_attn.runtime.ExportedModel` checks what it opens.
"""

import hashlib
import json
import os

from keras_attn import schema

# Files an export directory may hold besides what its manifest lists.
MANIFEST, PARITY_REPORT = "manifest.json", "parity.json"
# The manifest's layout: 2 since models are classes (the manifest names the class and the
# generation pieces `prefill`/`step`); exports without a `format` are of layout 1.
MANIFEST_FORMAT = 2


class IntegrityError(ValueError):
    """An export file that is missing, outside the directory, or not what the manifest recorded."""


def digest(path):
    """`(size in bytes, sha256)` of a file, or of a directory's files (their
    relative paths and contents, in sorted order)."""
    if os.path.isfile(path):
        files = [(os.path.basename(path), path)]
    else:
        files = sorted(
            (os.path.relpath(os.path.join(root, name), path), os.path.join(root, name))
            for root, _, names in os.walk(path)
            for name in names
        )
    sha, size = hashlib.sha256(), 0
    for relative, file_path in files:
        if os.path.isdir(path):
            sha.update(relative.encode("utf-8") + b"\0")
        with open(file_path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                sha.update(block)
                size += len(block)
    return size, sha.hexdigest()


def record(directory, relative):
    """The manifest fields of a file or folder inside `directory`."""
    size, sha256 = digest(os.path.join(directory, relative))
    return {"path": relative, "size_bytes": size, "sha256": sha256}


def resolve(directory, relative):
    """The real path of manifest entry `relative`, which must stay inside
    `directory`: absolute paths, `..` and links leading out are refused."""
    if not isinstance(relative, str) or not relative or os.path.isabs(relative) or ".." in relative.split("/"):
        raise IntegrityError(f"{relative!r}: not a relative path inside the export directory")
    root = os.path.realpath(directory)
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([root, path]) != root:
        raise IntegrityError(f"{relative}: leads outside the export directory")
    return path


def check(directory, entry):
    """Raises `IntegrityError` unless `entry` (a manifest record) is inside
    `directory`, present, free of links (a folder's files too), and of its
    recorded size and sha256."""
    path = resolve(directory, entry["path"])
    if not os.path.exists(path):
        raise IntegrityError(f"{entry['path']}: missing")
    for root, folders, names in os.walk(path) if os.path.isdir(path) else ():
        linked = [name for name in folders + names if os.path.islink(os.path.join(root, name))]
        if linked:  # a link inside a folder artifact could lead anywhere, and a linked folder is not hashed
            inner = os.path.relpath(os.path.join(root, linked[0]), path)
            raise IntegrityError(f"{entry['path']}: holds a link ({inner}); an artifact's files must be its own")
    size, sha256 = digest(path)
    if size != entry["size_bytes"]:
        raise IntegrityError(f"{entry['path']}: {size:,d} bytes, the manifest says {entry['size_bytes']:,d}")
    if sha256 != entry["sha256"]:
        raise IntegrityError(f"{entry['path']}: sha256 differs from the manifest's")


def entries(manifest):
    """Every file record of a manifest: artifacts and assets."""
    return list(manifest.get("artifacts", [])) + list(manifest.get("assets", []))


def unlisted(directory, manifest):
    """Top-level files and folders of `directory` that the manifest does not list."""
    listed = {entry["path"].split("/")[0] for entry in entries(manifest)} | {MANIFEST, PARITY_REPORT}
    return sorted(set(os.listdir(directory)) - listed)


def read_json(path, what, expected=dict):
    """The JSON value in `path` (an object, or a list with `expected=list`);
    `ValueError` naming `what` if it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}).") from None
    if not isinstance(value, expected):
        raise ValueError(f"{path} is not a {what} (a JSON {'list' if expected is list else 'object'}).")
    return value


def write_json(path, value):
    """Writes `value` as indented JSON (what `read_json` reads back)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)


def read_manifest(directory):
    """The export's `manifest.json`; `ValueError` if it is missing, not a
    manifest, written by a keras-attn of another manifest format, or not of
    the layout `keras_attn.schema.MANIFEST` (a field missing or mistyped)."""
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        raise ValueError(f"{directory} holds no manifest.json; is it an export directory?")
    manifest = read_json(path, "keras-attn manifest")
    found = manifest.get("format", 1)
    if found != MANIFEST_FORMAT:
        raise ValueError(f"{path} is of manifest format {found!r}, written by another keras-attn; this one reads "
                         f"format {MANIFEST_FORMAT}: export the model again.")
    return schema.check(manifest, schema.MANIFEST, path)
