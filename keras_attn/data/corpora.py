"""Tasks from real text: the named corpora and a user's own files.

- `spa_eng`: Spanish → English translation from the Anki/Tatoeba pairs,
  split 80/10/10 by seed with each Spanish sentence in one split only;
- `sst2`: GLUE SST-2 sentiment; `train.tsv` is split into train and
  validation, and the GLUE dev set (872 sentences) is the test split;
- `from_files`: a user's TSV files, sentence pairs (`source<TAB>target`)
  for translators or `text<TAB>label` (names or integers) for classifiers,
  with a separate test file or a seeded split;
- `pretraining_corpus`: unlabeled text for masked-LM pretraining
  (`wikitext-2`, and `sst2-text`: the SST-2 training sentences, labels
  unused; never the dev set).

Vocabularies are learned on the training split only (WordPiece needs
tensorflow-text for that, imported only then); tokenizing is pure Python.
Every task records its `origin`: what fixes its data (files and their
sha256, example count, seed), so a run's task rebuilds in the same splits
and refuses data that changed (`keras_attn.run_directory.load_task`).
"""

import os

import numpy as np

from keras_attn import integrity, progress, tokenizers
from keras_attn.data import readers as data
from keras_attn.data import tasks
from keras_attn.data.packing import sentence_packer, source_packer, target_packer
from keras_attn.data.tasks import CLASSIFICATION, TRANSLATION

CORPUS_TASKS = ("spa-eng", "sst2")
PRETRAINING_TEXTS = ("wikitext-2", "sst2-text")


def learn_tokenizer(tokenization, sentences, vocabulary_size):
    """A tokenizer of `tokenization` learned on `sentences`."""
    with progress.step(f"learning a {tokenization} vocabulary of {vocabulary_size:,d} on {len(sentences):,d} sentences"):
        return tokenizers.TOKENIZERS[tokenization].learn(sentences, vocabulary_size)


def tokenize(tokenizer, sentences):
    """Id lists of `sentences`."""
    with progress.step(f"tokenizing {len(sentences):,d} sentences"):
        return [tokenizer.encode(sentence) for sentence in sentences]


def sha256(path):
    return integrity.digest(path)[1]


def _sample(records, num_examples, seed):
    """`num_examples` of `records` drawn by `seed`, in file order (all without a number)."""
    if not num_examples:
        return records
    order = np.random.default_rng(seed).permutation(len(records))[:num_examples]
    return [records[i] for i in sorted(order)]


def translation_task(name, pairs, test_pairs=None, tokenization="sentencepiece", vocabulary_size=8000, max_length=64,
                     seed=0, tokenizer_of=None, origin=None):
    """A `TranslationTask` of `(source, target)` text pairs.

    Without `test_pairs`, the pairs split 80/10/10 by seed, each source
    sentence in one split only; with them, the pairs split 90/10 into train
    and validation. Pairs longer than `max_length` tokens (either side,
    the target with [START]/[END]) are dropped. `tokenizer_of`
    (`{"source": tokenizer, "target": tokenizer}`, e.g. a trained model's)
    are used as they are; otherwise they are learned on the training split.
    """
    all_pairs = list(pairs) + list(test_pairs or [])
    sources = [source for source, _ in all_pairs]
    if test_pairs is None:
        train, validation, test = data.grouped_split(sources, seed=seed)
    else:
        train, validation, _ = data.grouped_split(sources[: len(pairs)], fractions=(0.9, 0.1, 0.0), seed=seed)
        test = np.arange(len(pairs), len(all_pairs))
    tokenizer_of, ids = dict(tokenizer_of or {}), {}
    if not tokenizer_of and tokenizers.TOKENIZERS[tokenization].shared_vocabulary:
        both_sides = [text for i in train for text in all_pairs[i]]
        tokenizer_of["source"] = tokenizer_of["target"] = learn_tokenizer(tokenization, both_sides, vocabulary_size)
    for side, column in (("source", 0), ("target", 1)):
        sentences = [pair[column] for pair in all_pairs]
        if side not in tokenizer_of:
            tokenizer_of[side] = learn_tokenizer(tokenization, [sentences[i] for i in train], vocabulary_size)
        ids[side] = tokenize(tokenizer_of[side], sentences)
    source, source_cut = source_packer(tokenizer_of["source"], max_length).pack(ids["source"])
    target, target_cut = target_packer(tokenizer_of["target"], max_length).pack(ids["target"])
    fits = ~(source_cut | target_cut)
    splits, examples = {}, {}
    for split, index in (("train", train), ("validation", validation), ("test", test)):
        index = index[fits[index]]
        splits[split] = (source[index], target[index])
        examples[split] = [all_pairs[i] for i in index]
    return tasks.TranslationTask(name, tokenizer_of["source"], tokenizer_of["target"], splits, examples, origin=origin)


