"""BERT as a sentence encoder: text → one vector (sentence-transformers' pooling)."""

import keras
import numpy as np

from keras_attn import layers
from keras_attn.models.bert_backbone import BertBackbone
from keras_attn.models.sentence_task import SentenceTask
from keras_attn.models.task import EMBEDDING
from keras_attn.validation import check_choice

POOLINGS = ("mean", "cls")


@keras.saving.register_keras_serializable(package="keras_attn")
class BertSentenceEncoder(SentenceTask):
    """`{"token_ids", "segment_ids"}` → `{"embedding": (b, hidden_dim)}`, sentence embeddings:
    the mean of the hidden states over the real tokens (`[CLS]` and `[SEP]`
    included, as sentence-transformers' `Pooling` takes them) or the `[CLS]`
    state, then, with `normalize`, scaled to unit length. What a published
    `BertModel` imports as (all-MiniLM-L6-v2: mean pooling, normalized);
    `keras-attn finetune` puts a `BertClassifier` on its backbone.

    Args:
        backbone: a `BertBackbone`.
        pooling: `"mean"` or `"cls"`.
        normalize: divide each embedding by its L2 norm.

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, hidden_dim=16, num_heads=2, max_length=8)
    >>> encoder = BertSentenceEncoder(backbone)
    >>> vectors = np.asarray(encoder(encoder.forward_inputs(np.array([[4, 9, 10, 0]], "int32")))["embedding"])
    >>> vectors.shape, round(float(np.linalg.norm(vectors)), 5)
    ((1, 16), 1.0)
    """

    backbone_class = BertBackbone
    task_type = EMBEDDING
    extra_inputs = ("segment_ids",)
    directional = ("embedding",)

    def __init__(self, backbone, pooling="mean", normalize=True, name="bert_sentence_encoder", **kwargs):
        self.check_backbone(backbone)
        check_choice("pooling", pooling, POOLINGS)
        if not isinstance(normalize, bool):
            raise ValueError(f"`normalize` must be True or False, got {normalize!r}.")
        self.backbone = backbone
        policy = backbone.dtype_policy
        self.mean_pooling = layers.MaskedAveragePooling(name="mean_pooling", dtype=policy)
        self.unit_normalization = keras.layers.UnitNormalization(name="unit_normalization", dtype=policy)
        inputs = backbone.input
        sequence = backbone(inputs)["sequence_output"]
        if pooling == "mean":
            pooled = self.mean_pooling(sequence, keras.ops.not_equal(inputs["token_ids"], 0))
        else:
            pooled = keras.ops.take(sequence, 0, axis=1)
        # A named output: the exported pieces and the parity suite call it `embedding` too.
        outputs = {"embedding": self.unit_normalization(pooled) if normalize else pooled}
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.pooling, self.normalize = pooling, normalize

    def get_config(self):
        return {**super().get_config(), "pooling": self.pooling, "normalize": self.normalize}

    def default_loss_and_metrics(self):
        # Trained by what it feeds (a classifier over its backbone), not by itself.
        raise ValueError("A BertSentenceEncoder is not trained on its own: fine-tune a BertClassifier on its "
                         "backbone (`keras-attn finetune`).")

    def reference_outputs(self, role, inputs):
        return {name: np.asarray(value) for name, value in self(inputs, training=False).items()}
