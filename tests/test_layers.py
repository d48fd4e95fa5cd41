import keras
import numpy as np
import pytest

from keras_attn import layers
from tests.conftest import pad_right


def reload_layer(layer):
    return layer.__class__.from_config(layer.get_config())


class TestBahdanauAttention:
    def test_matches_the_additive_score_formula(self, rng):
        attention = layers.BahdanauAttention(units=5)
        query = rng.normal(size=(2, 3, 4)).astype("float32")
        keys = rng.normal(size=(2, 6, 7)).astype("float32")
        context, weights = attention(query, keys, return_attention_scores=True)
        W1 = keras.ops.convert_to_numpy(attention.query_projection.kernel)
        W2 = keras.ops.convert_to_numpy(attention.key_projection.kernel)
        v = keras.ops.convert_to_numpy(attention.score_projection.kernel)[:, 0]
        scores = np.tanh((query @ W1)[:, :, None, :] + (keys @ W2)[:, None, :, :]) @ v
        expected = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
        np.testing.assert_allclose(weights, expected, atol=1e-5)
        np.testing.assert_allclose(context, expected @ keys, atol=1e-5)

    def test_padded_keys_get_zero_weight_and_change_nothing(self, rng):
        attention = layers.BahdanauAttention(units=8)
        query = rng.normal(size=(2, 3, 4)).astype("float32")
        keys = rng.normal(size=(2, 5, 4)).astype("float32")
        mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
        context, weights = attention(query, keys, keys_mask=mask, return_attention_scores=True)
        weights = np.asarray(weights)
        assert np.all(weights[1, :, 2:] == 0)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
        # Extra padded keys with arbitrary contents leave the context unchanged.
        noisy_keys = np.concatenate([keys, rng.normal(size=(2, 4, 4)).astype("float32")], axis=1)
        context_padded = attention(query, noisy_keys, keys_mask=pad_right(mask, 4))
        np.testing.assert_allclose(context_padded, context, atol=1e-6)

    def test_keys_projected_once_give_the_same_context(self, rng):
        attention = layers.BahdanauAttention(units=5)
        query = rng.normal(size=(2, 3, 4)).astype("float32")
        keys = rng.normal(size=(2, 6, 7)).astype("float32")
        context = attention(query, keys)
        given = attention(query, keys, projected_keys=attention.project_keys(keys))
        np.testing.assert_allclose(given, context, atol=1e-6)
        # The given projection is the one used: another one changes the context.
        other = attention(query, keys, projected_keys=attention.project_keys(keys[:, ::-1]))
        assert not np.allclose(other, context, atol=1e-3)

    def test_config_round_trip_and_validation(self):
        layer = layers.BahdanauAttention(units=3, name="attn")
        assert reload_layer(layer).get_config() == layer.get_config()
        with pytest.raises(ValueError, match="`units`"):
            layers.BahdanauAttention(units=0)


class TestPositionEmbedding:
    def test_sinusoidal_matches_vaswani_formula(self):
        table = layers.sinusoidal_table(50, 16)
        pos, i = 7, 3
        assert table[pos, 2 * i] == pytest.approx(np.sin(pos / 10000 ** (2 * i / 16)), abs=1e-6)
        assert table[pos, 2 * i + 1] == pytest.approx(np.cos(pos / 10000 ** (2 * i / 16)), abs=1e-6)

    @pytest.mark.parametrize("encoding", ["learned", "sinusoidal"])
    def test_explicit_positions_select_the_same_rows(self, encoding):
        layer = layers.PositionEmbedding(10, encoding=encoding)
        inputs = np.zeros((2, 6, 8), "float32")
        every = np.asarray(layer(inputs))
        picked = np.asarray(layer(inputs[:, :1], positions=np.array([[4], [2]])))
        np.testing.assert_allclose(picked[:, 0], every[0, [4, 2]])

    def test_validation(self):
        with pytest.raises(ValueError, match="`encoding`"):
            layers.PositionEmbedding(10, encoding="rotary")
        with pytest.raises(ValueError, match="`sequence_length`"):
            layers.PositionEmbedding(-1)


