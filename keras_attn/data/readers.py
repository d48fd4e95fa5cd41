"""Real corpora: readers, dataset names and grouped splits. Pure Python and numpy.

Readers:
- `read_pairs`: the Anki / Tatoeba tab-separated pair files
  (`english<TAB>other`, or the newer form with a third attribution column);
- `read_labeled`: GLUE-style TSV with a header (`sentence<TAB>label`);
- `read_text`: plain text, one passage a line, for pretraining.

One reader serves them all: UTF-8 with or without its byte-order mark
(UTF-16 and UTF-32, with or without a mark, are refused by name), LF, CRLF
or CR line endings, a line longer than `MAX_LINE_BYTES` skipped without
being held, and in a TSV every row of the file's column count. Each returns
a `Corpus`: the good records and the problems it skipped, as
`file:line: reason`. A corpus with more than `max_bad_fraction` of bad
lines (or none good) is refused with a `CorpusError`.

Datasets by name (`spa-eng`, `sst2`, `wikitext-2`) resolve to a local
folder laid out like `shared/data` (the `KERAS_ATTN_DATA` variable or the
`data_dir` argument), or are downloaded once with `keras.utils.get_file`
into the Keras cache.
"""

import dataclasses
import os
import re

import numpy as np

from keras_attn import progress

DATA_ENV = "KERAS_ATTN_DATA"

# name → (files inside the dataset folder, archive URL for download)
DATASETS = {
    "spa-eng": ({"pairs": "spa-eng/spa.txt"}, "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"),
    "sst2": (
        {"train": "sst2/train.tsv", "dev": "sst2/dev.tsv"},
        "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
    ),
    "wikitext-2": (
        {"valid": "wikitext-2/valid.txt", "test": "wikitext-2/test.txt"},
        "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
    ),
}
# Where each file sits inside the downloaded archive.
_ARCHIVE_PATHS = {
    "spa-eng/spa.txt": "spa-eng/spa.txt",
    "sst2/train.tsv": "SST-2/train.tsv",
    "sst2/dev.tsv": "SST-2/dev.tsv",
    "wikitext-2/valid.txt": "wikitext-2/wiki.valid.tokens",
    "wikitext-2/test.txt": "wikitext-2/wiki.test.tokens",
}


class CorpusError(ValueError):
    """A corpus that cannot be used (empty, missing, or mostly malformed)."""


@dataclasses.dataclass
class Corpus:
    records: list
    problems: list  # "file:line: reason"


MAX_LINE_BYTES = 1 << 20  # a longer line is reported, not read whole into memory
_BLOCK_BYTES = 1 << 16
_LINE_END = re.compile(rb"\r\n|\r|\n")  # LF, CRLF and CR files read alike
_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = {b"\xff\xfe\x00\x00": "UTF-32LE", b"\x00\x00\xfe\xff": "UTF-32BE", b"\xff\xfe": "UTF-16LE",
               b"\xfe\xff": "UTF-16BE"}


def _check_encoding(path, head):
    """Refuses, by name, text that is not UTF-8: a UTF-16 or UTF-32 byte-order
    mark, or NUL bytes (UTF-16 without its mark puts one in every other byte)."""
    for mark, name in _OTHER_BOMS.items():
        if head.startswith(mark):
            raise CorpusError(f"{path}: {name} text; save it as UTF-8.")
    if b"\0" not in head:
        return
    even, odd = head[0::2].count(0), head[1::2].count(0)
    if min(even, odd) * 4 < max(even, odd) and max(even, odd) * 3 > len(head) // 2:
        name = "UTF-16LE" if odd > even else "UTF-16BE"
        raise CorpusError(f"{path}: {name} text without a byte-order mark; save it as UTF-8.")
    raise CorpusError(f"{path}: holds NUL bytes (binary data, or a text encoding other than UTF-8); save it as UTF-8.")


def _raw_lines(path):
    """`(number, bytes or None)` per line (ended by LF, CRLF or CR), read a
    block at a time: a line over `MAX_LINE_BYTES` yields `None` and is
    skipped to its end, so memory never holds more than one line and a block."""
    with open(path, "rb") as f:
        head = f.read(_BLOCK_BYTES)
        _check_encoding(path, head)
        pending = head[len(_UTF8_BOM):] if head.startswith(_UTF8_BOM) else head  # the UTF-8 mark is dropped
        number, skipping = 0, False
        while True:
            block = f.read(_BLOCK_BYTES)
            if b"\0" in block:
                raise CorpusError(f"{path}: holds NUL bytes past its start; save it as UTF-8 text.")
            data, pending = pending + block, b""
            if block and data.endswith(b"\r"):  # a CR may be half of a CRLF split between blocks
                data, pending = data[:-1], b"\r"
            lines = _LINE_END.split(data)
            if block:
                pending = lines.pop() + pending  # the last line, unfinished until its end comes
            elif lines[-1] == b"":
                lines.pop()  # the file ends with a line end
            for line in lines:
                if skipping:  # the rest of an over-long line
                    skipping = False
                    continue
                number += 1
                yield number, line if len(line) <= MAX_LINE_BYTES else None
            if not block:
                return
            if len(pending) > MAX_LINE_BYTES:
                if not skipping:
                    number += 1
                    yield number, None
                skipping = True
                pending = b"\r" if pending.endswith(b"\r") else b""


