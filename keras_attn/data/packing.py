"""One rule for turning token-id rows into a model's input: cut, add the
special tokens, pad. Tasks, corpora, the translator of a run and the text
signatures of an export all pack with it, in Python (`pack`) or in a
TensorFlow graph (`pack_in_graph`), and get the same ids.

>>> packer = SequencePacker(5, start_ids=[4])
>>> ids, truncated = packer.pack([[9, 10], [9, 10, 11, 12, 13], []])
>>> ids.tolist(), truncated.tolist()
([[4, 9, 10, 0, 0], [4, 9, 10, 11, 12], [4, 0, 0, 0, 0]], [False, True, False])
"""

import numpy as np

from keras_attn.tokenizers.vocabulary import PAD_ID
from keras_attn.validation import check_length


class SequencePacker:
    """Rows of ids → `start_ids + content + end_ids`, the content cut so the
    row holds at most `max_length` ids, right-padded with `pad_id`.

    Args:
        max_length: the longest packed row.
        start_ids: ids every row starts with (e.g. `[CLS]`, `[START]`).
        end_ids: ids every row ends with (e.g. `[END]`).
        pad_to_max_length: pad every row to `max_length` (a data set's
            arrays); otherwise to the longest row of the batch, and at least
            one column, so empty text is one padding token.
        pad_id: the padding id (the vocabulary's).
    """

    def __init__(self, max_length, start_ids=(), end_ids=(), pad_to_max_length=True, pad_id=PAD_ID):
        self.pad_id = int(pad_id)
        self.max_length = check_length("max_length", max_length)
        self.start_ids, self.end_ids = [int(i) for i in start_ids], [int(i) for i in end_ids]
        self.content_length = max_length - len(self.start_ids) - len(self.end_ids)
        if self.content_length < 0:
            raise ValueError(f"`max_length`={max_length} leaves no room for the special tokens "
                             f"{self.start_ids + self.end_ids}.")
        self.pad_to_max_length = pad_to_max_length

    def pack(self, rows):
        """`(ids (rows, width) int32, truncated (rows,) bool)`."""
        rows = [list(row) for row in rows]
        packed = [self.start_ids + row[: self.content_length] + self.end_ids for row in rows]
        width = self.max_length if self.pad_to_max_length else max([1] + [len(row) for row in packed])
        ids = np.full((len(packed), width), self.pad_id, "int32")
        for i, row in enumerate(packed):
            ids[i, : len(row)] = row
        return ids, np.array([len(row) > self.content_length for row in rows], bool)

    def pack_in_graph(self, ragged):
        """The same on a `tf.RaggedTensor` of ids (TensorFlow, imported here)."""
        import tensorflow as tf

        truncated = ragged.row_lengths() > self.content_length
        ids = tf.cast(ragged[:, : self.content_length], tf.int32)

        def column(token):
            return tf.RaggedTensor.from_tensor(tf.fill([ids.nrows(), 1], tf.constant(token, tf.int32)))

        parts = [column(token) for token in self.start_ids] + [ids] + [column(token) for token in self.end_ids]
        ids = tf.concat(parts, axis=1).to_tensor(self.pad_id)
        width = self.max_length if self.pad_to_max_length else tf.maximum(1, tf.shape(ids)[1])
        ids = tf.pad(ids, [[0, 0], [0, width - tf.shape(ids)[1]]], constant_values=self.pad_id)
        return ids, truncated


def sentence_packer(tokenizer, max_length, pad_to_max_length=True):
    """The packer of a classifier's sentences in `tokenizer`'s convention
    (`Tokenizer.sentence_special_ids`): `[CLS] text` for the zoo's own
    vocabularies, `[CLS] text [SEP]` for a published BERT's."""
    start_ids, end_ids = tokenizer.sentence_special_ids()
    return SequencePacker(max_length, start_ids, end_ids, pad_to_max_length, tokenizer.vocabulary.pad_id)


def source_packer(tokenizer, max_length, pad_to_max_length=True):
    """The packer of a translator's source text in `tokenizer`'s convention
    (`Tokenizer.source_special_ids`): the text alone for the zoo's own
    vocabularies, `text </s>` for a published Marian's."""
    start_ids, end_ids = tokenizer.source_special_ids()
    return SequencePacker(max_length, start_ids, end_ids, pad_to_max_length, tokenizer.vocabulary.pad_id)


def target_packer(tokenizer, max_length, pad_to_max_length=True):
    """The packer of a translator's target text: `[START] text [END]` in
    `tokenizer`'s ids (the zoo's reserved tokens; `<pad> text </s>` for a
    Marian vocabulary)."""
    vocabulary = tokenizer.vocabulary
    return SequencePacker(max_length, [vocabulary.start_id], [vocabulary.end_id], pad_to_max_length,
                          vocabulary.pad_id)
