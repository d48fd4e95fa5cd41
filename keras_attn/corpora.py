"""Tasks from real corpora, tokenized with tensorflow-text WordPiece
(TensorFlow-only: the core never imports this module).

- `spa_eng`: Spanish → English translation from the Anki/Tatoeba pairs,
  split 80/10/10 by seed with each Spanish sentence in one split only;
- `sst2`: GLUE SST-2 sentiment; `train.tsv` is split into train and
  validation, and the GLUE dev set (872 sentences) is the test split.

The vocabularies are learned on the training split only.
"""

import numpy as np

from keras_attn import data, tasks, text, wordpiece
from keras_attn.vocabulary import CLS_ID, Vocabulary, pad_sequences

CORPUS_TASKS = ("spa-eng", "sst2")


def _keep(lengths_ok, *arrays):
    return tuple(array[lengths_ok] for array in arrays)


def spa_eng(data_dir=None, vocabulary_size=8000, max_length=24, num_examples=None, seed=0):
    """The Spanish → English `TranslationTask`; pairs longer than
    `max_length` word pieces (either side, with [START]/[END]) are dropped."""
    pairs = data.read_pairs(data.dataset_files("spa-eng", data_dir)["pairs"]).records
    if num_examples:
        order = np.random.default_rng(seed).permutation(len(pairs))[:num_examples]
        pairs = [pairs[i] for i in sorted(order)]
    english = [e for e, _ in pairs]
    spanish = [s for _, s in pairs]
    train, validation, test = data.grouped_split(spanish, seed=seed)
    vocabularies, tokenizers, ids = {}, {}, {}
    for side, sentences, add_start_end in (("source", spanish, False), ("target", english, True)):
        tokens = text.learn_vocabulary([sentences[i] for i in train], vocabulary_size)
        vocabularies[side] = Vocabulary(tokens)
        tokenizers[side] = wordpiece.WordPieceTokenizer(tokens)
        ids[side] = text.encode(text_tokenizer(tokens), sentences, max_length + 1, add_start_end=add_start_end)
    # Drop pairs that did not fit (their last column is not padding).
    fits = (ids["source"][:, -1] == 0) & (ids["target"][:, -1] == 0)
    source, target = ids["source"][:, :max_length], ids["target"][:, :max_length]
    splits, examples = {}, {}
    for name, index in (("train", train), ("validation", validation), ("test", test)):
        index = index[fits[index]]
        splits[name] = (source[index], target[index])
        examples[name] = [(spanish[i], english[i]) for i in index]
    return tasks.TranslationTask(
        "spa-eng", vocabularies["source"], vocabularies["target"], splits, examples,
        target_tokenizer=tokenizers["target"],
    )


def text_tokenizer(tokens):
    """A tensorflow-text tokenizer over an in-memory token list."""
    import os
    import tempfile

    handle, path = tempfile.mkstemp(suffix=".txt")
    os.close(handle)
    text.save_vocabulary(tokens, path)
    try:
        return text.TextTokenizer(path)
    finally:
        os.remove(path)


def sst2(data_dir=None, vocabulary_size=8000, max_length=64, num_examples=None, seed=0):
    """The SST-2 `ClassificationTask` (ids start with [CLS]; longer sentences are cut)."""
    files = data.dataset_files("sst2", data_dir)
    rows = data.read_labeled(files["train"]).records
    if num_examples:
        order = np.random.default_rng(seed).permutation(len(rows))[:num_examples]
        rows = [rows[i] for i in sorted(order)]
    dev = data.read_labeled(files["dev"]).records
    sentences = [s for s, _ in rows]
    train, validation, _ = data.grouped_split(sentences, fractions=(0.95, 0.05, 0.0), seed=seed)
    tokens = text.learn_vocabulary([sentences[i] for i in train], vocabulary_size)
    tokenizer = text_tokenizer(tokens)

    def encode(sentences):
        return pad_sequences([[CLS_ID] + ids[: max_length - 1] for ids in tokenizer.tokenize(sentences)], max_length)

    ids, labels = encode(sentences), np.array([label for _, label in rows], "int32")
    splits = {"train": (ids[train], labels[train]), "validation": (ids[validation], labels[validation])}
    splits["test"] = (encode([s for s, _ in dev]), np.array([label for _, label in dev], "int32"))
    examples = {
        "train": [rows[i] for i in train], "validation": [rows[i] for i in validation], "test": dev,
    }
    return tasks.ClassificationTask("sst2", Vocabulary(tokens), 2, splits, examples)


def load(name, data_dir=None, num_examples=None, seed=0):
    if name == "spa-eng":
        return spa_eng(data_dir, num_examples=num_examples, seed=seed)
    if name == "sst2":
        return sst2(data_dir, num_examples=num_examples, seed=seed)
    raise ValueError(f"Unknown corpus {name!r}; corpora: {list(CORPUS_TASKS)}.")
