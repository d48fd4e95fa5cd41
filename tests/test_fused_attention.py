"""The fused attention path computes what the plain one does (float32)."""

import keras
import numpy as np
import pytest

from keras_attn import layers, zoo
from keras_attn.inference import decoding
from tests.conftest import random_ids

ATOL = 2e-5  # float32; the worst error seen is reported by bench/training.py


def _both(function):
    """`function()` under plain, then fused attention."""
    plain = keras.ops.convert_to_numpy(function())
    with layers.fused_attention():
        fused = keras.ops.convert_to_numpy(function())
    return plain, fused


def test_the_switch_is_scoped():
    assert not layers.fused_attention_enabled()
    with layers.fused_attention():
        assert layers.fused_attention_enabled()
        with layers.fused_attention(False):
            assert not layers.fused_attention_enabled()
        assert layers.fused_attention_enabled()
    assert not layers.fused_attention_enabled()


@pytest.mark.parametrize("causal", [False, True])
def test_layer_matches_plain_with_padding(rng, causal):
    attention = layers.MultiHeadAttention(num_heads=4, key_dim=8)
    query = rng.normal(size=(3, 7, 32)).astype("float32")
    value = query if causal else rng.normal(size=(3, 9, 32)).astype("float32")
    mask = np.ones(value.shape[:2], "int32")
    mask[1, 4:] = 0
    mask[2, 1:] = 0
    plain, fused = _both(lambda: attention(query, value, padding_mask=mask, use_causal_mask=causal))
    np.testing.assert_allclose(fused, plain, atol=ATOL)


def test_cached_step_matches_plain(rng):
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=8)
    step = rng.normal(size=(2, 1, 16)).astype("float32")
    # Slots past the index must be ignored.
    cache = (rng.normal(size=(2, 2, 8, 6)).astype("float32"), rng.normal(size=(2, 2, 6, 8)).astype("float32"))
    index = np.array([3, 0], "int32")
    plain, plain_cache = attention(step, step, cache=cache, cache_index=index)
    with layers.fused_attention():
        fused, fused_cache = attention(step, step, cache=cache, cache_index=index)
    np.testing.assert_allclose(np.asarray(fused), np.asarray(plain), atol=ATOL)
    for got, expected in zip(fused_cache, plain_cache):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


def test_weights_requested_means_plain(rng):
    attention = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    x = rng.normal(size=(1, 3, 8)).astype("float32")
    with layers.fused_attention():
        _, weights = attention(x, x, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, atol=1e-6)


def test_transformer_forward_and_decoding_match_plain(rng):
    model = zoo.build("transformer", num_layers=2, hidden_dim=32, num_heads=4, intermediate_dim=64,
                      source_vocabulary_size=40, target_vocabulary_size=30, dropout=0.0)
    source = random_ids(rng, (3, 11), 40, lengths=[11, 6, 2])
    target = random_ids(rng, (3, 8), 30, lengths=[8, 5, 1])
    x = {"encoder_token_ids": source, "decoder_token_ids": target}
    plain, fused = _both(lambda: model(x))
    real = target != 0
    np.testing.assert_allclose(fused[real], plain[real], atol=ATOL)
    # The compiled search is traced once per switch position, so this one runs fused (with the cache).
    plain, fused = _both(lambda: decoding.greedy_decode(model, source, max_length=6).tokens)
    np.testing.assert_array_equal(fused, plain)


def test_a_training_step_matches_plain(rng):
    config = {"num_layers": 1, "hidden_dim": 16, "num_heads": 2, "intermediate_dim": 32, "vocabulary_size": 50,
              "max_length": 12, "dropout": 0.0, "classifier_dropout": 0.0}
    ids = random_ids(rng, (4, 12), 50, lengths=[12, 7, 3, 9])
    x, y = {"token_ids": ids, "segment_ids": np.zeros_like(ids)}, np.array([0, 1, 1, 0])
    first = zoo.build("bert-tiny", **config)
    updated = []
    for fused in (False, True):
        model = zoo.build("bert-tiny", **config)
        model.set_weights(first.get_weights())
        model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        with layers.fused_attention(fused):
            model.train_on_batch(x, y)  # traced here, under the switch
        updated.append(model.get_weights())
    moved = max(np.abs(a - b).max() for a, b in zip(updated[0], first.get_weights()))
    assert moved > 1e-3
    for plain, fused in zip(*updated):
        np.testing.assert_allclose(fused, plain, atol=ATOL)