def reference_attention(query, value, layer, mask):
    numpy = keras.ops.convert_to_numpy
    heads, dim = layer.num_heads, layer.key_dim

    def project(x, dense):
        y = x @ numpy(dense.kernel) + numpy(dense.bias)
        return y.reshape(x.shape[0], x.shape[1], heads, dim).transpose(0, 2, 1, 3)

    q, k, v = project(query, layer.query_dense), project(value, layer.key_dense), project(value, layer.value_dense)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dim)
    scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = (weights @ v).transpose(0, 2, 1, 3).reshape(query.shape[0], query.shape[1], heads * dim)
    return out @ numpy(layer.output_dense.kernel) + numpy(layer.output_dense.bias)


class TestMultiHeadAttention:
    def test_matches_reference_with_padding_and_causal_masks(self, rng):
        layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
        x = rng.normal(size=(2, 5, 6)).astype("float32")
        padding = np.array([[1] * 5, [1, 1, 1, 0, 0]])
        out = layer(x, x, padding_mask=padding, use_causal_mask=True)
        mask = padding[:, None, None, :].astype(bool) & np.tril(np.ones((5, 5), bool))[None, None]
        np.testing.assert_allclose(out, reference_attention(x, x, layer, mask), atol=1e-5)

    def test_causal_attention_never_sees_the_future(self, rng):
        layer = layers.MultiHeadAttention(num_heads=2, key_dim=4)
        x = rng.normal(size=(1, 6, 8)).astype("float32")
        changed = x.copy()
        changed[:, 4:] = rng.normal(size=(1, 2, 8))
        a = np.asarray(layer(x, x, use_causal_mask=True))
        b = np.asarray(layer(changed, changed, use_causal_mask=True))
        np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-6)
        assert not np.allclose(a[:, 4:], b[:, 4:])

    def test_cached_steps_equal_full_causal_attention(self, rng):
        layer = layers.MultiHeadAttention(num_heads=2, key_dim=4)
        x = rng.normal(size=(2, 5, 8)).astype("float32")
        full = np.asarray(layer(x, x, use_causal_mask=True))
        # Room for more steps than used, filled with what a step must never read.
        cache = (np.full((2, 2, 4, 7), 9.0, "float32"), np.full((2, 2, 7, 4), 9.0, "float32"))
        for t in range(5):
            out, cache = layer(x[:, t : t + 1], x[:, t : t + 1], cache=cache, cache_index=np.full((2,), t))
            np.testing.assert_allclose(out[:, 0], full[:, t], atol=1e-5)
        # The slots written are the projected keys (transposed) and values, in the projection's layout.
        keys, values = layer.project_key_value(x)
        np.testing.assert_allclose(np.asarray(cache[0])[..., :5], np.asarray(keys), atol=1e-6)
        np.testing.assert_allclose(np.asarray(cache[1])[:, :, :5], np.asarray(values), atol=1e-6)
        assert np.all(np.asarray(cache[1])[:, :, 5:] == 9.0)

    def test_projected_key_value_equals_projecting_each_call(self, rng):
        layer = layers.MultiHeadAttention(num_heads=2, key_dim=4)
        query = rng.normal(size=(2, 3, 8)).astype("float32")
        memory = rng.normal(size=(2, 5, 8)).astype("float32")
        padding = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
        direct, direct_weights = layer(query, memory, padding_mask=padding, return_attention_scores=True)
        key_value = layer.project_key_value(memory)
        assert [tuple(x.shape) for x in key_value] == [(2, 2, 4, 5), (2, 2, 5, 4)]
        reused, reused_weights = layer(
            query, None, padding_mask=padding, key_value=key_value, return_attention_scores=True
        )
        np.testing.assert_allclose(np.asarray(reused), np.asarray(direct), atol=1e-6)
        np.testing.assert_allclose(np.asarray(reused_weights), np.asarray(direct_weights), atol=1e-6)
        with pytest.raises(ValueError, match="not both"):
            layer(query[:, :1], query[:, :1], cache=(np.zeros((2, 2, 4, 4), "float32"), np.zeros((2, 2, 4, 4), "float32")),
                  cache_index=np.zeros((2,), "int32"), key_value=key_value)

    def test_weights_over_padding_are_zero(self, rng):
        layer = layers.MultiHeadAttention(num_heads=2, key_dim=2)
        x = rng.normal(size=(2, 4, 4)).astype("float32")
        _, weights = layer(x, x, padding_mask=np.array([[1, 1, 1, 1], [1, 0, 0, 0]]), return_attention_scores=True)
        weights = np.asarray(weights)
        assert np.all(weights[1, :, :, 1:] == 0)
        np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)


