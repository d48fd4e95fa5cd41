"""Reusable, serializable layers of keras-attn (backend-agnostic Keras 3)."""

from keras_attn.layers.activations import ACTIVATIONS, activation, gelu_erf, gelu_tanh
from keras_attn.layers.attention_masks import causal_mask, masked_softmax
from keras_attn.layers.bahdanau_attention import BahdanauAttention
from keras_attn.layers.bahdanau_decoder import BahdanauDecoder
from keras_attn.layers.feed_forward import FeedForward
from keras_attn.layers.fused_attention import fused_attention, fused_attention_enabled, set_fused_attention
from keras_attn.layers.masked_average_pooling import MaskedAveragePooling
from keras_attn.layers.masked_lm_head import MaskedLMHead
from keras_attn.layers.multi_head_attention import MultiHeadAttention
from keras_attn.layers.position_embedding import PositionEmbedding, sinusoidal_table
from keras_attn.layers.tied_logits import TiedLogits
from keras_attn.layers.token_and_position_embedding import TokenAndPositionEmbedding
from keras_attn.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attn.layers.transformer_encoder_block import TransformerEncoderBlock
from keras_attn.layers.while_loop_bidirectional import WhileLoopBidirectional
from keras_attn.layers.zero_row_constraint import ZeroRow

__all__ = [
    "ACTIVATIONS",
    "BahdanauAttention",
    "BahdanauDecoder",
    "FeedForward",
    "MaskedAveragePooling",
    "MaskedLMHead",
    "MultiHeadAttention",
    "PositionEmbedding",
    "TiedLogits",
    "TokenAndPositionEmbedding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "WhileLoopBidirectional",
    "ZeroRow",
    "activation",
    "causal_mask",
    "fused_attention",
    "fused_attention_enabled",
    "gelu_erf",
    "gelu_tanh",
    "masked_softmax",
    "set_fused_attention",
    "sinusoidal_table",
]
