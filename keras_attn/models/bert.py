"""A small BERT (Devlin et al. 2019) in the sizes of Turc et al. (2019).

`build_bert_backbone` returns `{"token_ids", "segment_ids"} →
{"sequence_output", "pooled_output"}`. Two task models wrap the same
backbone object, so pretrained weights move by passing it on:

    backbone = build_bert_backbone(...)
    BertMaskedLM(backbone).fit(...)          # masked-LM pretraining
    BertClassifier(backbone, num_classes=2).fit(...)   # fine-tuning
"""

import warnings

import keras
import numpy as np
from keras import ops

from keras_attn import layers, progress
from keras_attn.models.kind import MASKED_LM, ClassifierKind, ModelKind, Piece, token_ids_spec, token_loss_and_metrics
from keras_attn.validation import check_divisible, check_positive_int, check_rate


def build_bert_backbone(
    vocabulary_size=30522,
    num_layers=2,
    hidden_dim=128,
    num_heads=2,
    intermediate_dim=None,
    max_length=128,
    num_segments=2,
    dropout=0.1,
    name="bert_backbone",
):
    """Token + learned position + segment embeddings, then post-norm GELU
    (tanh form, see `layers.gelu_tanh`) encoder blocks. `intermediate_dim` defaults to `4 * hidden_dim`."""
    intermediate_dim = intermediate_dim or 4 * hidden_dim
    for arg, value in (
        ("vocabulary_size", vocabulary_size),
        ("num_layers", num_layers),
        ("hidden_dim", hidden_dim),
        ("num_heads", num_heads),
        ("intermediate_dim", intermediate_dim),
        ("max_length", max_length),
        ("num_segments", num_segments),
    ):
        check_positive_int(arg, value)
    check_divisible("hidden_dim", hidden_dim, "num_heads", num_heads)
    check_rate("dropout", dropout)

    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    segment_ids = keras.Input((None,), dtype="int32", name="segment_ids")
    embeddings = layers.TokenAndPositionEmbedding(vocabulary_size, max_length, hidden_dim, name="embeddings")
    segments = keras.layers.Embedding(num_segments, hidden_dim, name="segment_embedding")
    x = embeddings(token_ids) + segments(segment_ids)
    x = keras.layers.Dropout(dropout)(keras.layers.LayerNormalization(epsilon=1e-12, name="embeddings_norm")(x))
    padding_mask = ops.not_equal(token_ids, 0)
    for i in range(num_layers):
        x = layers.TransformerEncoderBlock(
            num_heads,
            intermediate_dim,
            dropout=dropout,
            activation=layers.gelu_tanh,
            layer_norm_epsilon=1e-12,
            name=f"encoder_layer_{i}",
        )(x, padding_mask=padding_mask)
    pooled = keras.layers.Dense(hidden_dim, activation="tanh", name="pooler")(ops.take(x, 0, axis=1))
    return keras.Model(
        {"token_ids": token_ids, "segment_ids": segment_ids},
        {"sequence_output": x, "pooled_output": pooled},
        name=name,
    )


def _backbone_policy(backbone):
    """The dtype policy the backbone's layers compute with (e.g. mixed_bfloat16),
    for the head. Read from a layer: a functional model's own policy is not saved."""
    return backbone.get_layer("embeddings").dtype_policy


class _BertTask(keras.Model):
    """Saves and reloads its backbone as a nested object, like keras-hub tasks."""

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_attn")
class BertClassifier(_BertTask):
    """The backbone's pooled `[CLS]` vector → dropout → logits.

    Inputs: `{"token_ids", "segment_ids"}`; output: `(batch, num_classes)` logits.
    """

    def __init__(self, backbone, num_classes=2, dropout=0.1, name="bert_classifier", **kwargs):
        check_positive_int("num_classes", num_classes)
        check_rate("dropout", dropout)
        inputs = {"token_ids": backbone.input["token_ids"], "segment_ids": backbone.input["segment_ids"]}
        pooled = backbone(inputs)["pooled_output"]
        policy = _backbone_policy(backbone)
        logits = keras.layers.Dense(num_classes, name="logits", dtype=policy)(
            keras.layers.Dropout(dropout, dtype=policy)(pooled)
        )
        super().__init__(inputs=inputs, outputs=logits, name=name, **kwargs)
        self.backbone = backbone
        self.num_classes = num_classes
        self.dropout = dropout

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="keras_attn")
class BertMaskedLM(_BertTask):
    """Masked-LM pretraining: predicts the tokens at `mask_positions`, with the
    output projection tied to the token embedding.

    Inputs: `{"token_ids", "segment_ids", "mask_positions"}`; output:
    `(batch, predictions, vocabulary_size)` logits. Train with
    `keras_attn.data.masked_lm.MaskedLMDataset`.
    """

    def __init__(self, backbone, name="bert_masked_lm", **kwargs):
        token_embedding = backbone.get_layer("embeddings").token_embedding
        inputs = {
            "token_ids": backbone.input["token_ids"],
            "segment_ids": backbone.input["segment_ids"],
            "mask_positions": keras.Input((None,), dtype="int32", name="mask_positions"),
        }
        sequence = backbone({"token_ids": inputs["token_ids"], "segment_ids": inputs["segment_ids"]})[
            "sequence_output"
        ]
        head = layers.MaskedLMHead(
            token_embedding.input_dim,
            token_embedding=token_embedding,
            activation=layers.gelu_tanh,
            name="masked_lm_head",
            dtype=_backbone_policy(backbone),
        )
        logits = head(sequence, inputs["mask_positions"])
        super().__init__(inputs=inputs, outputs=logits, name=name, **kwargs)
        self.backbone = backbone

    def fit(self, *args, **kwargs):
        # Masked LM alone (no next-sentence prediction) leaves the pooler, which only
        # the classifier reads, without gradients: expected, so Keras's warning is not shown.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Gradients do not exist for variables \['pooler/")
            return super().fit(*args, **kwargs)