class TestTransformerBlocks:
    @pytest.mark.parametrize("norm_first", [False, True])
    def test_encoder_padding_invariance(self, rng, norm_first):
        block = layers.TransformerEncoderBlock(2, 16, norm_first=norm_first)
        x = rng.normal(size=(2, 5, 8)).astype("float32")
        mask = np.array([[1] * 5, [1, 1, 1, 0, 0]])
        out = np.asarray(block(x, padding_mask=mask))
        longer = np.concatenate([x, rng.normal(size=(2, 3, 8)).astype("float32")], axis=1)
        out_longer = np.asarray(block(longer, padding_mask=pad_right(mask, 3)))
        np.testing.assert_allclose(out_longer[0, :5], out[0], atol=1e-5)
        np.testing.assert_allclose(out_longer[1, :3], out[1, :3], atol=1e-5)

    @pytest.mark.parametrize("norm_first", [False, True])
    def test_decoder_is_causal_and_masks_the_source(self, rng, norm_first):
        block = layers.TransformerDecoderBlock(2, 16, norm_first=norm_first)
        y = rng.normal(size=(1, 6, 8)).astype("float32")
        source = rng.normal(size=(1, 4, 8)).astype("float32")
        mask = np.array([[1, 1, 0, 0]])
        out = np.asarray(block(y, source, encoder_padding_mask=mask))
        future = y.copy()
        future[:, 3:] += 1.0
        np.testing.assert_allclose(np.asarray(block(future, source, encoder_padding_mask=mask))[:, :3], out[:, :3], atol=1e-5)
        other_padding = source.copy()
        other_padding[:, 2:] = 5.0
        np.testing.assert_allclose(block(y, other_padding, encoder_padding_mask=mask), out, atol=1e-5)

    def test_config_round_trip_and_validation(self):
        for cls in (layers.TransformerEncoderBlock, layers.TransformerDecoderBlock):
            block = cls(4, 32, dropout=0.2, activation="gelu", norm_first=True, layer_norm_epsilon=1e-6)
            assert reload_layer(block).get_config() == block.get_config()
        with pytest.raises(ValueError, match="not divisible by `num_heads`=3"):
            layers.TransformerEncoderBlock(3, 16)(np.ones((1, 2, 8)))
        with pytest.raises(ValueError, match="`dropout`"):
            layers.TransformerEncoderBlock(2, 16, dropout=1.5)


class TestMaskedLMHead:
    def test_tied_head_projects_onto_the_embedding_matrix(self, rng):
        embedding = keras.layers.Embedding(20, 8)
        embedding.build((None,))
        head = layers.MaskedLMHead(20, token_embedding=embedding)
        hidden = rng.normal(size=(2, 5, 8)).astype("float32")
        positions = np.array([[0, 3], [4, 1]])
        logits = np.asarray(head(hidden, positions))
        transform = np.asarray(head.norm(head.dense(hidden[np.arange(2)[:, None], positions])))
        expected = transform @ keras.ops.convert_to_numpy(embedding.embeddings).T
        np.testing.assert_allclose(logits, expected, atol=1e-5)
        assert len(head.trainable_weights) == len(embedding.trainable_weights) + 5  # dense 2, norm 2, bias

    def test_vocabulary_mismatch_is_refused(self):
        embedding = keras.layers.Embedding(20, 8)
        with pytest.raises(ValueError, match="`vocabulary_size` is 30"):
            layers.MaskedLMHead(30, token_embedding=embedding)


