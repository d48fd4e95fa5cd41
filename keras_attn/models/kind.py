"""Model kinds: everything that is specific to one kind of zoo model, in one object.

A `ModelKind` knows, for the models of its kind: how to recognise one
(`owns`), what task it trains on and with which loss, what its inputs are
(real, padded example inputs included), how it is evaluated, decoded
(seq2seq kinds: the encoder and the one-step decoder), exported (its
`Piece`s), checked against its exports, and what the TF-free runtime needs
to run it (`runtime_spec`, written into the export's manifest). Training,
decoding, export, parity and the runtime ask the kind; none of them tests
a model's name or layers.

Each kind lives beside its builder in `keras_attn/models/` and is listed
in the registry (`keras_attn.models.register`); presets in `keras_attn.zoo`
name their kind. A new kind is one file (its builder and a subclass of
`Seq2SeqKind` or `ClassifierKind`) plus one registry entry.

Backend-agnostic Keras and numpy only.
"""

import dataclasses

import keras
import numpy as np

from keras_attn.tokenizers.vocabulary import CLS_ID, PAD_ID

TRANSLATION, CLASSIFICATION, MASKED_LM = "translation", "classification", "masked_lm"


@dataclasses.dataclass
class Piece:
    """A named graph to export, with its input signature."""

    role: str  # "forward", "encoder" or "decoder_step"
    model: keras.Model
    inputs: dict  # name → (shape with None for dynamic dims, dtype)
    max_lengths: dict = dataclasses.field(default_factory=dict)  # input name → longest accepted length


def token_ids_spec(length=None):
    """The input spec of right-padded token ids, of a fixed `length` or dynamic."""
    return ((None, length), "int32")


def random_token_ids(rng, row_lengths, vocabulary_size, first=7):
    """Token ids in `[first, vocabulary_size)` right-padded to `row_lengths`."""
    ids = rng.integers(first, vocabulary_size, (len(row_lengths), max(row_lengths))).astype("int32")
    for row, length in enumerate(row_lengths):
        ids[row, length:] = PAD_ID
    return ids


def build_piece(piece_model, inputs):
    """Runs a subclassed piece once on dummy inputs, so that Keras considers it built."""
    example = {}
    for name, (shape, dtype) in inputs.items():
        example[name] = np.zeros(tuple(2 if dim is None else dim for dim in shape), dtype)
        if name.endswith("token_ids"):
            example[name][..., 0] = 1
    piece_model(example)


def token_loss_and_metrics():
    """Cross-entropy and accuracy over token labels, where label 0 (padding, or an
    unused masked-LM prediction slot) is ignored: the mean is over real tokens."""
    from keras_attn.training.metrics import MaskedAccuracy

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID), [MaskedAccuracy()]


