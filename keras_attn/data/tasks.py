"""Built-in synthetic tasks, generated in code and deterministic from a seed.

- `dates`: translate a human-written date ("sat 9 may 2018", "05/09/2018",
  "may 9th, 2018") into ISO form ("2018-05-09"), character by character.
  The alignment is easy to read in an attention plot: the year digits of the
  output attend to the year in the input, and so on.
- `sentiment`: label a sentence of filler, positive and negative words as
  positive when its positive words outnumber its negative ones; "not" flips
  the word after it, so the model must attend to word pairs.

Both need no download and are the default tasks of `keras-attn train`.
"""

import dataclasses
import datetime
import json

import numpy as np

from keras_attn import tokenizers
from keras_attn.data.archives import check_holds, read_arrays, write_arrays
from keras_attn.data.packing import SequencePacker
from keras_attn.tokenizers import CharacterTokenizer, Vocabulary, WordTokenizer
from keras_attn.tokenizers.vocabulary import CLS_ID, END_ID, START_ID
from keras_attn.validation import check_range

# What a data task is for; a model's class says which it fits (`keras_attn.models.Task.task_type`).
TRANSLATION, CLASSIFICATION, MASKED_LM = "translation", "classification", "masked_lm"
# Sentence embeddings: no data task fits them directly (an imported encoder is fine-tuned as a classifier).
EMBEDDING = "embedding"

MONTHS = ("january", "february", "march", "april", "may", "june", "july",
          "august", "september", "october", "november", "december")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _ordinal(day):
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


_DATE_FORMATS = (
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {_ordinal(d.day)} {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()][:3]}, {MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    lambda d: f"{d.day}.{d.month}.{d.year % 100:02d}",
    lambda d: f"{d.year}.{d.month:02d}.{d.day:02d}",
)
_DATE_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789 ,./-"

POSITIVE_WORDS = ("good", "great", "fine", "lovely", "superb", "fun", "moving", "clever", "warm", "bright")
NEGATIVE_WORDS = ("bad", "dull", "awful", "boring", "weak", "poor", "messy", "flat", "cold", "tired")
FILLER_WORDS = ("the", "film", "plot", "a", "was", "and", "acting", "very", "it", "is", "story", "cast",
                "but", "quite", "ending", "music", "this", "really", "scenes", "of")
NEGATION = "not"


@dataclasses.dataclass
class TranslationTask:
    """Token-id arrays for a sequence-to-sequence task.

    `splits[name] = (source_ids, target_ids)`, right-padded int32; targets
    start with `[START]` and end with `[END]`.
    """

    task_type = TRANSLATION
    exact_overrides = ()  # every size may exceed the task's; ids the model's own `check_ids` compares

    name: str
    source_tokenizer: tokenizers.Tokenizer
    target_tokenizer: tokenizers.Tokenizer
    splits: dict
    examples: dict  # split name → list of (source text, target text)
    origin: dict = None  # what fixes the data: corpus or files (with sha256), examples, seed

    @property
    def source_vocabulary(self):
        return self.source_tokenizer.vocabulary

    @property
    def target_vocabulary(self):
        return self.target_tokenizer.vocabulary

    @property
    def tokenization(self):
        return self.source_tokenizer.name

    def target_text(self, ids):
        """Text of target ids, up to `[END]`."""
        return self.target_tokenizer.decode(ids)

    def model_inputs(self, split):
        """`(x, y)` for teacher forcing: the decoder reads `target[:-1]` and predicts `target[1:]`."""
        source, target = self.splits[split]
        x = {"encoder_token_ids": source, "decoder_token_ids": target[:, :-1]}
        return x, target[:, 1:]

    @property
    def max_source_length(self):
        return max(s.shape[1] for s, _ in self.splits.values())

    @property
    def max_target_length(self):
        return max(t.shape[1] for _, t in self.splits.values())

    def model_overrides(self):
        """The zoo overrides that size a seq2seq model to this task."""
        return {
            "source_vocabulary_size": len(self.source_vocabulary),
            "target_vocabulary_size": len(self.target_vocabulary),
            "max_source_length": self.max_source_length,
            "max_target_length": self.max_target_length,
        }

    def special_ids(self):
        """The ids a model of this task pads, starts and ends with: its vocabulary's
        (the zoo's reserved 0, 2, 3; a Marian vocabulary's `<pad>`, `<pad>`, `</s>`)."""
        vocabulary = self.target_vocabulary
        return {"pad_id": vocabulary.pad_id, "start_id": vocabulary.start_id, "end_id": vocabulary.end_id}

    def lengths(self):
        """The lengths an export of a model trained on this task pads to."""
        return {"max_source_length": self.max_source_length, "max_target_length": self.max_target_length}

    @property
    def tokenizers(self):
        return {"source": self.source_tokenizer, "target": self.target_tokenizer}

    def validate(self):
        """Refuses arrays that do not fit together (see `check_splits`)."""
        check_splits(self, {"source": len(self.source_vocabulary), "target": len(self.target_vocabulary)})

    def metadata(self):
        """What a run's `config.json` records of its task."""
        return {"task": self.name, "tokenization": self.tokenization, "lengths": self.lengths(), "data": self.origin}


