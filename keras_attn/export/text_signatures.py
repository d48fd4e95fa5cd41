"""A SavedModel that takes text: `translate(tf.string) → tf.string` for the
translators, `classify(tf.string) → probabilities` for the classifiers,
with the tokenizer and (for translation) greedy decoding in the graph.

Tokenizations, as the training task used them: `characters` (the `dates`
task), `words` split on whitespace (`sentiment`), `wordpiece`
(tensorflow-text `BertTokenizer`, lower-cased: the corpora). TensorFlow-only.
"""

import numpy as np

from keras_attn import decoding
from keras_attn.vocabulary import CLS_ID, END_ID, RESERVED_TOKENS, START_ID, UNK_ID

TOKENIZATIONS = ("characters", "words", "wordpiece")


def _graph_tokenizer(kind, tokens):
    """`(tokenize: strings → ragged int32 ids, detokenize: dense ids → strings, trackables)`."""
    import tensorflow as tf

    if kind == "wordpiece":
        import tensorflow_text

        table = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int64)), num_oov_buckets=1
        )
        tokenizer = tensorflow_text.BertTokenizer(table, lower_case=True, token_out_type=tf.int32)

        def tokenize(texts):
            return tokenizer.tokenize(texts).merge_dims(-2, -1)

        def detokenize(ids):
            words = tokenizer.detokenize(tf.ragged.boolean_mask(ids, ids >= len(RESERVED_TOKENS)))
            return tf.strings.reduce_join(words, axis=-1, separator=" ")

        return tokenize, detokenize, [tokenizer, table]

    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tokens, tf.range(len(tokens), dtype=tf.int32)), default_value=UNK_ID
    )
    token_strings = tf.constant(tokens)

    def tokenize(texts):
        pieces = tf.strings.unicode_split(tf.strings.lower(texts), "UTF-8") if kind == "characters" else tf.strings.split(texts)
        return tf.ragged.map_flat_values(table.lookup, pieces)

    def detokenize(ids):
        kept = tf.ragged.boolean_mask(ids, ids >= len(RESERVED_TOKENS))
        separator = "" if kind == "characters" else " "
        return tf.strings.reduce_join(tf.gather(token_strings, kept), axis=-1, separator=separator)

    return tokenize, detokenize, [table]


def write(model, path, tokenization, source_tokens, target_tokens=None, max_source_length=None, max_target_length=64):
    """Writes the text SavedModel of `model` to `path`."""
    import keras
    import tensorflow as tf

    if tokenization not in TOKENIZATIONS:
        raise ValueError(f"`tokenization` must be one of {list(TOKENIZATIONS)}, got {tokenization!r}.")
    archive = keras.export.ExportArchive()
    tokenize, _, trackables = _graph_tokenizer(tokenization, source_tokens)
    for trackable in trackables:
        archive.track(trackable)
    strings = [tf.TensorSpec([None], tf.string, name="text")]

    if target_tokens is None:  # a classifier: ids start with [CLS]
        archive.track(model)
        is_bert = hasattr(model, "backbone")

        def classify(texts):
            ids = tokenize(texts)
            ids = tf.concat([tf.fill([ids.nrows(), 1], tf.constant(CLS_ID, ids.dtype)), ids], axis=1)
            ids = tf.cast(ids.to_tensor(0), tf.int32)[:, :max_source_length]
            inputs = {"token_ids": ids, "segment_ids": tf.zeros_like(ids)} if is_bert else ids
            return {"probabilities": tf.nn.softmax(model(inputs, training=False), axis=-1)}

        archive.add_endpoint("classify", tf.function(classify, input_signature=strings))
    else:
        _, detokenize, target_trackables = _graph_tokenizer(tokenization, target_tokens)
        for trackable in target_trackables:
            archive.track(trackable)
        encoder, step = decoding.inference_models(model)
        example = np.ones((1, 2), "int32")
        memory = encoder({"encoder_token_ids": example})
        step({"token_ids": example[:, :1], "step": np.zeros(1, "int32"), "encoder_token_ids": example,
              **{k: v for k, v in memory.items()}})
        archive.track(encoder)
        archive.track(step)

        def translate(texts):
            source = tf.cast(tokenize(texts).to_tensor(0), tf.int32)[:, :max_source_length]
            batch = tf.shape(source)[0]
            memory = encoder({"encoder_token_ids": source})
            tokens = tf.fill([batch], START_ID)
            finished = tf.zeros([batch], tf.bool)
            outputs = tf.TensorArray(tf.int32, size=max_target_length)
            for t in tf.range(max_target_length):
                result = step({"token_ids": tokens[:, None], "step": tf.fill([batch], t),
                               "encoder_token_ids": source, **memory})
                memory = {name: result.get(f"next_{name}", value) for name, value in memory.items()}
                tokens = tf.where(finished, 0, tf.argmax(result["logits"], axis=-1, output_type=tf.int32))
                outputs = outputs.write(t, tokens)
                finished = finished | tf.equal(tokens, END_ID)
            ids = tf.transpose(outputs.stack())
            # Everything from [END] on is dropped.
            before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, END_ID), tf.int32), axis=1), 0)
            return {"translation": detokenize(tf.where(before_end, ids, 0))}

        archive.add_endpoint("translate", tf.function(translate, input_signature=strings))
    archive.write_out(path, verbose=False)
