"""The tokenizers as TensorFlow ops, for the string signatures of an export.
TensorFlow-only: imported lazily by `Tokenizer.in_graph`."""

import hashlib

import tensorflow as tf



def _real(ids, tokenizer):
    """`ids` without the vocabulary's special tokens (padding, `[START]`, ...), ragged."""
    special = tf.constant(tokenizer.vocabulary.special_ids, ids.dtype)
    return tf.ragged.boolean_mask(ids, tf.reduce_all(tf.not_equal(ids[..., None], special), axis=-1))


def split_and_join(tokenizer):
    """Characters or words: a lookup table over `tf.strings` splits."""
    tokens = tokenizer.tokens
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int32)),
        default_value=tokenizer.vocabulary.unk_id
    )
    token_strings = tf.constant(tokens)
    by_character = tokenizer.separator == ""

    def tokenize(texts):
        pieces = tf.strings.unicode_split(tf.strings.lower(texts), "UTF-8") if by_character else tf.strings.split(texts)
        return tf.ragged.map_flat_values(table.lookup, pieces)

    def detokenize(ids):
        return tf.strings.reduce_join(tf.gather(token_strings, _real(ids, tokenizer)), axis=-1, separator=tokenizer.separator)

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
        return tf.strings.reduce_join(bert.detokenize(_real(ids, tokenizer)), axis=-1, separator=" ")

    return tokenize, detokenize, [bert, table]


def bert_wordpiece(tokenizer):
    """A published BERT's tokenizer (`BertWordPieceTokenizer`): its normalizer
    written with `tf.strings` (the same steps, in the same order), then
    tensorflow-text's splitting and WordPiece, which leave the text's case alone.

    tensorflow-text always splits CJK ideographs off and cleans control
    characters: a tokenizer with those steps off is refused rather than
    tokenized differently. It caps words at `max_input_chars_per_word` UTF-8
    bytes, not characters, so a non-ASCII word of more bytes but no more
    characters than that becomes the unknown token here only."""
    import tensorflow_text

    if not tokenizer.handle_chinese_chars or not tokenizer.clean_text:
        raise ValueError("The in-graph BERT tokenizer needs `handle_chinese_chars` and `clean_text` on.")
    tokens = tokenizer.tokens
    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int64)), num_oov_buckets=1
    )
    unknown = tokenizer.vocabulary.special_tokens["unk"]
    bert = tensorflow_text.BertTokenizer(table, lower_case=False, token_out_type=tf.int32, unknown_token=unknown,
                                         max_bytes_per_word=tokenizer.max_input_chars_per_word)

    def normalize(texts):
        # Tab, newline and return are spaces; other control characters go; then every Unicode space is a space.
        texts = tf.strings.regex_replace(texts, r"[\t\n\r]", " ")
        texts = tf.strings.regex_replace(texts, r"[\p{C}\x{FFFD}]", "")
        texts = tf.strings.regex_replace(texts, r"\p{Z}", " ")
        if tokenizer.strips_accents:
            texts = tf.strings.regex_replace(tensorflow_text.normalize_utf8(texts, "NFD"), r"\p{Mn}", "")
        return tf.strings.lower(texts, encoding="utf-8") if tokenizer.lowercase else texts

    def tokenize(texts):
        return bert.tokenize(normalize(texts)).merge_dims(-2, -1)

    def detokenize(ids):
        return tf.strings.reduce_join(bert.detokenize(_real(ids, tokenizer)), axis=-1, separator=" ")

    return tokenize, detokenize, [bert, table]


def _sentencepiece_model(model_proto, out_type):
    """tensorflow-text's `SentencepieceTokenizer` of `model_proto`, named by its hash."""
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

    model = tensorflow_text.SentencepieceTokenizer(model=model_proto, out_type=out_type)
    model._model_resource = NamedModelResource(model_proto)
    return model


def sentencepiece(tokenizer):
    """tensorflow-text's `SentencepieceTokenizer` over the same model: the ids
    and text of `SentencePieceTokenizer`."""
    model = _sentencepiece_model(tokenizer.model_proto, tf.int32)

    def tokenize(texts):
        return model.tokenize(texts)

    def detokenize(ids):
        return model.detokenize(_real(ids, tokenizer))

    return tokenize, detokenize, [model]


def marian_sentencepiece(tokenizer):
    """A Marian side (`MarianSentencePieceTokenizer`): the model's pieces mapped
    through the vocabulary; back through the model's own ids."""
    model = _sentencepiece_model(tokenizer.model_proto, tf.string)
    tokens = tokenizer.tokens
    vocabulary = tokenizer.vocabulary
    to_ids = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int32)), default_value=vocabulary.unk_id)
    model_ids = tf.constant(tokenizer.sentencepiece_ids(), tf.int32)

    def tokenize(texts):
        return tf.ragged.map_flat_values(to_ids.lookup, model.tokenize(texts))

    def detokenize(ids):
        return model.detokenize(tf.gather(model_ids, _real(ids, tokenizer)))

    return tokenize, detokenize, [model, to_ids]