def class_ids(labels, names=None):
    """`(ids, names)`: class ids of `labels` (strings or integers). Integer
    labels are the ids (`names` is `None`); other labels are named classes,
    numbered in sorted order unless `names` (a saved run's) fixes it."""
    if names is None and all(isinstance(label, int) or str(label).lstrip("-").isdigit() for label in labels):
        ids = np.array([int(label) for label in labels], "int32")
        if ids.size and ids.min() < 0:
            raise ValueError(f"Integer labels must be class ids >= 0; found {int(ids.min())}.")
        return ids, None
    names = names or sorted({str(label) for label in labels})
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted({str(label) for label in labels} - set(index))
    if unknown:
        raise ValueError(f"Labels {unknown[:5]} are not among the run's classes {names}.")
    return np.array([index[str(label)] for label in labels], "int32"), names


def classification_task(name, rows, test_rows=None, tokenization="wordpiece", vocabulary_size=8000, max_length=64,
                        seed=0, tokenizer=None, labels=None, origin=None, validation_fraction=0.1):
    """A `ClassificationTask` of `(text, label)` rows; ids start with [CLS]
    and are cut to `max_length`. Without `test_rows`, the rows split
    80/10/10 by seed (each text in one split); with them, into train and
    `validation_fraction` validation. `tokenizer` (e.g. a pretrained model's)
    is used as it is; `labels` (class names) fix the numbering of named classes."""
    all_rows = list(rows) + list(test_rows or [])
    texts = [text for text, _ in all_rows]
    if test_rows is None:
        train, validation, test = data.grouped_split(texts, seed=seed)
    else:
        fractions = (1 - validation_fraction, validation_fraction, 0.0)
        train, validation, _ = data.grouped_split(texts[: len(rows)], fractions=fractions, seed=seed)
        test = np.arange(len(rows), len(all_rows))
    label_ids, names = class_ids([label for _, label in all_rows], labels)
    tokenizer = tokenizer or learn_tokenizer(tokenization, [texts[i] for i in train], vocabulary_size)
    ids, _ = sentence_packer(tokenizer, max_length).pack(tokenize(tokenizer, texts))
    num_classes = len(names) if names else int(label_ids.max()) + 1
    splits = {split: (ids[index], label_ids[index]) for split, index in
              (("train", train), ("validation", validation), ("test", test))}
    examples = {split: [all_rows[i] for i in index] for split, index in
                (("train", train), ("validation", validation), ("test", test))}
    return tasks.ClassificationTask(name, tokenizer, num_classes, splits, examples, labels=names, origin=origin)


def spa_eng(data_dir=None, vocabulary_size=8000, max_length=64, num_examples=None, seed=0, tokenizer_of=None,
            tokenization="sentencepiece"):
    """The Spanish → English `TranslationTask` (see `translation_task`), in
    SentencePiece subwords: cased text, detokenized as it was written (a
    vocabulary per language; `tokenization="marian_sentencepiece"`: one for
    both, in Marian's layout, for a model `export-huggingface` writes). Pairs
    of up to 64 pieces (the `transformer` preset's position table) are kept;
    length-bucketed batches keep the long ones from costing the short ones."""
    path = data.dataset_files("spa-eng", data_dir)["pairs"]
    pairs = [(spanish, english) for english, spanish in _sample(data.read_pairs(path).records, num_examples, seed)]
    origin = {"corpus": "spa-eng", "examples": num_examples, "seed": seed, "max_length": max_length,
              "tokenization": tokenization, "sha256": {"pairs": sha256(path)}}
    return translation_task("spa-eng", pairs, tokenization=tokenization, vocabulary_size=vocabulary_size,
                            max_length=max_length, seed=seed, tokenizer_of=tokenizer_of, origin=origin)