@dataclasses.dataclass
class ClassificationTask:
    """`splits[name] = (token_ids, labels)`; token ids start with `[CLS]`."""

    task_type = CLASSIFICATION
    # Model settings that must equal the task's (a larger vocabulary or length fits; more classes do not).
    exact_overrides = ("num_classes",)

    name: str
    tokenizer: tokenizers.Tokenizer
    num_classes: int
    splits: dict
    examples: dict  # split name → list of (text, label)
    labels: list = None  # class names, when the data named its classes
    origin: dict = None  # what fixes the data: corpus or files (with sha256), examples, seed

    @property
    def vocabulary(self):
        return self.tokenizer.vocabulary

    @property
    def tokenization(self):
        return self.tokenizer.name

    @property
    def max_length(self):
        return max(ids.shape[1] for ids, _ in self.splits.values())

    def model_overrides(self):
        return {
            "vocabulary_size": len(self.vocabulary),
            "max_length": self.max_length,
            "num_classes": self.num_classes,
        }

    def special_ids(self):
        """The id a model of this task pads with (0 in every classification vocabulary)."""
        return {"pad_id": self.vocabulary.pad_id}

    def lengths(self):
        return {"max_length": self.max_length}

    @property
    def tokenizers(self):
        return {"source": self.tokenizer}

    def validate(self):
        """Refuses arrays that do not fit together (see `check_splits`),
        labels outside `[0, num_classes)`, and training data of one class
        (nothing to learn; its accuracy would say 1.0)."""
        check_splits(self, {"source": len(self.vocabulary)})
        for split, (_, labels) in self.splits.items():
            if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() >= self.num_classes)):
                raise ValueError(f"Task {self.name!r}, {split}: labels must be class ids in [0, {self.num_classes}).")
        found = np.unique(self.splits["train"][1])
        if len(found) < 2:
            named = [self.class_name(label) for label in found]
            raise ValueError(f"Task {self.name!r}: its training rows are all of one class ({', '.join(named) or 'none'});"
                             " a classifier needs rows of at least two.")

    def class_name(self, label):
        """The name of class id `label` (the id itself for integer labels)."""
        return repr(self.labels[label]) if self.labels else str(int(label))

    def metadata(self):
        """What a run's `config.json` records of its task (class names included)."""
        return {"task": self.name, "tokenization": self.tokenization, "lengths": self.lengths(), "data": self.origin,
                "labels": self.labels}


SPLITS = ("train", "validation", "test")


