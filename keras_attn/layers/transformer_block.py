"""What the Transformer encoder and decoder blocks share: their arguments,
the feed-forward sublayer and the residual wiring."""

import keras

from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.validation import check_divisible, check_positive_int, check_rate


class TransformerBlock(keras.layers.Layer):
    """Base of `TransformerEncoderBlock` and `TransformerDecoderBlock`.

    Args:
        num_heads: attention heads; must divide the input width.
        intermediate_dim: width of the feed-forward hidden layer.
        dropout: dropout rate after each sublayer and on attention weights.
        activation: feed-forward activation (`"relu"`, `"gelu"`, ...).
        norm_first: pre-norm (normalise before each sublayer) instead of the
            original post-norm of Vaswani et al.
        layer_norm_epsilon: epsilon of the layer normalisations.
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        activation="relu",
        norm_first=False,
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.intermediate_dim = check_positive_int("intermediate_dim", intermediate_dim)
        self.dropout = check_rate("dropout", dropout)
        self.activation = keras.activations.get(activation)
        self.norm_first = bool(norm_first)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.feed_forward = FeedForward(
            intermediate_dim, self.activation, dropout, name="feed_forward", dtype=self.dtype_policy
        )
        self.feed_forward_norm = self._norm("feed_forward_norm")
        self.feed_forward_dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy)

    def _norm(self, name):
        return keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, name=name, dtype=self.dtype_policy)

    def _attention(self, width, name):
        check_divisible("hidden width", width, "num_heads", self.num_heads)
        return MultiHeadAttention(
            self.num_heads, width // self.num_heads, dropout=self.dropout, name=name, dtype=self.dtype_policy
        )

    def _residual(self, inputs, sublayer, norm, dropout, training):
        """`norm(x + dropout(f(x)))` (post-norm) or `x + dropout(f(norm(x)))` (pre-norm).

        `sublayer` returns a tensor or a tuple whose first item is the
        tensor; the rest (a cache, attention weights) is passed through.
        """
        outputs = sublayer(norm(inputs) if self.norm_first else inputs)
        extras = ()
        if isinstance(outputs, tuple):
            outputs, extras = outputs[0], outputs[1:]
        outputs = inputs + dropout(outputs, training=training)
        if not self.norm_first:
            outputs = norm(outputs)
        return (outputs,) + extras

    def _feed_forward(self, inputs, training):
        (outputs,) = self._residual(
            inputs,
            lambda h: self.feed_forward(h, training=training),
            self.feed_forward_norm,
            self.feed_forward_dropout,
            training,
        )
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "norm_first": self.norm_first,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }
        )
        return config
