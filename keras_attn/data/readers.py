"""Real corpora: readers, dataset names and grouped splits. Pure Python and numpy.

Readers:
- `read_pairs`: the Anki / Tatoeba tab-separated pair files
  (`english<TAB>other`, or the newer form with a third attribution column);
- `read_labeled`: GLUE-style TSV with a header (`sentence<TAB>label`);
- `read_text`: plain text, one passage a line, for pretraining.

Each returns a `Corpus`: the good records and the problems it skipped, as
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

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _raw_lines(path):
    """`(number, bytes or None)` per line, read a block at a time: a line over
    `MAX_LINE_BYTES` yields `None` and is skipped to its end, never held whole."""
    with open(path, "rb") as f:
        start = f.read(4)
        if start.startswith(_UTF16_BOMS):
            raise CorpusError(f"{path}: UTF-16 text; save it as UTF-8.")
        f.seek(3 if start.startswith(b"\xef\xbb\xbf") else 0)  # a UTF-8 byte-order mark is dropped
        number = 0
        while True:
            line = f.readline(MAX_LINE_BYTES + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):
                    line = f.readline(MAX_LINE_BYTES)
                yield number, None
                continue
            yield number, line.rstrip(b"\n")


def _read_lines(path, parse, max_bad_fraction, skip_header=False):
    if not os.path.isfile(path):
        raise CorpusError(f"{path}: no such file.")
    records, problems = [], []
    for number, raw in _raw_lines(path):
        if skip_header and number == 1:
            continue
        if raw is None:
            problems.append(f"{path}:{number}: longer than {MAX_LINE_BYTES:,d} bytes")
            continue
        try:
            line = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as error:
            problems.append(f"{path}:{number}: invalid UTF-8 at byte {error.start}")
            continue
        if not line.strip():
            continue
        try:
            records.append(parse(line))
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


def _parse_pair(line):
    columns = line.split("\t")
    if len(columns) not in (2, 3):
        raise ValueError(f"expected 2 or 3 tab-separated columns, found {len(columns)}")
    first, second = columns[0].strip(), columns[1].strip()
    if not first or not second:
        raise ValueError("an empty sentence")
    return first, second


def _parse_labeled(line, integer_labels=True):
    sentence, sep, label = line.rpartition("\t")
    if not sep:
        raise ValueError("no tab between sentence and label")
    if not sentence.strip():
        raise ValueError("an empty sentence")
    if not integer_labels:
        if not label.strip():
            raise ValueError("an empty label")
        return sentence.strip(), label.strip()
    try:
        return sentence.strip(), int(label)
    except ValueError:
        raise ValueError(f"label {label!r} is not an integer") from None


def read_pairs(path, max_bad_fraction=0.1):
    """`(english, other)` pairs of an Anki/Tatoeba file."""
    return _read_lines(path, _parse_pair, max_bad_fraction)


def read_labeled(path, max_bad_fraction=0.1, header=True, integer_labels=True):
    """`(sentence, label)` rows of a TSV: GLUE's (a header line, integer
    labels) by default; `header=False, integer_labels=False` for a user's
    file whose labels may be names."""
    return _read_lines(path, lambda line: _parse_labeled(line, integer_labels), max_bad_fraction, skip_header=header)


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
