"""The WordPiece tokenizer of a published BERT, as Hugging Face's
`BertTokenizerFast` runs it. Pure Python.

The vocabulary keeps the checkpoint's order and special tokens (`[PAD]` 0,
`[UNK]` 100, `[CLS]` 101, ... in Google's BERTs); a sentence is packed as
`[CLS] text [SEP]`. Steps, as in the `tokenizers` library:

1. normalizing (`BertNormalizer`): control characters dropped and
   whitespace made a space (`clean_text`), spaces put around CJK ideographs
   (`handle_chinese_chars`), accents (category Mn, after NFD) removed
   (`strip_accents`; `None` follows `lowercase`), then lower-casing;
2. splitting on whitespace and around punctuation (ASCII symbols and
   Unicode category P);
3. WordPiece: the longest vocabulary prefix first, then `##`
   continuations; a word that cannot be covered, or of more than
   `max_input_chars_per_word` characters, becomes the unknown token.

Example:
>>> from keras_attn.tokenizers.vocabulary import PAD_ID, Vocabulary
>>> tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hola", "mun", "##do", "!"]
>>> tokenizer = BertWordPieceTokenizer(Vocabulary(tokens, BERT_SPECIAL_TOKENS))
>>> tokenizer.encode("¡Hola Mundo!")
[1, 5, 6, 7, 8]
>>> tokenizer.sentence_special_ids()
([2], [3])
"""

import json
import os
import unicodedata

import numpy as np

from keras_attn.tokenizers.vocabulary import PAD_ID, Vocabulary
from keras_attn.tokenizers.wordpiece import WordPieceTokenizer, is_cjk

BERT_SPECIAL_TOKENS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}


def _is_control(char):
    return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def _is_whitespace(char):
    # Unicode White_Space, as Rust's `char::is_whitespace`, once control characters are gone.
    return char in "\t\n\r" or unicodedata.category(char).startswith("Z")


def _is_punctuation(char):
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


class BertWordPieceTokenizer(WordPieceTokenizer):
    """Text ↔ ids of a published BERT (see the module docstring).

    Args:
        vocabulary: a `Vocabulary` that names its special tokens (`pad`,
            `unk`, `cls`, `sep`, `mask`).
        lowercase, strip_accents, handle_chinese_chars, clean_text: the
            normalizer's settings.
        max_input_chars_per_word: longer words become the unknown token.
    """

    name = "bert_wordpiece"

    def __init__(self, vocabulary, lowercase=True, strip_accents=None, handle_chinese_chars=True, clean_text=True,
                 max_input_chars_per_word=100):
        super().__init__(vocabulary)
        if self.vocabulary.pad_id != PAD_ID:
            raise ValueError(f"The padding token {self.vocabulary.special_tokens['pad']!r} must be id {PAD_ID}, not "
                             f"{self.vocabulary.pad_id}: a BERT masks id {PAD_ID} as padding.")
        missing = sorted(role for role in ("cls", "sep") if getattr(self.vocabulary, f"{role}_id") is None)
        if missing:
            raise ValueError(f"`vocabulary` names no {' or '.join(missing)} token; a BERT packs [CLS] text [SEP].")
        if strip_accents not in (None, True, False):
            raise ValueError(f"`strip_accents` must be None, True or False, got {strip_accents!r}.")
        self.lowercase, self.strip_accents = bool(lowercase), strip_accents
        self.handle_chinese_chars, self.clean_text = bool(handle_chinese_chars), bool(clean_text)
        if not isinstance(max_input_chars_per_word, int) or max_input_chars_per_word < 1:
            raise ValueError(f"`max_input_chars_per_word` must be a positive integer, got "
                             f"{max_input_chars_per_word!r}.")
        self.max_input_chars_per_word = max_input_chars_per_word

    def settings(self):
        """The normalizer's settings and the special tokens: what `save` keeps beside the vocabulary."""
        return {"lowercase": self.lowercase, "strip_accents": self.strip_accents,
                "handle_chinese_chars": self.handle_chinese_chars, "clean_text": self.clean_text,
                "max_input_chars_per_word": self.max_input_chars_per_word,
                "special_tokens": self.vocabulary.special_tokens}

    @property
    def strips_accents(self):
        return self.lowercase if self.strip_accents is None else self.strip_accents

    def sentence_special_ids(self):
        return [self.vocabulary.cls_id], [self.vocabulary.sep_id]

    def normalize(self, text):
        if self.clean_text:
            text = "".join(" " if _is_whitespace(c) else c for c in text
                           if not (c in "\x00\ufffd" or _is_control(c)))
        if self.handle_chinese_chars:
            text = "".join(f" {c} " if is_cjk(c) else c for c in text)
        if self.strips_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
        return text.lower() if self.lowercase else text

    def words(self, text):
        words, current = [], []
        for char in self.normalize(text):
            if char.isspace():
                words.append("".join(current))
                current = []
            elif _is_punctuation(char):
                words += ["".join(current), char]
                current = []
            else:
                current.append(char)
        return [word for word in words + ["".join(current)] if word]

    def word_too_long(self, word):
        return len(word) > self.max_input_chars_per_word

    def encode(self, text):
        return [i for word in self.words(text) for i in self._word_ids(word)]

    # --- Persistence: the vocabulary, and the settings beside it. ---

    def files(self, side):
        return super().files(side) + [f"{side}_bert_wordpiece.json"]

    def save(self, directory, side):
        super().save(directory, side)
        with open(os.path.join(directory, f"{side}_bert_wordpiece.json"), "w", encoding="utf-8") as f:
            json.dump(self.settings(), f, indent=2)

    @classmethod
    def _from_settings(cls, tokens, settings):
        settings = dict(settings)
        return cls(Vocabulary(tokens, settings.pop("special_tokens")), **settings)

    @classmethod
    def load(cls, directory, side):
        path = os.path.join(directory, f"{side}_bert_wordpiece.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            settings = json.load(f)
        with open(os.path.join(directory, f"{side}_vocabulary.txt"), encoding="utf-8") as f:
            tokens = f.read().split("\n")[:-1]  # every line is a token, as in a BERT's vocab.txt
        return cls._from_settings(tokens, settings)

    def arrays(self, side):
        return {**super().arrays(side), f"{side}_bert_wordpiece": np.array(json.dumps(self.settings()))}

    @classmethod
    def from_arrays(cls, arrays, side):
        key = f"{side}_bert_wordpiece"
        if key not in arrays:
            return None
        return cls._from_settings(arrays[f"{side}_vocabulary"].tolist(), json.loads(str(arrays[key])))

    def in_graph(self):
        from keras_attn.tokenizers import tf_graph

        return tf_graph.bert_wordpiece(self)
