"""Tasks from real corpora, tokenized with WordPiece.

Learning a vocabulary needs tensorflow-text (`tokenizers.tf_wordpiece`,
imported only then); tokenizing uses the pure-Python `WordPieceTokenizer`,
which gives tensorflow-text's ids. So a corpus task with saved
vocabularies (`evaluate`, `finetune`) loads without TensorFlow.

- `spa_eng`: Spanish → English translation from the Anki/Tatoeba pairs,
  split 80/10/10 by seed with each Spanish sentence in one split only;
- `sst2`: GLUE SST-2 sentiment; `train.tsv` is split into train and
  validation, and the GLUE dev set (872 sentences) is the test split;
- `pretraining_corpus`: unlabeled text for masked-LM pretraining
  (`wikitext-2`, and `sst2-text`: the SST-2 training sentences, labels
  unused; never the dev set).

The vocabularies are learned on the training split only.
"""

import json
import os

import numpy as np

from keras_attn import progress
from keras_attn.data import readers as data
from keras_attn.data import tasks
from keras_attn.tokenizers import Vocabulary, WordPieceTokenizer, pad_sequences
from keras_attn.tokenizers.vocabulary import CLS_ID

CORPUS_TASKS = ("spa-eng", "sst2")
PRETRAINING_TEXTS = ("wikitext-2", "sst2-text")


def learn_vocabulary(sentences, vocabulary_size):
    """A WordPiece vocabulary learned on `sentences` with tensorflow-text."""
    from keras_attn.tokenizers import tf_wordpiece

    with progress.step(f"learning a WordPiece vocabulary of {vocabulary_size:,d} on {len(sentences):,d} sentences"):
        return tf_wordpiece.learn_vocabulary(sentences, vocabulary_size)


def tokenize(tokenizer, sentences):
    """Id lists of `sentences`."""
    with progress.step(f"tokenizing {len(sentences):,d} sentences"):
        return [tokenizer.encode(sentence) for sentence in sentences]


def spa_eng(data_dir=None, vocabulary_size=8000, max_length=24, num_examples=None, seed=0, vocabularies=None):
    """The Spanish → English `TranslationTask`; pairs longer than
    `max_length` word pieces (either side, with [START]/[END]) are dropped.
    `vocabularies` (`{"source": tokens, "target": tokens}`, e.g. a trained
    model's) are used as they are; otherwise they are learned on the
    training split."""
    pairs = data.read_pairs(data.dataset_files("spa-eng", data_dir)["pairs"]).records
    if num_examples:
        order = np.random.default_rng(seed).permutation(len(pairs))[:num_examples]
        pairs = [pairs[i] for i in sorted(order)]
    english = [e for e, _ in pairs]
    spanish = [s for _, s in pairs]
    train, validation, test = data.grouped_split(spanish, seed=seed)
    tokenizer_of, ids = {}, {}
    for side, sentences in (("source", spanish), ("target", english)):
        tokens = (vocabularies or {}).get(side) or learn_vocabulary([sentences[i] for i in train], vocabulary_size)
        tokenizer_of[side] = WordPieceTokenizer(tokens)
        ids[side] = tokenize(tokenizer_of[side], sentences)
    ids["target"] = [tasks.add_start_end(row) for row in ids["target"]]
    # Pairs longer than `max_length` on either side are dropped.
    fits = np.array([len(s) <= max_length and len(t) <= max_length for s, t in zip(ids["source"], ids["target"])])
    source = pad_sequences([row if ok else [] for row, ok in zip(ids["source"], fits)], max_length)
    target = pad_sequences([row if ok else [] for row, ok in zip(ids["target"], fits)], max_length)
    splits, examples = {}, {}
    for name, index in (("train", train), ("validation", validation), ("test", test)):
        index = index[fits[index]]
        splits[name] = (source[index], target[index])
        examples[name] = [(spanish[i], english[i]) for i in index]
    return tasks.TranslationTask("spa-eng", tokenizer_of["source"], tokenizer_of["target"], splits, examples)


