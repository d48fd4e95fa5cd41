"""A SavedModel that takes text: `translate(tf.string) → tf.string` for
translators, `classify(tf.string) → probabilities` for classifiers, with
the run's tokenizer in the graph (`Tokenizer.in_graph`) and, for
translation, the compiled greedy search that `keras_attn.inference.decoding`
runs (`SearchLoop`). TensorFlow-only.

Each signature also computes its reference with Keras on the same text
(`reference`), which `verify` compares it with.
"""

import numpy as np
import tensorflow as tf

from keras_attn import models
from keras_attn.inference import decoding
from keras_attn.models.kind import CLASSIFICATION, TRANSLATION
from keras_attn.tokenizers import pad_sequences
from keras_attn.tokenizers.vocabulary import CLS_ID


TRUNCATED = {"name": "truncated", "dtype": "bool", "shape": [None]}


def _ids(ragged, max_length):
    """`(ids (batch, 1..max_length), truncated (batch,))`: rows cut to
    `max_length`, and at least one column, so empty text is one padding token."""
    truncated = ragged.row_lengths() > max_length
    ids = tf.cast(ragged.to_tensor(0), tf.int32)[:, :max_length]
    ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(ids)[1])]])
    return ids, truncated


class TranslateSignature:
    name = "translate"
    outputs = [{"name": "translation", "dtype": "string", "shape": [None]}, TRUNCATED]

    def endpoint(self, archive, model, tokenizers, lengths):
        tokenize = _track(archive, tokenizers["source"])[0]
        detokenize = _track(archive, tokenizers["target"])[1]
        max_source_length, steps = lengths["max_source_length"], lengths["max_target_length"] - 1
        search = decoding.SearchLoop(model, steps)
        search(np.ones((1, 2), "int32"))  # built before it is tracked
        archive.track(search)

        def translate(texts):
            source, truncated = _ids(tokenize(texts), max_source_length)
            # Finished rows continue with padding, and detokenizing drops reserved ids ([END]).
            return {"translation": detokenize(search(source)["history"]), "truncated": truncated}

        return translate

    def reference(self, model, tokenizers, texts, lengths):
        ids = _encode(tokenizers["source"], texts, [], lengths["max_source_length"])
        result = decoding.greedy_decode(model, ids, max_length=lengths["max_target_length"] - 1)
        return [tokenizers["target"].decode(row) for row in result.tokens]


class ClassifySignature:
    name = "classify"
    outputs = [{"name": "probabilities", "dtype": "float32", "shape": [None, None]}, TRUNCATED]

    def endpoint(self, archive, model, tokenizers, lengths):
        tokenize = _track(archive, tokenizers["source"])[0]
        archive.track(model)
        kind = models.kind_of(model)
        max_length = lengths["max_length"]

        def classify(texts):
            ids = tokenize(texts)
            ids, truncated = _ids(tf.concat([tf.fill([ids.nrows(), 1], tf.constant(CLS_ID, ids.dtype)), ids], 1),
                                  max_length)
            logits = model(kind.forward_inputs(ids, tf.zeros_like), training=False)
            return {"probabilities": tf.nn.softmax(logits, axis=-1), "truncated": truncated}

        return classify

    def reference(self, model, tokenizers, texts, lengths):
        ids = _encode(tokenizers["source"], texts, [CLS_ID], lengths["max_length"])
        logits = np.asarray(model(models.kind_of(model).forward_inputs(ids), training=False), "float64")
        exp = np.exp(logits - logits.max(-1, keepdims=True))
        return exp / exp.sum(-1, keepdims=True)


SIGNATURES = {TRANSLATION: TranslateSignature(), CLASSIFICATION: ClassifySignature()}


def signature_for(model):
    """The text signature of the model's kind; `ValueError` if it has none."""
    kind = models.kind_of(model)
    if kind.task_type not in SIGNATURES:
        raise ValueError(f"A {kind.name} model has no text signature.")
    return SIGNATURES[kind.task_type]


def _track(archive, tokenizer):
    tokenize, detokenize, trackables = tokenizer.in_graph()
    for trackable in trackables:
        archive.track(trackable)
    return tokenize, detokenize


def _encode(tokenizer, texts, prefix, max_length):
    return pad_sequences([(prefix + tokenizer.encode(text))[:max_length] or [0] for text in texts])


def write(model, path, tokenizers, lengths):
    """Writes the text SavedModel of `model` to `path`; returns the manifest
    entries that describe its signature."""
    import keras

    signature = signature_for(model)
    archive = keras.export.ExportArchive()
    function = signature.endpoint(archive, model, tokenizers, lengths)
    strings = [tf.TensorSpec([None], tf.string, name="text")]
    archive.add_endpoint(signature.name, tf.function(function, input_signature=strings))
    archive.write_out(path, verbose=False)
    return {
        "signature": signature.name,
        "inputs": [{"name": "text", "dtype": "string", "shape": [None]}],
        "outputs": signature.outputs,
    }
