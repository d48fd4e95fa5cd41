"""Presets: every zoo model by name, built in one line.

>>> import keras_attn
>>> keras_attn.zoo.names()[:3]
['bahdanau', 'bert-mini', 'bert-small']
>>> keras_attn.zoo.config("transformer-base")["hidden_dim"]
512
"""

import copy
import dataclasses
import inspect

from keras_attn.models import bahdanau, bert, transformer, transformer_classifier
from keras_attn.models.bahdanau import build_bahdanau
from keras_attn.models.bert import build_bert
from keras_attn.models.transformer import build_transformer
from keras_attn.models.transformer_classifier import build_transformer_classifier


@dataclasses.dataclass(frozen=True)
class Preset:
    kind: object  # the `keras_attn.models.ModelKind` of the models it builds
    builder: object
    description: str
    config: dict
    default_task: str


def _bert(num_layers, hidden_dim, num_heads, size):
    return Preset(
        bert.CLASSIFIER,
        build_bert,
        f"BERT-{size} of Turc et al. 2019 ({num_layers} layers, hidden {hidden_dim}, {num_heads} heads): "
        "masked-LM pretraining (head='masked_lm'), then fine-tuning (head='classifier').",
        {
            "head": "classifier",
            "num_classes": 2,
            "classifier_dropout": 0.1,
            "vocabulary_size": 30522,
            "num_layers": num_layers,
            "hidden_dim": hidden_dim,
            "num_heads": num_heads,
            "intermediate_dim": 4 * hidden_dim,
            "max_length": 128,
            "num_segments": 2,
            "dropout": 0.1,
        },
        "sentiment",
    )


PRESETS = {
    "bahdanau": Preset(
        bahdanau.KIND,
        build_bahdanau,
        "RNN encoder-decoder of Bahdanau et al. 2015: bidirectional GRU encoder; at each step the previous "
        "decoder state attends (additive attention) and the context feeds the GRU.",
        {
            "source_vocabulary_size": 8000,
            "target_vocabulary_size": 8000,
            "embedding_dim": 256,
            "units": 512,
            "dropout": 0.1,
        },
        "dates",
    ),
    "transformer": Preset(
        transformer.KIND,
        build_transformer,
        "Transformer encoder-decoder (Vaswani et al. 2017), small: 3+3 layers, d_model 256, 8 heads, "
        "pre-norm (trains stably in few steps).",
        {
            "source_vocabulary_size": 8000,
            "target_vocabulary_size": 8000,
            "max_source_length": 64,
            "max_target_length": 64,
            "hidden_dim": 256,
            "num_layers": 3,
            "num_heads": 8,
            "intermediate_dim": 1024,
            "dropout": 0.1,
            "activation": "relu",
            "position_encoding": "sinusoidal",
            "norm_first": True,
        },
        "dates",
    ),
    "transformer-base": Preset(
        transformer.KIND,
        build_transformer,
        "Transformer base of Vaswani et al. 2017: 6+6 layers, d_model 512, 8 heads, feed-forward 2048.",
        {
            "source_vocabulary_size": 16000,
            "target_vocabulary_size": 16000,
            "max_source_length": 128,
            "max_target_length": 128,
            "hidden_dim": 512,
            "num_layers": 6,
            "num_heads": 8,
            "intermediate_dim": 2048,
            "dropout": 0.1,
            "activation": "relu",
            "position_encoding": "sinusoidal",
            "norm_first": False,
        },
        "dates",
    ),
    "bert-tiny": _bert(2, 128, 2, "Tiny"),
    "bert-mini": _bert(4, 256, 4, "Mini"),
    "bert-small": _bert(4, 512, 8, "Small"),
    "transformer-classifier": Preset(
        transformer_classifier.KIND,
        build_transformer_classifier,
        "Encoder-only Transformer text classifier of the Keras example: token+position embedding, "
        "one Transformer block, masked global average pooling, dense layers.",
        {
            "vocabulary_size": 20000,
            "max_length": 200,
            "embedding_dim": 32,
            "num_heads": 2,
            "intermediate_dim": 32,
            "hidden_units": 20,
            "num_classes": 2,
            "dropout": 0.1,
        },
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
    """A copy of the preset's full configuration (the builder's keyword arguments)."""
    return copy.deepcopy(preset(name).config)


def register(name, spec):
    """Adds preset `name` (a `Preset`) to the zoo."""
    if not isinstance(spec, Preset):
        raise ValueError(f"`spec` must be a Preset, got {spec!r}.")
    PRESETS[name] = spec


def accepted_keys(name):
    """The override keys preset `name` accepts: its config's and its builder's named arguments."""
    spec = preset(name)
    parameters = inspect.signature(spec.builder).parameters.values()
    named = {p.name for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD}
    return sorted((named | set(spec.config)) - {"name"})


def build(name, **overrides):
    """Builds preset `name` with `overrides` applied to its config.

    Raises `ValueError` before building anything if the name or an override
    key is unknown, or if the values conflict.
    """
    spec = preset(name)
    unknown = sorted(set(overrides) - set(accepted_keys(name)))
    if unknown:
        raise ValueError(
            f"Unknown override(s) {unknown} for {name!r}; accepted keys: {accepted_keys(name)}."
        )
    return spec.builder(**{**spec.config, **overrides})
