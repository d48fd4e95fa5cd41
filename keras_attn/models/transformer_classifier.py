"""The encoder-only Transformer text classifier of the Keras example."""

import keras

from keras_attn.models.classifier import Classifier
from keras_attn.models.transformer_encoder_backbone import TransformerEncoderBackbone
from keras_attn.validation import check_positive_int, check_rate


@keras.saving.register_keras_serializable(package="keras_attn")
class TransformerClassifier(Classifier):
    """`token_ids (b, n)` (a plain array) → logits `(b, num_classes)`: the
    backbone's pooled vector → dropout → a ReLU layer → dropout → logits.

    Args:
        backbone: a `TransformerEncoderBackbone`.
        hidden_units: the ReLU layer's width.
        num_classes: output classes.
        classifier_dropout: rate before each dense layer.

    Example:
    >>> import numpy as np
    >>> classifier = TransformerClassifier(TransformerEncoderBackbone(vocabulary_size=50, max_length=8))
    >>> tuple(classifier(np.array([[4, 9, 0]], "int32")).shape)
    (1, 2)
    """

    backbone_class = TransformerEncoderBackbone

    def __init__(self, backbone, hidden_units=20, num_classes=2, classifier_dropout=0.1,
                 name="transformer_classifier", **kwargs):
        self.check_backbone(backbone)
        check_positive_int("hidden_units", hidden_units)
        check_positive_int("num_classes", num_classes)
        check_rate("classifier_dropout", classifier_dropout)
        self.backbone = backbone
        policy = backbone.dtype_policy
        self.hidden = keras.layers.Dense(hidden_units, activation="relu", name="hidden", dtype=policy)
        self.logits = keras.layers.Dense(num_classes, name="logits", dtype=policy)
        dropouts = [keras.layers.Dropout(classifier_dropout, dtype=policy) for _ in range(2)]
        inputs = backbone.input
        outputs = self.logits(dropouts[1](self.hidden(dropouts[0](backbone(inputs)))))
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self.hidden_units, self.classifier_dropout = hidden_units, classifier_dropout

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units, "num_classes": self.num_classes,
                "classifier_dropout": self.classifier_dropout}
