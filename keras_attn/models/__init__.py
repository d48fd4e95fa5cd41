"""The model families of the zoo."""

from keras_attn.models.bert import BertClassifier, BertMaskedLM


def family(model):
    """`"bahdanau"`, `"transformer"`, `"bert"`, `"bert_masked_lm"` or `"classifier"`:
    which builder made `model`, told by its task class or its layer names."""
    if isinstance(model, BertMaskedLM):
        return "bert_masked_lm"
    if isinstance(model, BertClassifier):
        return "bert"
    names = {layer.name for layer in model.layers}
    if "decoder_rnn" in names:
        return "bahdanau"
    if "decoder_layer_0" in names:
        return "transformer"
    if "encoder_layer_0" in names and "embedding" in names:
        return "classifier"
    raise ValueError(f"Model {model.name!r} is not a keras-attn zoo model.")
