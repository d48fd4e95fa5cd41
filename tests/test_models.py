"""Masks are real at the model level: padding and the future change nothing."""

import numpy as np
import pytest

from keras_attn import zoo
from keras_attn.inference import decoding, search
from tests.conftest import pad_right, random_ids

SEQ2SEQ = {
    "bahdanau": dict(source_vocabulary_size=40, target_vocabulary_size=30, embedding_dim=8, units=16),
    "transformer": dict(
        source_vocabulary_size=40, target_vocabulary_size=30, hidden_dim=16, num_layers=2,
        num_heads=2, intermediate_dim=32, max_source_length=16, max_target_length=12,
    ),
    "transformer-base": dict(
        source_vocabulary_size=40, target_vocabulary_size=30, hidden_dim=16, num_layers=2,
        num_heads=2, intermediate_dim=32, max_source_length=16, max_target_length=12,
    ),
    # Marian's ids: padding is the last id (and where decoding starts); 0 is `</s>`, a real token.
    "opus-mt-es-en": dict(
        source_vocabulary_size=40, target_vocabulary_size=40, hidden_dim=16, num_layers=2,
        num_heads=2, intermediate_dim=32, max_source_length=16, max_target_length=12, pad_id=39, start_id=39,
    ),
}


def seq2seq_batch(rng, pad_id=0):
    source = random_ids(rng, (3, 7), 40, lengths=[7, 4, 2], pad_id=pad_id)
    target = random_ids(rng, (3, 6), 30, lengths=[6, 3, 5], pad_id=pad_id)
    return source, target


def forward(model, source, target):
    return np.asarray(model({"encoder_token_ids": source, "decoder_token_ids": target}))


@pytest.mark.parametrize("name", sorted(SEQ2SEQ))
def test_seq2seq_padding_and_causality(name, rng):
    model = zoo.build(name, dropout=0.0, **SEQ2SEQ[name])
    pad = model.pad_id
    source, target = seq2seq_batch(rng, pad)
    logits = forward(model, source, target)
    real_target = target != pad

    # Extra source padding: no change anywhere.
    np.testing.assert_allclose(forward(model, pad_right(source, 5, pad), target), logits, atol=1e-5)
    if pad != 0:  # where 0 is a real token, ids of 0 after the text are read
        assert np.abs(forward(model, pad_right(source, 5, 0), target) - logits).max() > 1e-3
    # Extra target padding: no change at real target positions.
    longer = forward(model, source, pad_right(target, 3, pad))[:, :6]
    np.testing.assert_allclose(longer[real_target], logits[real_target], atol=1e-5)
    # A different future token: no change before it.
    changed = target.copy()
    changed[:, 3] = 9
    np.testing.assert_allclose(forward(model, source, changed)[:, :3], logits[:, :3], atol=1e-5)


@pytest.mark.parametrize("name", sorted(SEQ2SEQ))
def test_step_decoder_reproduces_teacher_forcing(name, rng):
    model = zoo.build(name, dropout=0.0, **SEQ2SEQ[name])
    source, target = seq2seq_batch(rng, model.pad_id)
    target[:] = np.where(target == model.pad_id, 8, target)  # every position real
    logits = forward(model, source, target)
    generator = decoding.KerasGenerator(model)
    state = generator.prefill(source)
    for step in range(target.shape[1]):
        outputs = generator.step(target[:, step], step, state)
        state = search.next_state(state, outputs)
        step_logits, attention = outputs["logits"], outputs["attention"]
        np.testing.assert_allclose(step_logits, logits[:, step], atol=1e-4)
        # attention over padded source tokens is zero, the rest sums to 1
        assert np.all(attention[source == model.pad_id] == 0)
        np.testing.assert_allclose(attention.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    "name,overrides",
    [
        ("bert-tiny", dict(vocabulary_size=50, hidden_dim=16, num_heads=2, intermediate_dim=32, max_length=16)),
        ("transformer-classifier", dict(vocabulary_size=50, max_length=16)),
    ],
)
def test_classifier_padding_invariance(name, overrides, rng):
    model = zoo.build(name, dropout=0.0, **overrides)
    ids = random_ids(rng, (3, 8), 50, lengths=[8, 5, 2])
    ids[:, 0] = 4
    def run(token_ids):
        return np.asarray(model(model.call_inputs(model.forward_inputs(token_ids))))

    np.testing.assert_allclose(run(pad_right(ids, 6)), run(ids), atol=1e-5)


def test_bahdanau_is_wired_as_in_the_paper(rng):
    # At step i the context c_i comes from the previous state s_{i-1} (whatever
    # y_{i-1} is), and it feeds the recurrence: s_i depends on the annotations.
    model = zoo.build("bahdanau", dropout=0.0, **SEQ2SEQ["bahdanau"])
    source, _ = seq2seq_batch(rng)
    encoder, step = model.generation_models()
    memory = {name: np.asarray(value) for name, value in encoder({"encoder_token_ids": source}).items()}
    attention = model.backbone.decoder.attention
    _, expected = attention(memory["state"][:, None], memory["encoder_outputs"], keys_mask=source != 0,
                            return_attention_scores=True)

    def run(token, annotations):
        return step({"token_ids": np.full((3, 1), token, "int32"), "state": memory["state"],
                     "encoder_outputs": annotations, "encoder_token_ids": source})

    first, second = run(9, memory["encoder_outputs"]), run(17, memory["encoder_outputs"])
    for out in (first, second):
        np.testing.assert_allclose(np.asarray(out["attention"]), np.asarray(expected)[:, 0], atol=1e-6)
    assert not np.allclose(np.asarray(first["next_state"]), np.asarray(second["next_state"]))
    moved = run(9, memory["encoder_outputs"] * 1.5)
    assert not np.allclose(np.asarray(moved["next_state"]), np.asarray(first["next_state"]), atol=1e-4)


