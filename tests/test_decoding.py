import keras
import numpy as np
import pytest

from keras_attn import zoo
from keras_attn.inference import decoding, search
from keras_attn.tokenizers.vocabulary import END_ID, PAD_ID, START_ID
from tests.conftest import random_ids


class TableDecoder:
    """A decoder whose next-token distribution depends only on the previous token."""

    def __init__(self, table):
        self.table = np.log(np.asarray(table, "float64"))

    def prefill(self, source_ids):
        return {"source": np.asarray(source_ids)}

    def step(self, token_ids, step, state):
        length = state["source"].shape[1]
        return {"logits": self.table[token_ids], "attention": np.ones((len(token_ids), length)) / length}


def table(rows):
    """rows: {previous token: {next token: probability}} over a vocabulary of 12."""
    t = np.full((12, 12), 1e-9)
    for prev, nexts in rows.items():
        for nxt, p in nexts.items():
            t[prev, nxt] = p
    return t / t.sum(1, keepdims=True)


def test_beam_search_finds_what_greedy_misses():
    # Greedy takes 4 (0.6) then is stuck with 0.5 * 0.5; 5 (0.4) leads to END with 1.0.
    decoder = TableDecoder(table({START_ID: {4: 0.6, 5: 0.4}, 4: {6: 0.5, 7: 0.5}, 5: {END_ID: 1.0},
                                  6: {END_ID: 1.0}, 7: {END_ID: 1.0}, END_ID: {END_ID: 1.0}}))
    source = np.ones((1, 3), "int32")
    greedy = search.greedy_search(decoder, source, max_length=5)
    assert greedy.tokens[0].tolist()[:3] == [4, 6, END_ID]
    beam = search.beam_search(decoder, source, max_length=5, beam_size=2, alpha=0.0)
    assert beam.tokens[0].tolist()[:2] == [5, END_ID]
    assert np.all(beam.tokens[0, 2:] == PAD_ID)
    assert beam.scores[0] == pytest.approx(np.log(0.4), abs=1e-6)


def test_length_normalisation_can_prefer_longer_outputs():
    # "END" has probability 0.5; "4 5 END" 0.5 * 0.9 * 0.9 = 0.405, less in
    # total but more per token.
    decoder = TableDecoder(table({START_ID: {END_ID: 0.5, 4: 0.5}, 4: {5: 0.9, END_ID: 0.1},
                                  5: {END_ID: 0.9, 6: 0.1}, 6: {END_ID: 1.0}, END_ID: {END_ID: 1.0}}))
    source = np.ones((1, 2), "int32")
    plain = search.beam_search(decoder, source, max_length=6, beam_size=3, alpha=0.0)
    normalised = search.beam_search(decoder, source, max_length=6, beam_size=3, alpha=2.0)
    plain_length = int((plain.tokens[0] != PAD_ID).sum())
    normalised_length = int((normalised.tokens[0] != PAD_ID).sum())
    assert (plain_length, normalised_length) == (1, 3)


def test_a_hypothesis_pruned_while_a_short_one_ends_is_still_found():
    # [END] first (0.35) is best by raw probability; "5 8 9 [END]" (0.32) wins
    # under the length penalty. A search whose finished hypotheses keep
    # occupying beam slots drops 5 at the first step (two slots: [END] and 4).
    decoder = TableDecoder(table({START_ID: {END_ID: 0.35, 4: 0.33, 5: 0.32}, 4: {6: 0.5, 7: 0.5},
                                  6: {END_ID: 0.5, 8: 0.5}, 7: {END_ID: 0.5, 8: 0.5}, 5: {8: 1.0}, 8: {9: 1.0},
                                  9: {END_ID: 1.0}, END_ID: {END_ID: 1.0}}))
    result = search.beam_search(decoder, np.ones((1, 2), "int32"), max_length=6, beam_size=2, alpha=1.0)
    assert result.tokens[0].tolist()[:4] == [5, 8, 9, END_ID]
    assert result.scores[0] == pytest.approx(np.log(0.32) / search.length_penalty(4, 1.0), abs=1e-6)


def test_the_search_stops_when_no_alive_hypothesis_can_win():
    # Both beams have ended after two steps; what stays alive is far less likely.
    decoder = TableDecoder(table({START_ID: {END_ID: 0.6, 4: 0.4}, 4: {END_ID: 1.0}, END_ID: {END_ID: 1.0}}))
    result = search.beam_search(decoder, np.ones((1, 2), "int32"), max_length=10, beam_size=2, alpha=0.6)
    assert result.tokens.shape == (1, 2) and result.tokens[0].tolist() == [END_ID, PAD_ID]
    assert result.scores[0] == pytest.approx(np.log(0.6), abs=1e-6)


def test_without_a_finished_hypothesis_the_best_alive_one_is_returned_with_a_finite_score():
    decoder = TableDecoder(table({START_ID: {4: 0.7, 5: 0.3}, 4: {4: 0.9, 5: 0.1}, 5: {5: 1.0}}))
    result = search.beam_search(decoder, np.ones((2, 2), "int32"), max_length=3, beam_size=2, alpha=0.6)
    assert result.tokens.tolist() == [[4, 4, 4], [4, 4, 4]]
    assert np.all(np.isfinite(result.scores))
    assert result.scores[0] == pytest.approx(np.log(0.7 * 0.81) / search.length_penalty(3, 0.6), abs=1e-6)


