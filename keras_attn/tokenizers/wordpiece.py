"""A pure-Python WordPiece tokenizer that gives the ids of tensorflow-text's
`BertTokenizer(vocab, lower_case=True)`, for runtimes without TensorFlow.

Steps, as in tensorflow-text:
1. lower-casing: NFKC case folding, NFD, then accents (category Mn) removed;
2. splitting on whitespace, and around punctuation (ASCII symbols and
   Unicode category P) and CJK ideographs, which become tokens of their own;
3. WordPiece: the longest vocabulary prefix first, then `##`-prefixed
   continuations; a word that cannot be covered, or longer than 100 UTF-8
   bytes, becomes `[UNK]`.

Example:
>>> from keras_attn.tokenizers import Vocabulary
>>> tokenizer = WordPieceTokenizer(Vocabulary.from_tokens(["hola", "mun", "##do", "!"]))
>>> tokenizer.encode("¡Hola mundo!")
[1, 7, 8, 9, 10]
>>> tokenizer.decode([7, 8, 9, 10])
'hola mundo !'
"""

import unicodedata

from keras_attn.tokenizers.base import Tokenizer

_CJK_RANGES = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)
_ASCII_WHITESPACE = " \t\n\r\f"  # RE2's \s


def is_cjk(char):
    """A CJK ideograph: split off as a word of its own."""
    return any(low <= ord(char) <= high for low, high in _CJK_RANGES)


def _is_delimiter(char):
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    if unicodedata.category(char).startswith("P"):
        return True
    return is_cjk(char)


def _fold(text):
    """ICU's NFKC_Casefold, as `tensorflow_text.case_fold_utf8` applies it."""
    text = unicodedata.normalize("NFKC", text)
    text = unicodedata.normalize("NFKC", text.casefold())
    # NFKC_Casefold also drops default-ignorable code points (format characters).
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def basic_tokenize(text):
    """Lower-cases and splits `text` into words and punctuation."""
    text = unicodedata.normalize("NFD", _fold(text))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words, current = [], []
    for char in text:
        if char in _ASCII_WHITESPACE:
            if current:
                words.append("".join(current))
                current = []
        elif _is_delimiter(char):
            if current:
                words.append("".join(current))
                current = []
            words.append(char)
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words


class WordPieceTokenizer(Tokenizer):
    """Text ↔ WordPiece ids over a vocabulary (reserved tokens first, `##` continuations)."""

    name = "wordpiece"
    suffix_indicator = "##"
    max_bytes_per_word = 100

    def __init__(self, vocabulary):
        super().__init__(vocabulary)
        self.ids = self.vocabulary.ids

    def word_too_long(self, word):
        return len(word.encode("utf-8")) > self.max_bytes_per_word

    def _word_ids(self, word):
        unknown = [self.vocabulary.unk_id]
        if self.word_too_long(word):
            return unknown
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.suffix_indicator + word[start:end]
                if piece in self.ids:
                    ids.append(self.ids[piece])
                    break
                end -= 1
            if end == start:
                return unknown
            start = end
        return ids

    @classmethod
    def learn(cls, sentences, vocabulary_size):
        """Learned with tensorflow-text (imported only here)."""
        from keras_attn.tokenizers import tf_wordpiece

        return cls(tf_wordpiece.learn_vocabulary(sentences, vocabulary_size))

    def encode(self, text):
        return [i for word in basic_tokenize(text) for i in self._word_ids(word)]

    def split(self, text):
        return [self.tokens[i] for i in self.encode(text)]

    def join(self, tokens):
        """Words joined by spaces, continuation pieces merged."""
        words = []
        for token in tokens:
            if token.startswith(self.suffix_indicator) and words:
                words[-1] += token[len(self.suffix_indicator) :]
            else:
                words.append(token)
        return " ".join(words)

    def in_graph(self):
        from keras_attn.tokenizers import tf_graph

        return tf_graph.wordpiece(self)