class TestWhileLoopBidirectional:
    def test_equals_the_keras_rnn_at_every_position_and_padding_changes_nothing(self, rng):
        rnn = keras.layers.Bidirectional(keras.layers.GRU(6, return_sequences=True, return_state=True))
        x = rng.normal(size=(3, 7, 4)).astype("float32")
        mask = np.arange(7)[None] < np.array([[7], [4], [1]])
        expected = [np.asarray(t) for t in rnn(x, mask=mask)]
        looped = reload_layer(layers.WhileLoopBidirectional(rnn))
        looped.build(x.shape)
        looped.set_weights(rnn.get_weights())
        for got, want in zip(looped(x, mask=mask), expected):
            np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)
        # Two more padded positions: the same outputs at the first seven.
        padded = np.concatenate([x, rng.normal(size=(3, 2, 4)).astype("float32")], axis=1)
        sequences, *states = looped(padded, mask=np.pad(mask, ((0, 0), (0, 2))))
        np.testing.assert_allclose(np.asarray(sequences)[:, :7], expected[0], atol=1e-5)
        np.testing.assert_allclose(np.asarray(states[1]), expected[2], atol=1e-5)

    @pytest.mark.parametrize(
        "layer,message",
        [
            (keras.layers.GRU(4, return_sequences=True, return_state=True), "must be a keras.layers.Bidirectional"),
            (keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True)), "must return sequences and states"),
            (keras.layers.Bidirectional(keras.layers.LSTM(4, return_sequences=True, return_state=True)),
             "one state per direction"),
            (keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True, return_state=True), merge_mode="sum"),
             "merge_mode 'concat'"),
        ],
    )
    def test_refuses_what_it_cannot_run(self, layer, message):
        with pytest.raises(ValueError, match=message):
            layers.WhileLoopBidirectional(layer)

    def test_refuses_a_dynamic_length(self):
        rnn = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True, return_state=True))
        model_input = keras.Input((None, 3))
        with pytest.raises(ValueError, match="fixed length"):
            layers.WhileLoopBidirectional(rnn)(model_input)


class TestWriteStep:
    def test_a_loop_of_writes_fills_each_step_and_leaves_the_rest(self):
        from keras_attn.layers.fixed_length_loop import write_step

        rng = np.random.default_rng(0)
        values = rng.normal(size=(2, 5, 3, 4)).astype("float32")  # (batch, steps, ...)
        written = keras.ops.fori_loop(
            0, 3, lambda i, sequence: write_step(sequence, i, keras.ops.take(values, i, axis=1)), np.zeros_like(values)
        )
        written = keras.ops.convert_to_numpy(written)
        np.testing.assert_array_equal(written[:, :3], values[:, :3])
        np.testing.assert_array_equal(written[:, 3:], 0.0)


def test_tied_logits_read_the_embedding_and_refuse_another_width():
    embedding = keras.layers.Embedding(11, 4)
    embedding.build((None,))
    logits = layers.TiedLogits(embedding)
    hidden = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(logits(hidden)), hidden @ np.asarray(embedding.embeddings).T, atol=1e-6)
    embedding.embeddings.assign(np.asarray(embedding.embeddings) * 2)  # one matrix: the logits follow
    np.testing.assert_allclose(np.asarray(logits(hidden)), hidden @ np.asarray(embedding.embeddings).T, atol=1e-6)
    with pytest.raises(ValueError, match="width 5"):
        layers.TiedLogits(embedding)(np.ones((1, 2, 5), "float32"))
    with pytest.raises(ValueError, match="`token_embedding` must be a keras.layers.Embedding"):
        layers.TiedLogits(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="`vocabulary_size` x `embedding_dim` = 12 x 4"):
        layers.TokenAndPositionEmbedding(12, 8, 4, token_embedding=embedding)


def test_marians_position_table_has_every_sine_then_every_cosine():
    interleaved = layers.sinusoidal_table(6, 8)
    halves = layers.position_embedding.sinusoidal_halves_table(6, 8)
    np.testing.assert_allclose(halves[:, :4], interleaved[:, 0::2], atol=1e-6)
    np.testing.assert_allclose(halves[:, 4:], interleaved[:, 1::2], atol=1e-6)
    assert halves.shape == (6, 8) and layers.position_embedding.sinusoidal_halves_table(3, 7).shape == (3, 7)