def check_splits(task, vocabulary_sizes):
    """Every split present, integer arrays with as many rows as targets and
    examples, token ids inside their vocabularies (`{"source": n, "target": n}`;
    a classifier's targets are labels, checked by the task)."""
    for split in SPLITS:
        if split not in task.splits:
            raise ValueError(f"Task {task.name!r} has no {split!r} split.")
        arrays = dict(zip(("source", "target"), task.splits[split]))
        rows = {side: len(array) for side, array in arrays.items()}
        if len(set(rows.values())) != 1 or len(task.examples.get(split, [])) not in (0, rows["source"]):
            raise ValueError(f"Task {task.name!r}, {split}: {rows} rows and {len(task.examples[split])} examples differ.")
        for side, array in arrays.items():
            if np.asarray(array).dtype.kind not in "iu":
                raise ValueError(f"Task {task.name!r}, {split}: {side} arrays must hold integers.")
            if side in vocabulary_sizes and array.size and (array.min() < 0 or array.max() >= vocabulary_sizes[side]):
                raise ValueError(f"Task {task.name!r}, {split}: {side} ids outside [0, {vocabulary_sizes[side]}).")
    if not len(task.splits["train"][0]):
        raise ValueError(f"Task {task.name!r} has no training examples.")


def _split_sizes(num_examples):
    validation = max(1, num_examples // 10)
    return {"train": num_examples - 2 * validation, "validation": validation, "test": validation}


def _generate_unique(make_example, num_examples, rng):
    """Draws examples until `num_examples` distinct ones exist, so no input is in two splits."""
    seen = {}
    attempts = 0
    while len(seen) < num_examples:
        attempts += 1
        if attempts > 20 * num_examples:
            raise ValueError(f"Cannot draw {num_examples} distinct examples; ask for fewer.")
        source, target = make_example(rng)
        seen.setdefault(source, target)
    return list(seen.items())


def _assign_splits(pairs, num_examples):
    splits, start = {}, 0
    for name, size in _split_sizes(num_examples).items():
        splits[name] = pairs[start : start + size]
        start += size
    return splits


def dates(num_examples=20000, seed=0):
    """The date-normalisation translation task."""
    rng = np.random.default_rng(seed)
    first = datetime.date(1950, 1, 1).toordinal()
    last = datetime.date(2049, 12, 31).toordinal()

    def make_example(rng):
        day = datetime.date.fromordinal(int(rng.integers(first, last + 1)))
        fmt = _DATE_FORMATS[int(rng.integers(len(_DATE_FORMATS)))]
        return fmt(day), day.isoformat()

    examples = _assign_splits(_generate_unique(make_example, num_examples, rng), num_examples)
    origin = {"builtin": "dates", "examples": num_examples, "seed": seed}
    source = CharacterTokenizer(Vocabulary.from_tokens(_DATE_CHARACTERS))
    target = CharacterTokenizer(Vocabulary.from_tokens("0123456789-"))
    source_packer = SequencePacker(max(len(s) for pairs in examples.values() for s, _ in pairs))
    target_packer = SequencePacker(10 + 2, [START_ID], [END_ID])
    splits = {
        name: (
            source_packer.pack([source.encode(s) for s, _ in pairs])[0],
            target_packer.pack([target.encode(t) for _, t in pairs])[0],
        )
        for name, pairs in examples.items()
    }
    return TranslationTask("dates", source, target, splits, examples, origin=origin)


def sentiment(num_examples=20000, seed=0, max_words=16):
    """The synthetic sentiment classification task."""
    rng = np.random.default_rng(seed)

    def make_example(rng):
        while True:
            words, score = [], 0
            for _ in range(int(rng.integers(4, max_words + 1))):
                kind = rng.random()
                if kind < 0.6:
                    words.append(FILLER_WORDS[int(rng.integers(len(FILLER_WORDS)))])
                    continue
                polarity = 1 if kind < 0.8 else -1
                if len(words) < max_words - 1 and rng.random() < 0.25:
                    words.append(NEGATION)
                    polarity = -polarity
                pool = POSITIVE_WORDS if kind < 0.8 else NEGATIVE_WORDS
                words.append(pool[int(rng.integers(len(pool)))])
                score += polarity
            if score != 0:
                return " ".join(words), int(score > 0)

    examples = _assign_splits(_generate_unique(make_example, num_examples, rng), num_examples)
    tokenizer = WordTokenizer(Vocabulary.from_tokens(FILLER_WORDS + POSITIVE_WORDS + NEGATIVE_WORDS + (NEGATION,)))
    packer = SequencePacker(1 + max(len(s.split()) for pairs in examples.values() for s, _ in pairs), [CLS_ID])
    splits = {
        name: (
            packer.pack([tokenizer.encode(s) for s, _ in pairs])[0],
            np.array([label for _, label in pairs], dtype="int32"),
        )
        for name, pairs in examples.items()
    }
    origin = {"builtin": "sentiment", "examples": num_examples, "seed": seed}
    return ClassificationTask("sentiment", tokenizer, 2, splits, examples, origin=origin)


TASKS = {"dates": dates, "sentiment": sentiment}
# A built-in task is drawn whole into memory, every example distinct: at least
# one example each for validation and test, at most what its space holds well.
MIN_BUILTIN_EXAMPLES, MAX_BUILTIN_EXAMPLES = 10, 1_000_000


def load(name, num_examples=20000, seed=0):
    """Builds a built-in task by name."""
    if name not in TASKS:
        raise ValueError(f"Unknown task {name!r}; the built-in tasks are {sorted(TASKS)}.")
    check_range("num_examples", num_examples, MIN_BUILTIN_EXAMPLES, MAX_BUILTIN_EXAMPLES)
    return TASKS[name](num_examples=num_examples, seed=seed)


def save(task, path):
    """Writes a task (token ids, vocabularies, texts) to one `.npz` file:
    what the GPU machine, which has no TensorFlow and no tokenizer, trains on.
    Read it back with `load_file`."""
    translation = isinstance(task, TranslationTask)
    arrays = {
        "name": np.array(task.name),
        "kind": np.array(task.task_type),
        "tokenization": np.array(task.tokenization),
        "origin": np.array(json.dumps(task.origin)),
    }
    for side, tokenizer in task.tokenizers.items():
        arrays.update(tokenizer.arrays(side))
    if not translation:
        arrays["num_classes"] = np.array(task.num_classes)
        arrays["labels"] = np.array(json.dumps(task.labels))
    for split, (inputs, targets) in task.splits.items():
        arrays[f"{split}_inputs"], arrays[f"{split}_targets"] = inputs, targets
        texts, answers = zip(*task.examples[split]) if task.examples[split] else ((), ())
        arrays[f"{split}_texts"], arrays[f"{split}_answers"] = np.array(texts, dtype=str), np.array(answers)
    write_arrays(path, arrays)


def load_file(path):
    """The task that `save` wrote (no pickled objects are read)."""
    required = {"name", "kind", "tokenization", "origin"} | {
        f"{split}_{part}" for split in SPLITS for part in ("inputs", "targets", "texts", "answers")
    }
    arrays = read_arrays(path, "keras-attn task file", required)
    classification = str(arrays["kind"]) == "classification"
    if classification:
        check_holds(path, "keras-attn task file", arrays, {"num_classes", "labels"})
    name, tokenization = str(arrays["name"]), str(arrays["tokenization"])
    if tokenization not in tokenizers.TOKENIZERS:
        raise ValueError(f"{path}: unknown tokenization {tokenization!r}; known: {sorted(tokenizers.TOKENIZERS)}.")
    kind = tokenizers.TOKENIZERS[tokenization]
    sides = {side: kind.from_arrays(arrays, side) for side in (("source",) if classification else ("source", "target"))}
    missing = sorted(side for side, tokenizer in sides.items() if tokenizer is None)
    if missing:
        raise ValueError(f"{path}: not a keras-attn task file (no {' or '.join(missing)} vocabulary of {tokenization!r}).")
    splits, examples = {}, {}
    for split in ("train", "validation", "test"):
        splits[split] = (arrays[f"{split}_inputs"], arrays[f"{split}_targets"])
        examples[split] = list(zip(arrays[f"{split}_texts"].tolist(), arrays[f"{split}_answers"].tolist()))
    origin = json.loads(str(arrays["origin"]))
    if classification:
        labels = json.loads(str(arrays["labels"]))
        return ClassificationTask(name, sides["source"], int(arrays["num_classes"]), splits, examples, labels, origin)
    return TranslationTask(name, sides["source"], sides["target"], splits, examples, origin)
