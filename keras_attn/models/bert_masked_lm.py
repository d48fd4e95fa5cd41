"""BERT's masked-LM pretraining model."""

import warnings

import keras
import numpy as np

from keras_attn import layers
from keras_attn.models.bert_backbone import BertBackbone
from keras_attn.models.sentence_task import cls_token_ids
from keras_attn.models.task import MASKED_LM, Piece, Task, token_ids_spec, token_loss_and_metrics


@keras.saving.register_keras_serializable(package="keras_attn")
class BertMaskedLM(Task):
    """Predicts the tokens at `mask_positions`, with the output projection
    tied to the token embedding. A `BertClassifier` over the same backbone
    object fine-tunes what it learned.

    Inputs: `{"token_ids", "segment_ids", "mask_positions"}`; output:
    `(batch, predictions, vocabulary_size)` logits. Train with
    `keras_attn.data.masked_lm.MaskedLMDataset`.

    Args:
        backbone: a `BertBackbone`.

    Example:
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, hidden_dim=16, num_heads=2, max_length=8)
    >>> from keras_attn.models.bert_classifier import BertClassifier
    >>> masked_lm = BertMaskedLM(backbone)                 # pretrain it: masked_lm.fit(...)
    >>> BertClassifier(backbone, num_classes=2).backbone is masked_lm.backbone   # then fine-tune
    True
    """

    backbone_class = BertBackbone
    task_type = MASKED_LM

    def __init__(self, backbone, name="bert_masked_lm", **kwargs):
        self.check_backbone(backbone)
        self.backbone = backbone
        token_embedding = backbone.token_embedding
        self.head = layers.MaskedLMHead(token_embedding.input_dim, token_embedding=token_embedding,
                                        activation=backbone.activation_function,
                                        layer_norm_epsilon=backbone.get_config()["layer_norm_epsilon"],
                                        name="masked_lm_head", dtype=backbone.dtype_policy)
        inputs = {**backbone.input, "mask_positions": keras.Input((None,), dtype="int32", name="mask_positions")}
        sequence = backbone({"token_ids": inputs["token_ids"], "segment_ids": inputs["segment_ids"]})["sequence_output"]
        super().__init__(inputs=inputs, outputs=self.head(sequence, inputs["mask_positions"]), name=name, **kwargs)

    def default_loss_and_metrics(self):
        return token_loss_and_metrics()

    def fit(self, *args, **kwargs):
        # Masked LM alone (no next-sentence prediction) leaves the pooler, which only
        # the classifier reads, without gradients: expected, so Keras's warning is not shown.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Gradients do not exist for variables \['pooler/")
            return super().fit(*args, **kwargs)

    @property
    def max_length(self):
        return self.backbone.get_config()["max_length"]

    def export_lengths(self, lengths):
        return {"max_length": self.max_length}

    def pieces(self, lengths):
        inputs = {"token_ids": token_ids_spec(), "segment_ids": token_ids_spec(), "mask_positions": token_ids_spec()}
        return [Piece("forward", self, inputs, {"token_ids": self.max_length, "segment_ids": self.max_length})]

    def runtime_spec(self, lengths):
        return {"task": self.task_type, "max_length": lengths["max_length"],
                "vocabulary_sizes": {"token_ids": self.backbone.get_config()["vocabulary_size"]}}

    def example_inputs(self, lengths, rng, row_lengths):
        ids = cls_token_ids(rng, row_lengths, self.backbone.get_config()["vocabulary_size"])
        positions = np.stack([rng.integers(1, max(2, n), 2) for n in row_lengths]).astype("int32")
        return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "mask_positions": positions}

    def real_inputs(self, task, count):
        ids = task.splits["test"][0][:count]
        return {"token_ids": ids, "segment_ids": np.zeros_like(ids), "mask_positions": np.ones((len(ids), 1), "int32")}