def sst2(data_dir=None, vocabulary_size=8000, max_length=64, num_examples=None, seed=0, tokenizer=None):
    """The SST-2 `ClassificationTask`: the GLUE dev set is the test split."""
    files = data.dataset_files("sst2", data_dir)
    rows = _sample(data.read_labeled(files["train"]).records, num_examples, seed)
    origin = {"corpus": "sst2", "examples": num_examples, "seed": seed, "max_length": max_length,
              "sha256": {role: sha256(path) for role, path in files.items()}}
    return classification_task("sst2", rows, data.read_labeled(files["dev"]).records, vocabulary_size=vocabulary_size,
                               max_length=max_length, seed=seed, tokenizer=tokenizer, origin=origin,
                               validation_fraction=0.05)


def from_files(task_type, train_file, test_file=None, tokenization=None, vocabulary_size=8000, max_length=64,
               seed=0, tokenizer_of=None, labels=None):
    """A task of type `task_type` (`"translation"` or `"classification"`)
    from a user's TSV files: `source<TAB>target` pairs, or `text<TAB>label`
    rows (no header). The readers report malformed lines as for the corpora.
    `tokenization` defaults to SentencePiece for translation, WordPiece for
    classification."""
    if task_type not in (TRANSLATION, CLASSIFICATION):
        raise ValueError(f"Files make translation or classification tasks, not {task_type!r}.")
    tokenization = tokenization or ("sentencepiece" if task_type == TRANSLATION else "wordpiece")
    files = {"train": train_file, **({"test": test_file} if test_file else {})}
    origin = {"files": {role: os.path.abspath(path) for role, path in files.items()}, "seed": seed,
              "tokenization": tokenization, "max_length": max_length,
              "sha256": {role: sha256(path) for role, path in files.items()}}
    name = os.path.splitext(os.path.basename(train_file))[0]
    if task_type == TRANSLATION:
        pairs = {role: data.read_pairs(path).records for role, path in files.items()}
        return translation_task(name, pairs["train"], pairs.get("test"), tokenization, vocabulary_size, max_length,
                                seed, tokenizer_of, origin)
    rows = {role: data.read_labeled(path, header=False, integer_labels=False).records for role, path in files.items()}
    return classification_task(name, rows["train"], rows.get("test"), tokenization, vocabulary_size, max_length, seed,
                               (tokenizer_of or {}).get("source"), labels, origin)


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
    tokenizer = learn_tokenizer("wordpiece", [lines[i] for i in train], vocabulary_size)

    packer = sentence_packer(tokenizer, max_length)

    def rows(indices):
        windows = []
        for ids in tokenize(tokenizer, [lines[i] for i in indices]):
            windows += [ids[start : start + packer.content_length] for start in range(0, len(ids), packer.content_length)]
        return packer.pack(windows)[0]

    return tokenizer.vocabulary, rows(train), rows(validation)


def load(name, data_dir=None, num_examples=None, seed=0, tokenizer_of=None, max_length=None, tokenization=None):
    """Corpus task `name`; `tokenizer_of` (`{"source", "target"}` or
    `{"source"}` tokenizers, as `train` saves them) skip learning new ones;
    `tokenization` (spa-eng only) names the one to learn."""
    lengths = {"max_length": max_length} if max_length else {}
    if name == "spa-eng":
        return spa_eng(data_dir, num_examples=num_examples, seed=seed, tokenizer_of=tokenizer_of,
                       tokenization=tokenization or "sentencepiece", **lengths)
    if tokenization:
        raise ValueError(f"--tokenization applies to --data spa-eng or --train-file, not {name!r}.")
    if name == "sst2":
        tokenizer = (tokenizer_of or {}).get("source")
        return sst2(data_dir, num_examples=num_examples, seed=seed, tokenizer=tokenizer, **lengths)
    raise ValueError(f"Unknown corpus {name!r}; corpora: {list(CORPUS_TASKS)}.")
