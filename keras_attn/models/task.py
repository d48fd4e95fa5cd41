"""The base of every task model: a backbone with a head, and everything
specific to what the model does.

A task (as in keras-hub: `BertClassifier`, `TransformerTranslator`, ...)
wraps a `Backbone` object and owns what differs between kinds of model:
its compile defaults (`compile()` with no loss fills in its own), the data
it fits (`fit_inputs`), how it is scored (`evaluate_task`), the pieces it
exports (`pieces`), the inputs the parity suite runs it on and what the
TensorFlow-free runtime needs (`runtime_spec`). Training, export, parity
and the runtime ask the model; none of them reads a layer name.

Backend-agnostic Keras and numpy only.
"""

import dataclasses
import inspect

import keras
import numpy as np

from keras_attn.data.tasks import CLASSIFICATION, EMBEDDING, MASKED_LM, TRANSLATION  # noqa: F401  (re-exported)
from keras_attn.tokenizers.vocabulary import PAD_ID


@dataclasses.dataclass
class Piece:
    """A named graph to export, with its input signature.

    `role` is `"forward"` (the whole model), `"prefill"` or `"step"` (the
    generation protocol, see `GenerativeTask`), `"greedy_search"` or
    `"beam_search"` (a whole search as one graph); `inputs` maps input names to
    `(shape with None for dynamic dims, dtype)`; `max_lengths` gives the
    longest accepted length of the inputs that have one; `adapt` turns the
    dict of named inputs into what `model` takes.
    """

    role: str
    model: keras.Model
    inputs: dict
    max_lengths: dict = dataclasses.field(default_factory=dict)
    adapt: object = None

    def __call__(self, inputs, **kwargs):
        return self.model(self.adapt(inputs) if self.adapt else inputs, **kwargs)


def token_ids_spec(length=None):
    """The input spec of right-padded token ids, of a fixed `length` or dynamic."""
    return ((None, length), "int32")


def random_token_ids(rng, row_lengths, vocabulary_size, first=7, pad_id=PAD_ID):
    """Token ids in `[first, vocabulary_size)`, never `pad_id`, right-padded
    with `pad_id` to `row_lengths`."""
    ids = rng.integers(first, vocabulary_size - (first <= pad_id), (len(row_lengths), max(row_lengths)))
    ids = (ids + (ids >= pad_id) * (first <= pad_id)).astype("int32")
    for row, length in enumerate(row_lengths):
        ids[row, length:] = pad_id
    return ids


def build_piece(piece_model, inputs):
    """Runs a subclassed piece once on dummy inputs, so that Keras considers it built."""
    example = {}
    for name, (shape, dtype) in inputs.items():
        example[name] = np.zeros(tuple(2 if dim is None else dim for dim in shape), dtype)
        if name.endswith("token_ids"):
            example[name][..., 0] = 1
    piece_model(example)


def token_loss_and_metrics(pad_id=PAD_ID):
    """Cross-entropy and accuracy over token labels, where label `pad_id` (padding,
    or an unused masked-LM prediction slot) is ignored: the mean is over real tokens."""
    from keras_attn.training.metrics import MaskedAccuracy

    return (keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=pad_id),
            [MaskedAccuracy(pad_id)])


def _named_arguments(function):
    return {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()
            if name not in ("self", "backbone", "name", "dtype")
            and parameter.kind not in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)}


