import os
import subprocess
import sys

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "exports" in getattr(item, "fixturenames", ()):
            # One worker builds the session-wide exports and runs every test that reads them.
            item.add_marker(pytest.mark.xdist_group("exports"))
        if {"exports", "tiny_corpora"} & set(getattr(item, "fixturenames", ())) or "own_process" in item.keywords:
            item.add_marker(pytest.mark.slow)  # left out of the quick tier (`tests/run.sh --quick`)
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs the TensorFlow backend (running {BACKEND})")
    once = pytest.mark.skip(reason="launches its own interpreters: runs once, in the TensorFlow pass")
    for item in items:
        if "tensorflow" in item.keywords:
            item.add_marker(skip)
        elif "own_process" in item.keywords:
            item.add_marker(once)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_ids(rng, shape, vocabulary_size, lengths=None, pad_id=0):
    """Token ids in [7, vocabulary_size) (past the reserved ids), never `pad_id`,
    right-padded with `pad_id` to `lengths`."""
    ids = rng.integers(7, vocabulary_size, shape).astype("int32")
    ids[ids == pad_id] = 7
    if lengths is not None:
        for row, length in enumerate(lengths):
            ids[row, length:] = pad_id
    return ids


def assert_same_weights(model, other):
    """The same variables, by path, with bit-identical values."""
    assert [w.path for w in model.weights] == [w.path for w in other.weights]
    for a, b in zip(model.weights, other.weights):
        assert np.array_equal(np.asarray(a), np.asarray(b)), a.path


def pad_right(ids, extra, pad_id=0):
    return np.concatenate([ids, np.full((ids.shape[0], extra), pad_id, ids.dtype)], axis=1)


def run_python(code, backend, block_tensorflow=False, timeout=600, env=None):
    """Runs `code` in a fresh interpreter under `backend`; returns its stdout."""
    prelude = "import sys; sys.modules['tensorflow'] = None\n" if block_tensorflow else ""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


SUBJECTS = [("el gato", "the cat"), ("la niña", "the girl"), ("mi padre", "my father"), ("tu amigo", "your friend"),
            ("el perro", "the dog"), ("la maestra", "the teacher")]
VERBS = [("come", "eats"), ("ve", "sees"), ("quiere", "wants"), ("tiene", "has"), ("busca", "looks for")]
OBJECTS = [("pescado", "fish"), ("una manzana", "an apple"), ("el libro", "the book"), ("agua", "water"),
           ("la pelota", "the ball"), ("pan", "bread")]


def write_tiny_corpora(folder):
    """A data folder laid out like shared/data, with small corpora made here:
    180 Spanish-English pairs (one sentence pattern), an SST-2-like TSV of the
    `sentiment` task's sentences, and WikiText-like text with its escapes."""
    from keras_attn.data import tasks

    (folder / "spa-eng").mkdir(parents=True)
    pairs = [f"{se.capitalize()} {ve} {oe}.\t{ss.capitalize()} {vs} {os_}."
             for ss, se in SUBJECTS for vs, ve in VERBS for os_, oe in OBJECTS]
    (folder / "spa-eng" / "spa.txt").write_text("\n".join(pairs) + "\n", encoding="utf-8")
    (folder / "sst2").mkdir()
    sentiment = tasks.sentiment(900, seed=5)
    rows = [f"{text}\t{label}" for split in ("train", "validation") for text, label in sentiment.examples[split]]
    (folder / "sst2" / "train.tsv").write_text("sentence\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    dev = [f"{text}\t{label}" for text, label in sentiment.examples["test"]]
    (folder / "sst2" / "dev.tsv").write_text("sentence\tlabel\n" + "\n".join(dev) + "\n", encoding="utf-8")
    (folder / "wikitext-2").mkdir()
    english = [pair.split("\t")[1] for pair in pairs]
    lines = [" = Cats = "] + [f" {a[:-1]} @-@ {b[:-1].lower()} <unk> ." for a, b in zip(english[::2], english[1::2])]
    for name in ("valid.txt", "test.txt"):
        (folder / "wikitext-2" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_corpora(tmp_path_factory):
    return write_tiny_corpora(tmp_path_factory.mktemp("data"))


# One export per distinct model at test widths: `bert-mini` and `bert-small`
# are `bert-tiny` there (same class, same overrides).
EXPORTED = ["bahdanau", "transformer", "transformer-base", "bert-tiny", "bert-tiny-masked-lm", "transformer-classifier"]
# The translators whose shared export holds the whole searches too: one per
# class (`transformer-base` is `transformer`'s class, post-norm; its prefill
# and step pieces, which the searches run, are exported and checked).
SEARCHED = ["bahdanau", "transformer"]


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """`{name: (model, export directory)}`: one float32 export of each of
    `EXPORTED` with its `model.keras`, shared by the tests (copy before changing one)."""
    from keras_attn import zoo
    from keras_attn.export import exporter
    from tests.test_zoo import SMALL

    root = tmp_path_factory.mktemp("exports")
    out = {}
    for name in EXPORTED:
        preset = name.replace("-masked-lm", "")
        model = zoo.build(preset, **SMALL[preset])
        if name.endswith("-masked-lm"):
            model = zoo.preset(preset).pretraining_class(model.backbone)
        model.save(root / f"{name}.keras")
        exporter.export(model, root / name, lengths={"max_source_length": 12, "max_target_length": 10},
                        assets={"model.keras": root / f"{name}.keras"}, searches=name in SEARCHED)
        out[name] = (model, root / name)
    return out
