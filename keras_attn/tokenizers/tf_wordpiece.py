"""WordPiece on tensorflow-text (TensorFlow-only; the core never imports this module).

`learn_vocabulary` learns a vocabulary with tensorflow-text's
`bert_vocab_from_dataset`; `TextTokenizer` is tensorflow-text's
`BertTokenizer`, whose ids the pure-Python `WordPieceTokenizer`
reproduces (checked on every corpus sentence), so tokenizing needs no
TensorFlow once a vocabulary exists.
"""

import tensorflow as tf
import tensorflow_text
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bert_vocab

from keras_attn.tokenizers.vocabulary import RESERVED_TOKENS


def learn_vocabulary(sentences, vocabulary_size, batch_size=1024):
    """A lower-cased WordPiece vocabulary of about `vocabulary_size` tokens,
    reserved tokens first."""
    dataset = tf.data.Dataset.from_tensor_slices(list(sentences)).batch(batch_size)
    return bert_vocab.bert_vocab_from_dataset(
        dataset,
        vocab_size=vocabulary_size,
        reserved_tokens=list(RESERVED_TOKENS),
        bert_tokenizer_params={"lower_case": True},
    )


class TextTokenizer:
    """`tensorflow_text.BertTokenizer` over a token list, lower-casing."""

    def __init__(self, tokens):
        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(list(tokens), tf.range(len(tokens), dtype=tf.int64)),
            num_oov_buckets=1,
        )
        self.tokenizer = tensorflow_text.BertTokenizer(table, lower_case=True, token_out_type=tf.int32)

    def tokenize(self, sentences):
        """A list of id lists (word pieces of all words, in order)."""
        return self.tokenizer.tokenize(list(sentences)).merge_dims(-2, -1).to_list()

    def detokenize(self, ids):
        """Text with words joined by spaces (ids of reserved tokens dropped)."""
        ids = [[i for i in row if i >= len(RESERVED_TOKENS)] for row in ids]
        words = self.tokenizer.detokenize(tf.ragged.constant(ids, dtype=tf.int32, inner_shape=None))
        return [b" ".join(row).decode("utf-8") for row in words.to_list()]
