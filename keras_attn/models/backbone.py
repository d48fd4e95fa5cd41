"""The base of every backbone: a functional model whose constructor
arguments are its whole config.

A backbone (as in keras-hub) is the architecture without a task head. It
builds its graph in `__init__` and keeps every setting it was given, so
`get_config` returns exactly the constructor's arguments and `from_config`
is the constructor itself: a saved model rebuilds from its config, never
from its layer names or shapes.
"""

import inspect

import keras

from keras_attn.tokenizers.vocabulary import PAD_ID


class Backbone(keras.Model):
    """Subclasses build their layers and graph, call
    `super().__init__(inputs=..., outputs=..., dtype=dtype, **kwargs)`, then
    `self._remember(locals())`: every named constructor argument becomes
    part of the config. `pad_id` is the id its inputs are padded with; a
    backbone that takes it as a setting sets its own."""

    pad_id = PAD_ID

    def _remember(self, arguments):
        names = [name for name, parameter in inspect.signature(type(self).__init__).parameters.items()
                 if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD]
        self._settings = {name: arguments[name] for name in names if name != "dtype"}
        # The policy its layers were built with. A functional model takes the global
        # policy as its own whatever `dtype` it is given; the head's layers read this one.
        self.dtype_policy = keras.dtype_policies.get(arguments["dtype"] or keras.config.dtype_policy())

    def get_config(self):
        return {
            **self._settings,
            "name": self.name,
            "trainable": self.trainable,
            # Saved so that a model trained under mixed precision reloads as it was trained.
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