class ModelKind:
    """The interface every kind implements (see the module docstring).

    Attributes:
        name: recorded in `config.json` and the export's manifest.
        task_type: `"translation"`, `"classification"` or `"masked_lm"`:
            which task files and text signatures fit the kind.
        warmup: train with the Transformer's warm-up schedule.
        decodes: generates sequences (greedy and beam search).
        pretraining_overrides: the overrides that build the preset as its
            masked-LM pretraining model, or `None` if it has none.
    """

    name = None
    task_type = None
    warmup = True
    decodes = False
    pretraining_overrides = None
    # Outputs over source positions: what sits at padded positions is never
    # attended to, so runtimes may differ there; compared at real positions only.
    source_aligned = ()

    def owns(self, model):
        """Whether `model` is of this kind."""
        raise NotImplementedError

    def check_task(self, preset, task):
        """Refuses a task this kind cannot train on."""
        from keras_attn.data import tasks

        wanted = {TRANSLATION: tasks.TranslationTask, CLASSIFICATION: tasks.ClassificationTask}.get(self.task_type)
        if wanted is None or not isinstance(task, wanted):
            article = "an" if self.task_type[0] in "aeiou" else "a"
            raise ValueError(f"{preset!r} needs {article} {self.task_type} task; {task.name!r} is not one.")

    def loss_and_metrics(self):
        """`(loss, [metrics])` that `keras_attn.training.compile_model` compiles with."""
        raise NotImplementedError

    def fit_data(self, task, split):
        """`(x, y)` of a task split for `model.fit`."""
        raise NotImplementedError

    def pretrain_on_task(self, model, task, epochs, batch_size, learning_rate, verbose, seed=0):
        """Trains `model` in place before fitting it on `task`; returns report entries."""
        return {}

    def evaluate(self, model, task, split, batch_size=64, limit=None, beam_size=None):
        """The kind's standard scores on a task split, as `{name: value}`."""
        raise NotImplementedError

    def classifier_from(self, model, config):
        """A classifier (of preset `config`) that fine-tunes the pretrained `model`'s backbone."""
        raise ValueError(f"A {self.name} model holds no masked-LM pretraining to fine-tune.")

    # Export and parity.

    def export_lengths(self, model, lengths):
        """The lengths the exported pieces accept, recorded in the manifest.
        `lengths` are the training task's (`task.lengths()`)."""
        raise NotImplementedError

    def pieces(self, model, lengths):
        """The `Piece`s to export, for the manifest's `export_lengths`."""
        raise NotImplementedError

    def runtime_spec(self, lengths):
        """What `keras_attn.runtime` needs to run the pieces (a JSON-able dict)."""
        return {"task": self.task_type}

    def input_vocabulary_sizes(self, model):
        """`{input name: vocabulary size}` of the token-id inputs callers give."""
        raise NotImplementedError

    def example_inputs(self, model, lengths, rng, row_lengths):
        """A batch of the forward piece's inputs, rows right-padded to `row_lengths`."""
        raise NotImplementedError

    def real_inputs(self, task, count):
        """The forward piece's inputs for the first `count` test examples of `task`."""
        raise NotImplementedError

    def role_inputs(self, role, inputs):
        """The part of the forward inputs that piece `role` takes."""
        return inputs

    def reference_outputs(self, model, role, inputs):
        """What Keras computes for piece `role` on `inputs`, as a dict of numpy arrays."""
        return {"logits": np.asarray(model(inputs, training=False))}


class Seq2SeqKind(ModelKind):
    """Encoder-decoder translators: teacher-forced training, greedy and beam
    decoding over an encoder and a one-step decoder, three exported pieces."""

    task_type = TRANSLATION
    decodes = True

    def loss_and_metrics(self):
        return token_loss_and_metrics()

    def fit_data(self, task, split):
        return task.model_inputs(split)

    def inference_models(self, model):
        """`(encoder, decoder_step)` over the training model's layers (see
        `keras_attn.inference.search` for their inputs and outputs)."""
        raise NotImplementedError

    def vocabulary_sizes(self, model):
        """`(source, target)` vocabulary sizes."""
        raise NotImplementedError

    def position_limits(self, model):
        """`(max source length, max target length)` of the model's position
        tables, or `None` where it has none (an RNN)."""
        return None, None

    def default_max_length(self, model, source_length):
        """Decoding steps when the caller gives none: the target position table,
        else twice the source plus a margin."""
        return self.position_limits(model)[1] or 2 * source_length + 10

    def evaluate(self, model, task, split, batch_size=64, limit=None, beam_size=None):
        from keras_attn.inference import decoding
        from keras_attn.training import scoring

        def decode(source_ids, max_length):
            if beam_size:
                return decoding.beam_decode(model, source_ids, beam_size=beam_size, max_length=max_length).tokens
            return decoding.greedy_decode(model, source_ids, max_length=max_length).tokens

        scores = scoring.translation_scores(task, split, decode, batch_size, limit)
        prefix = f"{split}_" + (f"beam{beam_size}_" if beam_size else "")
        return {f"{prefix}{key}": value for key, value in scores.items()}

    def export_lengths(self, model, lengths):
        source, target = self.position_limits(model)
        lengths = lengths or {}
        return {
            "max_source_length": source or lengths.get("max_source_length", 64),
            "max_target_length": target or lengths.get("max_target_length", 64),
        }

    def example_inputs(self, model, lengths, rng, row_lengths):
        source_size, target_size = self.vocabulary_sizes(model)
        return {
            "encoder_token_ids": random_token_ids(rng, row_lengths, source_size),
            "decoder_token_ids": random_token_ids(rng, row_lengths[::-1], target_size),
        }

    def real_inputs(self, task, count):
        x, _ = task.model_inputs("test")
        return {name: value[:count] for name, value in x.items()}

    def role_inputs(self, role, inputs):
        return inputs if role == "forward" else {"encoder_token_ids": inputs["encoder_token_ids"]}

    def reference_outputs(self, model, role, inputs):
        if role == "forward":
            return super().reference_outputs(model, role, inputs)
        encoder, _ = self.inference_models(model)
        return {name: np.asarray(value) for name, value in encoder(inputs).items()}

    def runtime_spec(self, lengths):
        # Pieces of a fixed source length need their inputs padded to it;
        # `max_steps` bounds decoding where a position table does.
        source_limit, target_limit = lengths["max_source_length"], lengths["max_target_length"]
        return {"task": self.task_type, "fixed_source_length": None, "max_source_length": source_limit,
                "max_steps": target_limit}

    def input_vocabulary_sizes(self, model):
        return {"encoder_token_ids": self.vocabulary_sizes(model)[0]}

    def decoding_pieces(self, model, encoder, step, source_spec, target_spec, memory_inputs, max_lengths):
        """The three pieces of a translator, over its encoder and step models."""
        step_inputs = {
            "token_ids": ((None, 1), "int32"),
            "step": ((None,), "int32"),
            "encoder_token_ids": source_spec,
            **memory_inputs,
        }
        encoder_inputs = {"encoder_token_ids": source_spec}
        build_piece(encoder, encoder_inputs)
        build_piece(step, step_inputs)
        source_limit = {k: v for k, v in max_lengths.items() if k == "encoder_token_ids"}
        return [
            Piece("forward", model, {"encoder_token_ids": source_spec, "decoder_token_ids": target_spec}, max_lengths),
            Piece("encoder", encoder, encoder_inputs, source_limit),
            Piece("decoder_step", step, step_inputs, source_limit),
        ]


