"""The tokenizer interface, and the two tokenizers that split text by rule:
characters and whitespace-separated words. Pure Python."""

import collections
import os

import numpy as np

from keras_attn.tokenizers.vocabulary import RESERVED_TOKENS, Vocabulary


class Tokenizer:
    """Text ↔ ids over a `Vocabulary`. Subclasses define `name`, `split`
    (text → tokens) and `join` (tokens → text)."""

    name = None
    # Marian's: one vocabulary learned on both languages, as tied embeddings need.
    shared_vocabulary = False

    def __init__(self, vocabulary):
        self.vocabulary = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary(vocabulary)

    @property
    def tokens(self):
        return self.vocabulary.tokens

    @classmethod
    def learn(cls, sentences, vocabulary_size):
        """A tokenizer learned on `sentences`, of at most `vocabulary_size`
        tokens: the reserved tokens, then the most frequent tokens."""
        counts = collections.Counter(token for sentence in sentences for token in cls.split(sentence))
        most_common = [token for token, _ in counts.most_common(max(0, vocabulary_size - len(RESERVED_TOKENS)))]
        return cls(Vocabulary.from_tokens(most_common))

    # Persistence: a run directory holds `{side}_vocabulary.txt` per side; a
    # task file, arrays named `{side}_...`. Tokenizers with more state (a
    # SentencePiece model) add to both.

    def files(self, side):
        """The files `save` writes for `side`."""
        return [f"{side}_vocabulary.txt"]

    def save(self, directory, side):
        self.vocabulary.save(os.path.join(directory, f"{side}_vocabulary.txt"))

    @classmethod
    def load(cls, directory, side):
        """The tokenizer `save` wrote for `side` in `directory`, or `None` if there is none."""
        path = os.path.join(directory, f"{side}_vocabulary.txt")
        return cls(Vocabulary.load(path)) if os.path.exists(path) else None

    def arrays(self, side):
        return {f"{side}_vocabulary": np.array(self.tokens)}

    @classmethod
    def from_arrays(cls, arrays, side):
        """The tokenizer `arrays` stored for `side`, or `None`."""
        key = f"{side}_vocabulary"
        return cls(arrays[key].tolist()) if key in arrays else None

    def split(self, text):
        raise NotImplementedError

    def join(self, tokens):
        raise NotImplementedError

    def encode(self, text):
        """Token ids of `text` (unknown tokens become `[UNK]`)."""
        return self.vocabulary.encode(self.split(text))

    def sentence_special_ids(self):
        """`(start_ids, end_ids)` around a sentence a classifier reads: the
        zoo's `[CLS] text`; a published BERT's `[CLS] text [SEP]`."""
        return [self.vocabulary.cls_id], []

    def source_special_ids(self):
        """`(start_ids, end_ids)` around a translator's source text: none for
        the zoo's own; `</s>` after it for a published Marian."""
        return [], []

    def pieces(self, ids):
        """The tokens of `ids` up to `[END]`, without padding or `[START]`."""
        return self.vocabulary.decode(ids)

    def decode(self, ids):
        """The text of `ids` up to `[END]`, special tokens (`[UNK]`, ...) dropped
        as the graph tokenizer drops them."""
        special = set(self.vocabulary.special_tokens.values())
        return self.join([token for token in self.pieces(ids) if token not in special])

    def in_graph(self):
        """`(tokenize, detokenize, trackables)` as TensorFlow ops (TensorFlow-only):
        `tokenize(strings) → ragged int32 ids`, `detokenize(dense ids) → strings`."""
        from keras_attn.tokenizers import tf_graph

        return tf_graph.split_and_join(self)


class CharacterTokenizer(Tokenizer):
    """One token per character of the lower-cased text."""

    name = "characters"
    separator = ""

    @staticmethod
    def split(text):
        return list(text.lower())

    def join(self, tokens):
        return "".join(tokens)


class WordTokenizer(Tokenizer):
    """One token per whitespace-separated word."""

    name = "words"
    separator = " "

    @staticmethod
    def split(text):
        return text.split()

    def join(self, tokens):
        return " ".join(tokens)
