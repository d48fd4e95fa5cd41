"""A SavedModel that takes text: `translate(tf.string) → tf.string` for
generative models, `classify(tf.string) → probabilities` for classifiers,
`embed(tf.string) → embedding` for sentence encoders,
with the run's tokenizer in the graph (`Tokenizer.in_graph`), the inputs
packed by the same packer (`keras_attn.data.packing`) as the run's data, and, for
translation, the compiled greedy search that `generate` runs
(`SearchLoop`). TensorFlow-only.

Each signature also computes its reference with Keras on the same text
(`reference`), which `verify` compares it with.
"""

import numpy as np
import tensorflow as tf

from keras_attn.data.packing import sentence_packer, source_packer
from keras_attn.inference import decoding
from keras_attn.models import CLASSIFICATION, EMBEDDING, TRANSLATION
from keras_attn.runtime import softmax

TRUNCATED = {"name": "truncated", "dtype": "bool", "shape": [None]}


class TranslateSignature:
    name = "translate"
    compared = "translation"
    outputs = [{"name": "translation", "dtype": "string", "shape": [None]}, TRUNCATED]

    @staticmethod
    def packer(lengths, tokenizers):
        return source_packer(tokenizers["source"], lengths["max_source_length"], pad_to_max_length=False)

    def endpoint(self, archive, model, tokenizers, lengths):
        tokenize = _track(archive, tokenizers["source"])[0]
        detokenize = _track(archive, tokenizers["target"])[1]
        packer = self.packer(lengths, tokenizers)
        search = decoding.SearchLoop(model, lengths["max_target_length"] - 1)
        archive.track(search)

        def translate(texts):
            source, truncated = packer.pack_in_graph(tokenize(texts))
            # Finished rows continue with padding, and detokenizing drops reserved ids ([END]).
            return {"translation": detokenize(search({model.prompt_name: source})["history"]), "truncated": truncated}

        return translate

    def reference(self, model, tokenizers, texts, lengths):
        ids, _ = self.packer(lengths, tokenizers).pack([tokenizers["source"].encode(text) for text in texts])
        result = model.generate(ids, max_length=lengths["max_target_length"] - 1)
        return [tokenizers["target"].decode(row) for row in result.tokens]


class SentenceSignature:
    """Sentences → one row each (`SentenceTask` models): the text packed as the
    model's data is (`sentence_packer`), the model, then `result` on its output."""

    @staticmethod
    def packer(lengths, tokenizers):
        return sentence_packer(tokenizers["source"], lengths["max_length"], pad_to_max_length=False)

    def endpoint(self, archive, model, tokenizers, lengths):
        tokenize = _track(archive, tokenizers["source"])[0]
        archive.track(model)
        packer = self.packer(lengths, tokenizers)

        def signature(texts):
            ids, truncated = packer.pack_in_graph(tokenize(texts))
            outputs = model(model.call_inputs(model.forward_inputs(ids, tf.zeros_like)), training=False)
            return {self.outputs[0]["name"]: self.result(outputs, in_graph=True), "truncated": truncated}

        return signature

    def reference(self, model, tokenizers, texts, lengths):
        ids, _ = self.packer(lengths, tokenizers).pack([tokenizers["source"].encode(text) for text in texts])
        return self.result(model(model.call_inputs(model.forward_inputs(ids)), training=False), in_graph=False)


class ClassifySignature(SentenceSignature):
    name = "classify"
    compared = "logits"  # the probabilities, compared as parity compares logits
    outputs = [{"name": "probabilities", "dtype": "float32", "shape": [None, None]}, TRUNCATED]

    @staticmethod
    def result(logits, in_graph):
        return tf.nn.softmax(logits, axis=-1) if in_graph else softmax(logits)


class EmbedSignature(SentenceSignature):
    name = "embed"
    compared = "embedding"  # checked by its cosine similarity (see `parity`)
    outputs = [{"name": "embedding", "dtype": "float32", "shape": [None, None]}, TRUNCATED]

    @staticmethod
    def result(outputs, in_graph):
        return outputs["embedding"] if in_graph else np.asarray(outputs["embedding"])


SIGNATURES = {TRANSLATION: TranslateSignature(), CLASSIFICATION: ClassifySignature(), EMBEDDING: EmbedSignature()}


def signature_for(model):
    """The text signature of the model's task; `ValueError` if it has none."""
    if model.task_type not in SIGNATURES:
        raise ValueError(f"A {type(model).__name__} model has no text signature.")
    return SIGNATURES[model.task_type]


def _track(archive, tokenizer):
    tokenize, detokenize, trackables = tokenizer.in_graph()
    for trackable in trackables:
        archive.track(trackable)
    return tokenize, detokenize


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