class ClassifierKind(ModelKind):
    """Text classifiers: token ids that start with `[CLS]` → class logits; one
    exported piece."""

    task_type = CLASSIFICATION
    extra_inputs = ()  # inputs besides the token ids, all zeros (e.g. BERT's one segment)

    def loss_and_metrics(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True), [
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        ]

    def input_names(self):
        return ("token_ids",) + tuple(self.extra_inputs)

    def forward_inputs(self, token_ids, zeros_like=np.zeros_like):
        """The model's inputs for a batch of token ids; `zeros_like` makes the
        extra inputs (pass `tf.zeros_like` inside a TensorFlow graph)."""
        return {"token_ids": token_ids, **{name: zeros_like(token_ids) for name in self.extra_inputs}}

    def fit_data(self, task, split):
        token_ids, labels = task.splits[split]
        return self.forward_inputs(token_ids), labels

    def vocabulary_size(self, model):
        raise NotImplementedError

    def max_length(self, model):
        """The longest input the model accepts (its position table)."""
        raise NotImplementedError

    def evaluate(self, model, task, split, batch_size=64, limit=None, beam_size=None):
        from keras_attn.training import scoring

        x, labels = self.fit_data(task, split)
        return {f"{split}_accuracy": scoring.accuracy(model, x, labels, batch_size)}

    def export_lengths(self, model, lengths):
        return {"max_length": self.max_length(model)}

    def pieces(self, model, lengths):
        limit = self.max_length(model)
        names = self.input_names()
        return [Piece("forward", model, {name: token_ids_spec() for name in names}, {name: limit for name in names})]

    def runtime_spec(self, lengths):
        return {"task": self.task_type, "zero_inputs": list(self.extra_inputs), "max_length": lengths["max_length"]}

    def input_vocabulary_sizes(self, model):
        return {"token_ids": self.vocabulary_size(model)}

    def example_inputs(self, model, lengths, rng, row_lengths):
        ids = random_token_ids(rng, row_lengths, self.vocabulary_size(model))
        ids[:, 0] = CLS_ID
        return self.forward_inputs(ids)

    def real_inputs(self, task, count):
        return self.forward_inputs(task.splits["test"][0][:count])