def test_bahdanau_export_copy_computes_the_training_model(rng):
    # The export copy runs the encoder unrolled and the decoder as a `while`
    # loop at fixed lengths; on inputs padded to those lengths it must give
    # the training model's logits at every real position.
    model = zoo.build("bahdanau", dropout=0.0, **SEQ2SEQ["bahdanau"])
    source, target = seq2seq_batch(rng)
    copy = model.fixed_length_copy(9, 8)
    assert copy.backbone.decoder.loop == "while"
    expected = forward(model, source, target)
    padded = forward(copy, pad_right(source, 2), pad_right(target, 2))
    real = target != 0
    np.testing.assert_allclose(padded[:, :6][real], expected[real], atol=1e-5)


def test_bahdanau_decoder_refuses_an_unknown_loop():
    from keras_attn.layers import BahdanauDecoder

    with pytest.raises(ValueError, match="`loop` must be 'scan' or 'while'"):
        BahdanauDecoder(8, loop="unrolled")


def test_bahdanau_decoder_reads_configs_saved_before_the_while_loop():
    from keras_attn.layers import BahdanauDecoder

    saved = {key: value for key, value in BahdanauDecoder(8).get_config().items() if key != "loop"}
    assert BahdanauDecoder.from_config({**saved, "unroll": False}).loop == "scan"


def test_bahdanau_decoder_while_loop_refuses_a_dynamic_length():
    import keras

    from keras_attn.layers import BahdanauDecoder

    with pytest.raises(ValueError, match="needs inputs of a fixed length"):
        BahdanauDecoder(8, loop="while")(keras.Input((None, 4)), keras.Input((3, 6)), keras.Input((8,)))


def test_shared_and_tied_tables_stay_one_table_after_saving(tmp_path, rng):
    import keras_attn

    model = zoo.build("opus-mt-es-en", **SEQ2SEQ["opus-mt-es-en"])
    backbone = model.backbone
    table = backbone.encoder_embedding.token_embedding
    assert backbone.decoder_embedding.token_embedding is table and model.logits.token_embedding is table
    separate = zoo.build("transformer", norm_first=False, **SEQ2SEQ["transformer"])  # post-norm, as Marian
    assert len(model.weights) == len(separate.weights) - 2  # one table, no logits kernel (a bias stays)
    model.save(tmp_path / "m.keras")
    loaded = keras_attn.load_model(str(tmp_path / "m.keras"))
    source, target = seq2seq_batch(rng, model.pad_id)
    np.testing.assert_array_equal(forward(loaded, source, target), forward(model, source, target))
    table = loaded.backbone.encoder_embedding.token_embedding
    assert loaded.backbone.decoder_embedding.token_embedding is table and loaded.logits.token_embedding is table


def test_a_translator_that_starts_from_padding_keeps_that_row_zero_in_training(tmp_path, rng):
    """Marian starts the decoder from its padding id, read by CTranslate2 as a
    zero vector: the row is zero when built and after optimizer steps, and a
    loaded model holds the same constraint; a translator with a start token
    of its own trains that row like any other."""
    import keras
    import keras_attn
    from keras_attn.layers import ZeroRow

    def trained_table(model):
        # Keras's optimizer step, as `fit` takes it (constraints included), with gradients that move every weight.
        optimizer = keras.optimizers.Adam(0.01)
        variables = model.trainable_variables
        for _ in range(2):
            optimizer.apply([rng.normal(size=v.shape).astype("float32") for v in variables], variables)
        return np.asarray(model.backbone.decoder_embedding.token_embedding.embeddings)

    marian = zoo.build("opus-mt-es-en", **SEQ2SEQ["opus-mt-es-en"])
    assert not np.asarray(marian.backbone.decoder_embedding.token_embedding.embeddings)[marian.start_id].any()
    table = trained_table(marian)
    assert not table[marian.start_id].any() and table[:-1].any(axis=1).all()
    marian.save(tmp_path / "marian.keras")
    loaded = keras_attn.load_model(str(tmp_path / "marian.keras"))
    constraint = loaded.backbone.decoder_embedding.token_embedding.embeddings.constraint
    assert isinstance(constraint, ZeroRow) and constraint.row == marian.start_id
    own_start = zoo.build("transformer", **SEQ2SEQ["transformer"])
    assert own_start.start_id != own_start.pad_id and trained_table(own_start)[own_start.start_id].any()


def test_the_translator_refuses_ids_and_sharing_that_do_not_fit():
    sizes = dict(hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=16)
    with pytest.raises(ValueError, match="`share_embeddings` needs equal vocabularies"):
        zoo.build("transformer", source_vocabulary_size=40, target_vocabulary_size=30, share_embeddings=True, **sizes)
    with pytest.raises(ValueError, match=r"`pad_id` must be an integer in \[0, 39\], got 65000"):
        zoo.build("opus-mt-es-en", source_vocabulary_size=40, target_vocabulary_size=40, **sizes)
    with pytest.raises(ValueError, match=r"`end_id` must be an integer in \[0, 29\], got 30"):
        zoo.build("transformer", source_vocabulary_size=40, target_vocabulary_size=30, end_id=30, **sizes)
    with pytest.raises(ValueError, match="`activation` must be one of"):
        zoo.build("transformer", source_vocabulary_size=40, target_vocabulary_size=30, activation="tanh", **sizes)