class Task(keras.Model):
    """The interface of every task model (see the module docstring).

    Class attributes:
        backbone_class: the `Backbone` it wraps (`from_settings` makes one).
        task_type: `"translation"`, `"classification"` or `"masked_lm"`:
            which data and text signatures fit it.
        warmup: trained with the Transformer's warm-up schedule.
        aligned_input: the input whose positions some outputs follow (the
            source of a translator): compared at real positions only.
        directional: outputs compared by their cosine similarity to Keras
            (a sentence embedding), not by argmax.
    """

    backbone_class = None
    task_type = None
    warmup = True
    aligned_input = None
    source_aligned = {}  # {output: axis} over `aligned_input`'s positions (padded ones are never read)
    directional = ()  # vector outputs whose direction is what counts: checked by cosine similarity

    # --- Building from flat settings (presets and overrides). ---

    @classmethod
    def settings(cls):
        """`{name: default}` of every setting: the backbone's arguments, then the task's own."""
        return {**_named_arguments(cls.backbone_class.__init__), **_named_arguments(cls.__init__)}

    @classmethod
    def split_settings(cls, settings):
        """`(the backbone's arguments, the task's own)` of flat `settings`."""
        backbone_keys = _named_arguments(cls.backbone_class.__init__)
        return ({k: v for k, v in settings.items() if k in backbone_keys},
                {k: v for k, v in settings.items() if k not in backbone_keys})

    @classmethod
    def from_settings(cls, **settings):
        """A task with a new backbone, from flat settings (unknown keys refused by the caller)."""
        backbone_settings, own = cls.split_settings(settings)
        return cls(cls.backbone_class(**backbone_settings), **own)

    def current_settings(self):
        """This model's settings, flat, as `from_settings` takes them: its
        backbone's arguments and its own (what `config.json` records)."""
        backbone_keys, own_keys = self.split_settings(self.settings())
        backbone, own = self.backbone.get_config(), self.get_config()
        return {**{key: backbone[key] for key in backbone_keys}, **{key: own[key] for key in own_keys}}

    @classmethod
    def check_backbone(cls, backbone):
        """Refuses a `backbone` that is not a `backbone_class`, naming both."""
        if not isinstance(backbone, cls.backbone_class):
            raise ValueError(f"`backbone` must be a {cls.backbone_class.__name__}, got {type(backbone).__name__}.")

    @property
    def pad_id(self):
        """The id its inputs are padded with (and generated rows after their end)."""
        return self.backbone.pad_id

    def check_ids(self, task):
        """Refuses a data task whose vocabulary pads with another id than the model masks."""
        pad_id = task.tokenizers["source"].vocabulary.pad_id
        if self.pad_id != pad_id:
            raise ValueError(f"The model's `pad_id` is {self.pad_id} but {task.name!r} pads with {pad_id}.")

    # --- Saving: the backbone is a nested object, as in keras-hub. ---

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone), "name": self.name,
                "trainable": self.trainable}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    # --- Training. ---

    def default_loss_and_metrics(self):
        raise NotImplementedError

    def compile(self, optimizer="adam", loss="auto", metrics="auto", **kwargs):
        """`keras.Model.compile` with this task's loss and metrics where they are `"auto"`."""
        default_loss, default_metrics = self.default_loss_and_metrics()
        super().compile(optimizer=optimizer, loss=default_loss if loss == "auto" else loss,
                        metrics=default_metrics if metrics == "auto" else metrics, **kwargs)

    def compile_from_config(self, config):
        # Keras skips a custom `compile` when it reloads a `.keras` file; this one takes the saved config.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)  # so that saved optimizer variables load

    @classmethod
    def check_data(cls, task, name=None):
        """Refuses a data task this model cannot fit."""
        if getattr(task, "task_type", None) != cls.task_type:
            article = "an" if cls.task_type[0] in "aeiou" else "a"
            raise ValueError(f"{name or cls.__name__!r} needs {article} {cls.task_type} task; "
                             f"{getattr(task, 'name', task)!r} is not one.")

    def fit_inputs(self, task, split):
        """`(x, y)` of a data task's split for `model.fit`."""
        raise NotImplementedError

    def evaluate_task(self, task, split, batch_size=64, limit=None, beam_size=None):
        """The standard scores on a data task's split, as `{name: value}`."""
        raise NotImplementedError

    # --- Export, parity and the runtime. ---

    def call_inputs(self, inputs):
        """`inputs` (a dict by input name) as this model takes them: the
        array itself where the model has one input."""
        return inputs if isinstance(self.input, dict) else inputs[self.input.name]

    def export_lengths(self, lengths):
        """The lengths the exported pieces accept (the manifest records them);
        `lengths` are the training task's (`task.lengths()`), or `None`."""
        raise NotImplementedError

    def pieces(self, lengths):
        """The `Piece`s to export, for `export_lengths`."""
        raise NotImplementedError

    def weights_kept_float(self):
        """The weights (numpy arrays) that int8 exports keep in float32:
        none by default; a model lists those whose rounding changes too many
        of its outputs (`BahdanauTranslator`: its decoder's)."""
        return []

    def runtime_spec(self, lengths):
        """What `keras_attn.runtime` needs to run the pieces (JSON-able)."""
        raise NotImplementedError

    def example_inputs(self, lengths, rng, row_lengths):
        """A batch of the forward piece's inputs (a dict), rows right-padded to `row_lengths`."""
        raise NotImplementedError

    def real_inputs(self, task, count):
        """The forward piece's inputs (a dict) for the first `count` test examples of a data task."""
        raise NotImplementedError

    def role_inputs(self, role, inputs):
        """The part of the forward inputs that piece `role` takes."""
        return inputs

    def reference_outputs(self, role, inputs):
        """What Keras computes for piece `role` on `inputs`, as a dict of numpy arrays."""
        return {"logits": np.asarray(self(self.call_inputs(inputs), training=False))}
