"""The zoo's model kinds and their registry.

Every kind of model (see `kind.py`) is registered here; the rest of
keras-attn finds a model's kind with `kind_of(model)` or a recorded kind
with `get(name)`, and asks it.
"""

from keras_attn.models import bahdanau, bert, transformer, transformer_classifier
from keras_attn.models.kind import ClassifierKind, ModelKind, Piece, Seq2SeqKind

KINDS = {}


def register(kind):
    """Adds `kind` (a `ModelKind`) to the registry; returns it."""
    if not isinstance(kind, ModelKind) or not kind.name:
        raise ValueError(f"`kind` must be a named ModelKind, got {kind!r}.")
    KINDS[kind.name] = kind
    return kind


def get(name):
    """The registered kind called `name` (as `config.json` and manifests record it)."""
    if name not in KINDS:
        raise ValueError(f"Unknown model kind {name!r}; registered kinds: {sorted(KINDS)}.")
    return KINDS[name]


def kind_of(model):
    """The registered kind that owns `model`."""
    for kind in KINDS.values():
        if kind.owns(model):
            return kind
    raise ValueError(f"Model {model.name!r} is not of a registered keras-attn kind ({sorted(KINDS)}).")


for _kind in (bert.MASKED_LM_KIND, bert.CLASSIFIER, bahdanau.KIND, transformer.KIND, transformer_classifier.KIND):
    register(_kind)

__all__ = ["ClassifierKind", "KINDS", "ModelKind", "Piece", "Seq2SeqKind", "get", "kind_of", "register"]
