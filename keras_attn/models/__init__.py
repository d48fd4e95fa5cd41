"""The zoo's models: backbones, the task models that wrap them, and the
registry of task classes.

A model's kind is its class. Every task class is registered under its
Keras registered name (`keras_attn>BertClassifier`, ...), which `config.json`
and export manifests record; `task_class(name)` finds it again, and
`check(model)` refuses a model that is not an instance of exactly one
registered class.

>>> from keras_attn import models
>>> models.task_class("keras_attn>TransformerTranslator").__name__
'TransformerTranslator'
"""

import keras

from keras_attn.models.bahdanau_backbone import BahdanauBackbone
from keras_attn.models.bahdanau_translator import BahdanauTranslator
from keras_attn.models.backbone import Backbone
from keras_attn.models.bert_backbone import BertBackbone
from keras_attn.models.bert_classifier import BertClassifier
from keras_attn.models.bert_masked_lm import BertMaskedLM
from keras_attn.models.bert_sentence_encoder import BertSentenceEncoder
from keras_attn.models.classifier import Classifier
from keras_attn.models.sentence_task import SentenceTask
from keras_attn.models.generative_task import GenerativeTask
from keras_attn.models.task import CLASSIFICATION, EMBEDDING, MASKED_LM, TRANSLATION, Piece, Task
from keras_attn.models.transformer_backbone import TransformerBackbone
from keras_attn.models.transformer_classifier import TransformerClassifier
from keras_attn.models.transformer_encoder_backbone import TransformerEncoderBackbone
from keras_attn.models.transformer_translator import TransformerTranslator

TASKS = {}


def register(cls):
    """Adds task class `cls` (registered with Keras first, if it is not) to
    the registry; returns it, so it serves as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise ValueError(f"`cls` must be a subclass of keras_attn.models.Task, got {cls!r}.")
    name = keras.saving.get_registered_name(cls)
    if keras.saving.get_registered_object(name) is not cls:
        cls = keras.saving.register_keras_serializable(package="keras_attn")(cls)
        name = keras.saving.get_registered_name(cls)
    if TASKS.get(name, cls) is not cls:
        raise ValueError(f"Two task classes claim the name {name!r}: {TASKS[name].__qualname__} and {cls.__qualname__}.")
    TASKS[name] = cls
    return cls


def registered_name(model_or_class):
    """The name the registry (and `config.json`, and manifests) knows a task class by."""
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    return keras.saving.get_registered_name(cls)


def task_class(name):
    """The registered task class called `name`."""
    if name not in TASKS:
        raise ValueError(f"Unknown model class {name!r}; registered: {sorted(TASKS)}.")
    return TASKS[name]


def check(model):
    """`model` itself, if its class is a registered task class."""
    if TASKS.get(registered_name(model)) is not type(model):
        raise ValueError(f"Model {getattr(model, 'name', model)!r} ({type(model).__name__}) is not of a registered "
                         f"keras-attn task class ({sorted(TASKS)}).")
    return model


for _cls in (BahdanauTranslator, TransformerTranslator, BertClassifier, BertMaskedLM, BertSentenceEncoder,
             TransformerClassifier):
    register(_cls)

__all__ = [
    "BahdanauBackbone", "BahdanauTranslator", "Backbone", "BertBackbone", "BertClassifier", "BertMaskedLM",
    "BertSentenceEncoder", "CLASSIFICATION", "EMBEDDING", "Classifier", "GenerativeTask", "MASKED_LM", "Piece", "SentenceTask", "TASKS", "TRANSLATION", "Task",
    "TransformerBackbone", "TransformerClassifier", "TransformerEncoderBackbone", "TransformerTranslator",
    "check", "register", "registered_name", "task_class",
]
