"""Presets: every zoo model by name, built in one line.

A preset is data: the task class it builds and the settings where it
differs from that class's defaults (its backbone's and its own).

>>> import keras_attn
>>> keras_attn.zoo.names()[:3]
['bahdanau', 'bert-mini', 'bert-small']
>>> keras_attn.zoo.config("transformer-base")["hidden_dim"]
512
>>> type(keras_attn.zoo.build("bert-tiny", vocabulary_size=50, max_length=8)).__name__
'BertClassifier'
"""

import copy
import dataclasses

from keras_attn import models


@dataclasses.dataclass(frozen=True)
class Preset:
    """`task_class` (a registered `keras_attn.models.Task`) with `settings`,
    what differs from its defaults; `default_task` names the built-in data
    task `keras-attn train` fits it on; `pretraining_class`, where the preset
    has one, is the task that pretrains its backbone (BERT's masked LM)."""

    task_class: type
    description: str
    settings: dict
    default_task: str
    pretraining_class: type = None


def _bert(size, num_layers, hidden_dim, num_heads):
    defaults = models.BertClassifier.settings()
    sizes = {"num_layers": num_layers, "hidden_dim": hidden_dim, "num_heads": num_heads}
    return Preset(
        models.BertClassifier,
        f"BERT-{size} of Turc et al. 2019 ({num_layers} layers, hidden {hidden_dim}, {num_heads} heads): "
        "masked-LM pretraining (BertMaskedLM over its backbone), then fine-tuning.",
        {key: value for key, value in sizes.items() if defaults[key] != value},
        "sentiment",
        pretraining_class=models.BertMaskedLM,
    )


PRESETS = {
    "bahdanau": Preset(
        models.BahdanauTranslator,
        "RNN encoder-decoder of Bahdanau et al. 2015: bidirectional GRU encoder; at each step the previous "
        "decoder state attends (additive attention) and the context feeds the GRU.",
        {},
        "dates",
    ),
    "transformer": Preset(
        models.TransformerTranslator,
        "Transformer encoder-decoder (Vaswani et al. 2017), small: 3+3 layers, d_model 256, 8 heads, "
        "pre-norm (trains stably in few steps).",
        {"norm_first": True},
        "dates",
    ),
    "transformer-base": Preset(
        models.TransformerTranslator,
        "Transformer base of Vaswani et al. 2017: 6+6 layers, d_model 512, 8 heads, feed-forward 2048.",
        {"source_vocabulary_size": 16000, "target_vocabulary_size": 16000, "max_source_length": 128,
         "max_target_length": 128, "hidden_dim": 512, "num_layers": 6, "intermediate_dim": 2048},
        "dates",
    ),
    "opus-mt-es-en": Preset(
        models.TransformerTranslator,
        "Marian's Transformer-base as Helsinki-NLP's opus-mt-es-en has it (6+6 post-norm layers, d_model 512, "
        "8 heads, feed-forward 2048, swish, Marian's sinusoidal positions, scaled embeddings shared by both sides "
        "and the logits, a logits bias, 65,001 pieces with padding last and `</s>` 0): the shape that "
        "`keras-attn import` gives the published checkpoint, here with new weights.",
        {"source_vocabulary_size": 65001, "target_vocabulary_size": 65001, "max_source_length": 512,
         "max_target_length": 512, "hidden_dim": 512, "num_layers": 6, "intermediate_dim": 2048,
         "activation": "swish", "position_encoding": "sinusoidal_halves", "share_embeddings": True,
         "tied_logits": True, "pad_id": 65000, "start_id": 65000, "end_id": 0},
        "dates",
    ),
    "bert-tiny": _bert("Tiny", 2, 128, 2),
    "bert-mini": _bert("Mini", 4, 256, 4),
    "bert-small": _bert("Small", 4, 512, 8),
    "transformer-classifier": Preset(
        models.TransformerClassifier,
        "Encoder-only Transformer text classifier of the Keras example: token+position embedding, "
        "one Transformer block, masked global average pooling, dense layers.",
        {},
        "sentiment",
    ),
}


def names():
    """Every preset name, sorted."""
    return sorted(PRESETS)


def preset(name):
    if name not in PRESETS:
        raise ValueError(f"Unknown model {name!r}; the zoo has {names()}.")
    return PRESETS[name]


def config(name):
    """The preset's full settings (a dict): its class's defaults with the preset's own values."""
    spec = preset(name)
    return copy.deepcopy({**spec.task_class.settings(), **spec.settings})


def register(name, spec):
    """Adds preset `name` (a `Preset`) to the zoo."""
    if not isinstance(spec, Preset):
        raise ValueError(f"`spec` must be a Preset, got {spec!r}.")
    PRESETS[name] = spec


def accepted_keys(name):
    """The override keys preset `name` accepts: every setting of its class."""
    return sorted(preset(name).task_class.settings())


def build(name, **overrides):
    """Builds preset `name` with `overrides` applied to its settings.

    Raises `ValueError` before building anything if the name or an override
    key is unknown; the classes refuse values that conflict, naming them.
    """
    spec = preset(name)
    unknown = sorted(set(overrides) - set(accepted_keys(name)))
    if unknown:
        raise ValueError(f"Unknown override(s) {unknown} for {name!r}; accepted keys: {accepted_keys(name)}.")
    return spec.task_class.from_settings(**{**spec.settings, **overrides})