def _read_lines(path, parse, max_bad_fraction, skip_header=False, columns=None):
    """The records `parse` makes of the lines of `path`. With `columns` (the
    tab-separated column counts allowed), each line is split first and every
    line must have as many columns as the file's first record."""
    if not os.path.isfile(path):
        raise CorpusError(f"{path}: no such file.")
    records, problems, width = [], [], None
    for number, raw in _raw_lines(path):
        if skip_header and number == 1:
            continue
        if raw is None:
            problems.append(f"{path}:{number}: longer than {MAX_LINE_BYTES:,d} bytes")
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            problems.append(f"{path}:{number}: invalid UTF-8 at byte {error.start}")
            continue
        if not line.strip():
            continue
        try:
            if columns is not None:
                line = line.split("\t")
                if len(line) not in columns or width not in (None, len(line)):
                    expected = width or " or ".join(map(str, columns))
                    raise ValueError(f"found {len(line)} tab-separated column(s) where the file has {expected}")
            records.append(parse(line))
            width = len(line) if columns is not None else None
        except ValueError as error:
            problems.append(f"{path}:{number}: {error}")
    examined = len(records) + len(problems)
    if not records:
        detail = f"; first problem: {problems[0]}" if problems else ""
        raise CorpusError(f"{path}: no usable lines{detail}.")
    if len(problems) > max_bad_fraction * examined:
        raise CorpusError(
            f"{path}: {len(problems)} of {examined} lines are malformed (more than "
            f"{max_bad_fraction:.0%}); first: {'; '.join(problems[:3])}."
        )
    if problems:
        progress.note(f"{path}: skipped {len(problems)} malformed line(s) of {examined}; first: "
                      + "; ".join(problems[:3]))
    return Corpus(records, problems)


def _parse_pair(columns):
    first, second = columns[0].strip(), columns[1].strip()
    if not first or not second:
        raise ValueError("an empty sentence")
    return first, second


def _parse_labeled(columns, integer_labels=True):
    sentence, label = columns[0].strip(), columns[1].strip()
    if not sentence:
        raise ValueError("an empty sentence")
    if not integer_labels:
        if not label:
            raise ValueError("an empty label")
        return sentence, label
    try:
        return sentence, int(label)
    except ValueError:
        raise ValueError(f"label {label!r} is not an integer") from None


def read_pairs(path, max_bad_fraction=0.1):
    """`(english, other)` pairs of an Anki/Tatoeba file (a third column, the
    attribution, is dropped)."""
    return _read_lines(path, _parse_pair, max_bad_fraction, columns=(2, 3))


def read_labeled(path, max_bad_fraction=0.1, header=True, integer_labels=True):
    """`(sentence, label)` rows of a TSV: GLUE's (a header line, integer
    labels) by default; `header=False, integer_labels=False` for a user's
    file whose labels may be names."""
    return _read_lines(path, lambda columns: _parse_labeled(columns, integer_labels), max_bad_fraction,
                       skip_header=header, columns=(2,))


def read_text(path, max_bad_fraction=0.1):
    """Non-empty lines of a text file, stripped; WikiText section headings (`= ... =`) dropped."""
    corpus = _read_lines(path, str.strip, max_bad_fraction)
    corpus.records = [line for line in corpus.records if not (line.startswith("=") and line.endswith("="))]
    return corpus


def clean_wikitext(line):
    """A WikiText line as plain text: `@-@`-style escapes joined back, `<unk>` dropped.

    >>> clean_wikitext("a 1 @,@ 000 @-@ year <unk> war")
    'a 1,000-year war'
    """
    line = re.sub(r" @(.)@ ", r"\1", line)
    return " ".join(word for word in line.split() if word != "<unk>")


def dataset_files(name, data_dir=None):
    """`{role: local path}` of a named dataset, downloading it if no local copy is given."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; known: {sorted(DATASETS)} (or pass a file path).")
    files, url = DATASETS[name]
    data_dir = data_dir or os.environ.get(DATA_ENV)
    if data_dir:
        return {role: os.path.join(data_dir, relative) for role, relative in files.items()}
    import keras  # only a download needs Keras's cache

    archive = keras.utils.get_file(origin=url, extract=True)
    return {role: os.path.join(archive, _ARCHIVE_PATHS[relative]) for role, relative in files.items()}


def grouped_split(keys, fractions=(0.8, 0.1, 0.1), seed=0):
    """Split indices `(train, validation, test)` such that records with the
    same key (e.g. the same source sentence) land in the same split.

    Deterministic for a seed: the distinct keys are shuffled, then cut by
    `fractions` of the distinct keys.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) < 0:
        raise ValueError(f"`fractions` must be three non-negative numbers summing to 1, got {fractions}.")
    distinct = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(distinct))
    cut1 = int(round(fractions[0] * len(distinct)))
    cut2 = cut1 + int(round(fractions[1] * len(distinct)))
    split_of = {}
    for rank, index in enumerate(order):
        split_of[distinct[index]] = 0 if rank < cut1 else 1 if rank < cut2 else 2
    splits = ([], [], [])
    for i, key in enumerate(keys):
        splits[split_of[key]].append(i)
    return tuple(np.array(s, dtype="int64") for s in splits)