def small_seq2seq(name):
    overrides = dict(source_vocabulary_size=30, target_vocabulary_size=20)
    if name == "transformer":
        overrides.update(hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=16, max_target_length=9)
    else:
        overrides.update(embedding_dim=8, units=8)
    return zoo.build(name, **overrides)


def make_end_likely(model, source):
    """Raises the `[END]` logit's bias by the median, over rows, of the
    smallest margin by which `[END]` loses along the row's greedy path: about
    half the rows then end early, the others never."""
    tokens = decoding.greedy_decode(model, source, max_length=8).tokens
    previous = np.concatenate([np.full((len(source), 1), START_ID, "int32"), tokens[:, :-1]], axis=1)
    logits = np.asarray(model({"encoder_token_ids": source, "decoder_token_ids": previous}))
    margin = (logits.max(-1) - logits[..., END_ID]).min(axis=1)
    bias = model.get_layer("logits").bias
    bias.assign(np.asarray(bias) + np.eye(20, dtype="float32")[END_ID] * np.median(margin))


@pytest.mark.parametrize("name", ["bahdanau", "transformer"])
def test_compiled_search_equals_host_search(name, rng):
    # `greedy_decode`/`beam_decode` run the whole search compiled with the
    # model; exported artifacts run `keras_attn.inference.search` step by step on the host.
    keras.utils.set_random_seed(3)
    model = small_seq2seq(name)
    source = random_ids(rng, (8, 6), 30, lengths=[6, 3, 5, 2, 6, 4, 1, 6])
    make_end_likely(model, source)
    host = decoding.KerasGenerator(model)
    greedy = decoding.greedy_decode(model, source, max_length=8)
    expected = search.greedy_search(host, source, max_length=8)
    lengths = (greedy.tokens != PAD_ID).sum(axis=1)
    assert (greedy.tokens == END_ID).any() and len(set(lengths)) > 1  # rows finish at different steps
    beam = decoding.beam_decode(model, source, beam_size=3, alpha=0.6, max_length=8)
    expected_beam = search.beam_search(host, source, max_length=8, beam_size=3, alpha=0.6)
    for got, want in ((greedy, expected), (beam, expected_beam)):
        np.testing.assert_array_equal(got.tokens, want.tokens)
        np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got.attention, want.attention, atol=1e-5)


def test_a_whole_search_refuses_a_prompt_longer_than_its_fixed_width():
    """Padding a prompt to a search's fixed width never cuts it: a longer one
    is refused before the search runs."""
    ran = []
    with pytest.raises(ValueError, match="Inputs of length 5 exceed the fixed length 4"):
        search.whole_search_result(ran.append, np.ones((2, 5), "int32"), 4, PAD_ID)
    assert ran == []
    np.testing.assert_array_equal(search.pad_to([[7, 8]], 4, pad_id=9), [[7, 8, 9, 9]])


@pytest.mark.parametrize("name", ["bahdanau", "transformer"])
def test_a_beam_of_one_finds_at_least_what_greedy_finds(name, rng):
    # Its alive hypothesis is the greedy path over every token but [END], and each
    # step's [END] joins the finished set: the greedy hypothesis is among them.
    model = small_seq2seq(name)
    source = random_ids(rng, (3, 6), 30, lengths=[6, 3, 5])
    greedy = decoding.greedy_decode(model, source, max_length=8)
    beam = decoding.beam_decode(model, source, beam_size=1, alpha=0.0, max_length=8)
    ended = (greedy.tokens == END_ID).any(axis=1)
    assert np.all(beam.scores[ended] >= greedy.scores[ended] - 1e-5)
    assert greedy.attention.shape == (3, greedy.tokens.shape[1], 6)
    assert np.all(greedy.attention[1, :, 3:] == 0)
    wide = decoding.beam_decode(model, source, beam_size=3, max_length=8)
    assert wide.tokens.shape[0] == 3


def test_decoding_refuses_a_classifier():
    with pytest.raises(ValueError, match=r"'transformer_classifier' \(TransformerClassifier\) does not generate"):
        decoding.greedy_decode(zoo.build("transformer-classifier", vocabulary_size=10), np.ones((1, 3), "int32"))


def test_a_whole_search_reads_float32s_lowest_score_as_impossible():
    # LiteRT's converter stores the searches' -inf as float32's lowest value: a beam search
    # run as one TFLite graph reports it for "nothing finished", which must not win.
    lowest = np.finfo("float32").min
    outputs = {"steps": np.array([2], "int32"), "finished_scores": np.full((1, 2), lowest, "float32"),
               "finished_history": np.full((1, 2, 4), PAD_ID, "int32"),
               "finished_attention": np.zeros((1, 2, 4, 3), "float32"),
               "alive_scores": np.array([[-2.0, lowest]], "float32"), "alive_history": np.array(
                   [[4, 5, 0, 0], [6, 7, 0, 0]], "int32"), "alive_attention": np.ones((2, 4, 3), "float32")}
    result = search.beam_result(outputs, beam_size=2, alpha=0.0)
    assert result.tokens.tolist() == [[4, 5]] and result.scores.tolist() == [-2.0]
    outputs["finished_scores"][0, 0] = -3.0  # a real finished hypothesis beats every alive one
    assert search.beam_result(outputs, beam_size=2, alpha=0.0).tokens.tolist() == [[PAD_ID, PAD_ID]]