def build_bert(head="classifier", num_classes=2, classifier_dropout=0.1, **backbone_config):
    """A backbone with a task head: `"classifier"` (`BertClassifier`) or
    `"masked_lm"` (`BertMaskedLM`). Other arguments go to `build_bert_backbone`."""
    if head not in ("classifier", "masked_lm"):
        raise ValueError(f"`head` must be one of ['classifier', 'masked_lm'], got {head!r}.")
    check_positive_int("num_classes", num_classes)
    check_rate("classifier_dropout", classifier_dropout)
    backbone = build_bert_backbone(**backbone_config)
    if head == "masked_lm":
        return BertMaskedLM(backbone)
    return BertClassifier(backbone, num_classes=num_classes, dropout=classifier_dropout)


def _max_length(model):
    return model.backbone.get_layer("embeddings").sequence_length


class BertClassifierKind(ClassifierKind):
    """`BertClassifier`: one segment, pretrained with the masked-LM objective
    on the task's own sentences before fine-tuning (`pretrain_on_task`)."""

    name = "bert"
    extra_inputs = ("segment_ids",)
    pretraining_overrides = {"head": "masked_lm"}

    def owns(self, model):
        return isinstance(model, BertClassifier)

    def vocabulary_size(self, model):
        return model.backbone.get_layer("embeddings").vocabulary_size

    def max_length(self, model):
        return _max_length(model)

    def pretrain_on_task(self, model, task, epochs, batch_size, learning_rate, verbose, seed=0):
        if not epochs:
            return {}
        from keras_attn.data.masked_lm import MaskedLMDataset
        from keras_attn.training import compile_model

        masked_lm = BertMaskedLM(model.backbone)  # pretrains the classifier's backbone in place
        batches = MaskedLMDataset(task.splits["train"][0], len(task.vocabulary), batch_size=batch_size, seed=seed)
        compile_model(masked_lm, learning_rate, total_steps=len(batches) * epochs)
        with progress.step(f"masked-LM pretraining on the task's sentences for {epochs} epoch(s)"):
            history = masked_lm.fit(batches, epochs=epochs, verbose=verbose)
        return {"pretraining_loss": [float(v) for v in history.history["loss"]]}


class BertMaskedLMKind(ModelKind):
    """`BertMaskedLM`: pretraining on unlabeled text (`keras_attn.training.pretrain`);
    fine-tuned as a `BertClassifier` over the same backbone."""

    name = "bert_masked_lm"
    task_type = MASKED_LM

    def owns(self, model):
        return isinstance(model, BertMaskedLM)

    def loss_and_metrics(self):
        return token_loss_and_metrics()

    def classifier_from(self, model, config):
        return BertClassifier(model.backbone, num_classes=config["num_classes"], dropout=config["classifier_dropout"])

    def export_lengths(self, model, lengths):
        return {"max_length": _max_length(model)}

    def input_vocabulary_sizes(self, model):
        return CLASSIFIER.input_vocabulary_sizes(model)

    def pieces(self, model, lengths):
        limit = _max_length(model)
        inputs = {"token_ids": token_ids_spec(), "segment_ids": token_ids_spec(), "mask_positions": token_ids_spec()}
        return [Piece("forward", model, inputs, {"token_ids": limit, "segment_ids": limit})]

    def example_inputs(self, model, lengths, rng, row_lengths):
        inputs = CLASSIFIER.example_inputs(model, lengths, rng, row_lengths)
        inputs["mask_positions"] = np.stack([rng.integers(1, max(2, n), 2) for n in row_lengths]).astype("int32")
        return inputs

    def real_inputs(self, task, count):
        inputs = CLASSIFIER.real_inputs(task, count)
        inputs["mask_positions"] = np.ones((len(inputs["token_ids"]), 1), "int32")
        return inputs


CLASSIFIER = BertClassifierKind()
MASKED_LM_KIND = BertMaskedLMKind()
