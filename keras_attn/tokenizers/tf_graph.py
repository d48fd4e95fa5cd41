"""The tokenizers as TensorFlow ops, for the string signatures of an export.
TensorFlow-only: imported lazily by `Tokenizer.in_graph`."""

import hashlib

import tensorflow as tf

from keras_attn.tokenizers.vocabulary import RESERVED_TOKENS, UNK_ID


def _real(ids):
    """`ids` without reserved tokens (padding, `[START]`, ...), ragged."""
    return tf.ragged.boolean_mask(ids, ids >= len(RESERVED_TOKENS))


def split_and_join(tokenizer):
    """Characters or words: a lookup table over `tf.strings` splits."""
    tokens = tokenizer.tokens
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int32)), default_value=UNK_ID
    )
    token_strings = tf.constant(tokens)
    by_character = tokenizer.separator == ""

    def tokenize(texts):
        pieces = tf.strings.unicode_split(tf.strings.lower(texts), "UTF-8") if by_character else tf.strings.split(texts)
        return tf.ragged.map_flat_values(table.lookup, pieces)

    def detokenize(ids):
        return tf.strings.reduce_join(tf.gather(token_strings, _real(ids)), axis=-1, separator=tokenizer.separator)

    return tokenize, detokenize, [table]


def wordpiece(tokenizer):
    """tensorflow-text's `BertTokenizer`, lower-casing: the ids `WordPieceTokenizer` reproduces."""
    import tensorflow_text

    tokens = tokenizer.tokens
    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int64)), num_oov_buckets=1
    )
    bert = tensorflow_text.BertTokenizer(table, lower_case=True, token_out_type=tf.int32)

    def tokenize(texts):
        return bert.tokenize(texts).merge_dims(-2, -1)

    def detokenize(ids):
        return tf.strings.reduce_join(bert.detokenize(_real(ids)), axis=-1, separator=" ")

    return tokenize, detokenize, [bert, table]


def sentencepiece(tokenizer):
    """tensorflow-text's `SentencepieceTokenizer` over the same model: the ids
    and text of `SentencePieceTokenizer`."""
    import tensorflow_text
    from tensorflow_text.python.ops import sentencepiece_tokenizer

    class NamedModelResource(sentencepiece_tokenizer._SentencepieceModelResource):
        """The model as a resource with a name of its own: tensorflow-text
        creates every model with an empty shared name, so in one SavedModel the
        target model of a translator ended up running the source one."""

        def __init__(self, model):
            self._shared_name = "keras_attn_sentencepiece_" + hashlib.sha256(model).hexdigest()[:16]
            super().__init__(model, None)

        def _create_resource(self):
            return sentencepiece_tokenizer.gen_sentencepiece_tokenizer.sentencepiece_op(
                model=self._model, shared_name=self._shared_name
            )

    model = tensorflow_text.SentencepieceTokenizer(model=tokenizer.model_proto, out_type=tf.int32)
    model._model_resource = NamedModelResource(tokenizer.model_proto)

    def tokenize(texts):
        return model.tokenize(texts)

    def detokenize(ids):
        return model.detokenize(_real(ids))

    return tokenize, detokenize, [model]