def sst2(data_dir=None, vocabulary_size=8000, max_length=64, num_examples=None, seed=0, vocabulary=None):
    """The SST-2 `ClassificationTask` (ids start with [CLS]; longer sentences
    are cut). `vocabulary` (a token list, e.g. a pretrained model's) is used
    as it is; otherwise one is learned on the training split."""
    files = data.dataset_files("sst2", data_dir)
    rows = data.read_labeled(files["train"]).records
    if num_examples:
        order = np.random.default_rng(seed).permutation(len(rows))[:num_examples]
        rows = [rows[i] for i in sorted(order)]
    dev = data.read_labeled(files["dev"]).records
    sentences = [s for s, _ in rows]
    train, validation, _ = data.grouped_split(sentences, fractions=(0.95, 0.05, 0.0), seed=seed)
    tokenizer = WordPieceTokenizer(vocabulary or learn_vocabulary([sentences[i] for i in train], vocabulary_size))

    def encode(sentences):
        return pad_sequences([[CLS_ID] + ids[: max_length - 1] for ids in tokenize(tokenizer, sentences)], max_length)

    ids, labels = encode(sentences), np.array([label for _, label in rows], "int32")
    splits = {"train": (ids[train], labels[train]), "validation": (ids[validation], labels[validation])}
    splits["test"] = (encode([s for s, _ in dev]), np.array([label for _, label in dev], "int32"))
    examples = {
        "train": [rows[i] for i in train], "validation": [rows[i] for i in validation], "test": dev,
    }
    return tasks.ClassificationTask("sst2", tokenizer, 2, splits, examples)


def pretraining_texts(names, data_dir=None):
    """Lines of unlabeled text from `names` (see `PRETRAINING_TEXTS`)."""
    lines = []
    for name in names:
        if name == "wikitext-2":
            files = data.dataset_files("wikitext-2", data_dir)
            lines += [data.clean_wikitext(line) for role in sorted(files) for line in data.read_text(files[role]).records]
        elif name == "sst2-text":
            lines += [sentence for sentence, _ in data.read_labeled(data.dataset_files("sst2", data_dir)["train"]).records]
        else:
            raise ValueError(f"Unknown pretraining text {name!r}; known: {list(PRETRAINING_TEXTS)}.")
    return [line for line in lines if line]


def pretraining_corpus(names, data_dir=None, vocabulary_size=8000, max_length=64, seed=0, validation_fraction=0.02):
    """`(vocabulary, train_ids, validation_ids)` for masked-LM pretraining.

    A WordPiece vocabulary is learned on the training lines; each line
    becomes rows of `[CLS]` + up to `max_length - 1` word pieces (a long
    WikiText paragraph gives several rows). `validation_fraction` of the
    distinct lines is held out to pick the best epoch.
    """
    lines = pretraining_texts(names, data_dir)
    train, validation, _ = data.grouped_split(lines, fractions=(1 - validation_fraction, validation_fraction, 0.0), seed=seed)
    tokens = learn_vocabulary([lines[i] for i in train], vocabulary_size)
    tokenizer = WordPieceTokenizer(tokens)

    def rows(indices):
        windows = []
        for ids in tokenize(tokenizer, [lines[i] for i in indices]):
            windows += [[CLS_ID] + ids[start : start + max_length - 1] for start in range(0, len(ids), max_length - 1)]
        return pad_sequences(windows, max_length)

    return Vocabulary(tokens), rows(train), rows(validation)


def load(name, data_dir=None, num_examples=None, seed=0, vocabularies=None, max_length=None):
    """Corpus task `name`; `vocabularies` (`{"source", "target"}` or
    `{"source"}` token lists, as `train` saves them) skip learning new ones."""
    lengths = {"max_length": max_length} if max_length else {}
    if name == "spa-eng":
        return spa_eng(data_dir, num_examples=num_examples, seed=seed, vocabularies=vocabularies, **lengths)
    if name == "sst2":
        vocabulary = (vocabularies or {}).get("source")
        return sst2(data_dir, num_examples=num_examples, seed=seed, vocabulary=vocabulary, **lengths)
    raise ValueError(f"Unknown corpus {name!r}; corpora: {list(CORPUS_TASKS)}.")


def load_run_task(run_dir, data_dir=None, num_examples=None, seed=0):
    """`(config, task)`: the corpus task that `keras-attn train` trained the
    model in `run_dir` on, tokenized with the vocabularies saved there.
    `num_examples` and `seed` must be the run's (they fix the split)."""
    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    if config.get("task") not in CORPUS_TASKS:
        raise ValueError(f"{run_dir} was trained on {config.get('task')!r}, not a corpus ({list(CORPUS_TASKS)}).")
    vocabularies = {side: t.tokens for side, t in tasks.load_tokenizers(run_dir, config["tokenization"]).items()}
    max_length = max(config["lengths"].values())  # the rows' width, as the task was built
    task = load(config["task"], data_dir, num_examples, seed, vocabularies=vocabularies, max_length=max_length)
    return config, task
