"""BERT fine-tuned for classification: the pooled `[CLS]` vector → logits."""

import keras

from keras_attn.models.bert_backbone import BertBackbone
from keras_attn.models.classifier import Classifier
from keras_attn.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class BertClassifier(Classifier):
    """`{"token_ids", "segment_ids"}` → logits `(b, num_classes)`. Its
    backbone may come pretrained from a `BertMaskedLM` (the BERT presets name
    it as their pretraining; `keras-attn train` pretrains on the task's own
    sentences first).

    Args:
        backbone: a `BertBackbone`.
        num_classes: output classes.
        classifier_dropout: rate on the pooled vector.

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone(vocabulary_size=50, num_layers=1, hidden_dim=16, num_heads=2, max_length=8)
    >>> classifier = BertClassifier(backbone, num_classes=3)
    >>> tuple(classifier(classifier.forward_inputs(np.array([[4, 9, 10, 0]], "int32"))).shape)
    (1, 3)
    """

    backbone_class = BertBackbone
    extra_inputs = ("segment_ids",)

    def __init__(self, backbone, num_classes=2, classifier_dropout=0.1, name="bert_classifier", **kwargs):
        self.check_backbone(backbone)
        if not backbone.get_config()["pooler"]:
            raise ValueError("`backbone` has no pooler (pooler=False); a BertClassifier reads the pooled [CLS] vector.")
        check_positive_int("num_classes", num_classes)
        check_rate("classifier_dropout", classifier_dropout)
        self.backbone = backbone
        policy = backbone.dtype_policy
        self.classifier_dropout_layer = keras.layers.Dropout(classifier_dropout, name="classifier_dropout", dtype=policy)
        self.logits = keras.layers.Dense(num_classes, name="logits", dtype=policy)
        inputs = backbone.input
        outputs = self.logits(self.classifier_dropout_layer(backbone(inputs)["pooled_output"]))
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.classifier_dropout = classifier_dropout

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "classifier_dropout": self.classifier_dropout}
