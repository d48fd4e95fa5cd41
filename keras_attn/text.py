"""WordPiece vocabularies and tokenizers on tensorflow-text (TensorFlow-only).

The core never imports this module. Token ids go to `.npz` files
(`save_token_ids`) so that training elsewhere (JAX on the GPU machine)
needs no tokenizer; `keras_attn.wordpiece` reproduces these ids in pure
Python for runtimes without TensorFlow.
"""

import numpy as np

from keras_attn.vocabulary import RESERVED_TOKENS, pad_sequences

def _tf():
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the ops)

    return tf


def learn_vocabulary(sentences, vocabulary_size, batch_size=1024):
    """A WordPiece vocabulary learned with tensorflow-text's
    `bert_vocab_from_dataset`, lower-cased, reserved tokens first."""
    tf = _tf()
    from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bert_vocab

    dataset = tf.data.Dataset.from_tensor_slices(list(sentences)).batch(batch_size)
    return bert_vocab.bert_vocab_from_dataset(
        dataset,
        vocab_size=vocabulary_size,
        reserved_tokens=list(RESERVED_TOKENS),
        bert_tokenizer_params={"lower_case": True},
    )


def save_vocabulary(tokens, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")


class TextTokenizer:
    """`tensorflow_text.BertTokenizer` over a vocabulary file, lower-casing."""

    def __init__(self, vocabulary_path):
        tf = _tf()
        import tensorflow_text

        self.vocabulary_path = vocabulary_path
        self.tokenizer = tensorflow_text.BertTokenizer(
            vocabulary_path, lower_case=True, token_out_type=tf.int32
        )

    def tokenize(self, sentences):
        """A list of id lists (word pieces of all words, in order)."""
        return self.tokenizer.tokenize(list(sentences)).merge_dims(-2, -1).to_list()

    def detokenize(self, ids):
        """Text with words joined by spaces (ids of reserved tokens dropped)."""
        tf = _tf()
        ids = [[i for i in row if i >= len(RESERVED_TOKENS)] for row in np.asarray(ids, dtype=object).tolist()]
        words = self.tokenizer.detokenize(tf.ragged.constant(ids, dtype=tf.int32, inner_shape=None))
        return [b" ".join(row).decode("utf-8") for row in words.to_list()]


def save_token_ids(path, **arrays):
    """Writes int32 token-id arrays to `.npz`: what the GPU machine trains on."""
    np.savez_compressed(path, **{name: np.asarray(value, "int32") for name, value in arrays.items()})


def encode(tokenizer, sentences, max_length, add_start_end=False):
    """Padded int32 ids, cut to `max_length` (with `[START]`/`[END]` if asked)."""
    from keras_attn.vocabulary import END_ID, START_ID

    rows = []
    for ids in tokenizer.tokenize(sentences):
        if add_start_end:
            ids = [START_ID] + ids[: max_length - 2] + [END_ID]
        rows.append(ids[:max_length])
    return pad_sequences(rows, max_length)
