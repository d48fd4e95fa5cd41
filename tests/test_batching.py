"""Length-bucketed batches: every row once per epoch, only padding cut."""

import numpy as np
import pytest

from keras_attn.data.batching import LengthBucketedBatches, row_lengths


def _ragged_ids(rng, rows=300, width=40):
    lengths = rng.integers(1, width + 1, rows)
    ids = np.zeros((rows, width), "int32")
    for row, length in zip(ids, lengths):
        row[:length] = rng.integers(7, 100, length)
    return ids, lengths


def test_row_lengths_take_the_longest_array():
    source = np.array([[5, 6, 0, 0], [5, 0, 0, 0]])
    target = np.array([[2, 0, 0], [2, 8, 9]])
    np.testing.assert_array_equal(row_lengths({"source": source}, target), [2, 3])
    np.testing.assert_array_equal(row_lengths(np.zeros((2, 4), "int32")), [0, 0])


def test_each_epoch_covers_every_row_once_and_cuts_only_padding(rng):
    ids, lengths = _ragged_ids(rng)
    labels = np.arange(len(ids))  # labels name their row
    batches = LengthBucketedBatches(ids, labels, batch_size=32, width_multiple=8, seed=3)
    for _ in range(2):
        seen = []
        for index in range(len(batches)):
            x, y = batches[index]
            assert x.shape[1] % 8 == 0 or x.shape[1] == ids.shape[1]
            np.testing.assert_array_equal(x, ids[y, : x.shape[1]])  # the rows themselves, cut
            assert not ids[y, x.shape[1] :].any()  # what was cut is padding only
            assert x.shape[1] - lengths[y].max() < 8  # and no more padding than the rounding
            seen += list(y)
        assert sorted(seen) == list(range(len(ids)))
        assert sorted(len(batches[i][1]) for i in range(len(batches)))[1:] == [32] * (len(batches) - 1)
        assert batches[0][0].shape[1] != batches[1][0].shape[1]  # a dynamic width for TensorFlow's signature
        batches.start_at(batches.epoch + 1)


def test_batches_group_similar_lengths(rng):
    ids, lengths = _ragged_ids(rng, rows=2048)
    batches = LengthBucketedBatches(ids, np.zeros(len(ids)), batch_size=32)
    kept = sum(batches[i][0].size for i in range(len(batches)))
    assert kept < 0.7 * ids.size  # uniform lengths: about half the positions are padding


def test_shuffles_are_seeded_and_change_each_epoch(rng):
    ids, _ = _ragged_ids(rng)
    labels = np.arange(len(ids))
    first = LengthBucketedBatches(ids, labels, batch_size=16, seed=0)
    same = LengthBucketedBatches(ids, labels, batch_size=16, seed=0)
    np.testing.assert_array_equal(first[0][1], same[0][1])
    order = [first[i][1] for i in range(len(first))]
    first.start_at(1)
    assert any(not np.array_equal(a, first[i][1]) for i, a in enumerate(order))


def test_evaluation_order_is_fixed_and_grouped_by_length(rng):
    ids, _ = _ragged_ids(rng)
    batches = LengthBucketedBatches(ids, np.arange(len(ids)), batch_size=50, shuffle=False)
    order = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(order) == list(range(len(ids)))
    assert sum(batches[i][0].size for i in range(len(batches))) < 0.7 * ids.size
    batches.start_at(1)
    np.testing.assert_array_equal(np.concatenate([batches[i][1] for i in range(len(batches))]), order)


def test_seq2seq_inputs_and_labels_are_cut_together():
    source = np.array([[9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0]] * 4)
    target_in = np.array([[2, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]] * 4)
    labels = np.array([[8, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0]] * 4)
    x, y = LengthBucketedBatches({"encoder": source, "decoder": target_in}, labels, batch_size=4, width_multiple=4)[0]
    assert x["encoder"].shape == (4, 8) and x["decoder"].shape == (4, 8) and y.shape == (4, 8)


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="batch_size"):
        LengthBucketedBatches(np.ones((4, 4), "int32"), batch_size=0)
    with pytest.raises(ValueError, match="2-D"):
        LengthBucketedBatches(np.ones(4, "int32"), batch_size=2)


def test_row_multiple_keeps_every_batch_divisible(rng):
    ids, _ = _ragged_ids(rng, rows=101)
    batches = LengthBucketedBatches(ids, np.arange(101), batch_size=16, row_multiple=4)
    sizes = [len(batches[i][1]) for i in range(len(batches))]
    assert all(size % 4 == 0 for size in sizes) and sum(sizes) == 100
    with pytest.raises(ValueError, match="row_multiple"):
        LengthBucketedBatches(ids, batch_size=10, row_multiple=4)


def test_a_vocabulary_that_pads_with_another_id_keeps_its_id_0():
    """Marian pads with its last id and ends with `</s>` = 0: the batches cut
    only that padding (with the zoo's padding id 0 they would cut `</s>`)."""
    pad = 9
    source = np.array([[4, 5, 0, pad, pad, pad], [4, 0, pad, pad, pad, pad]], "int32")
    target = np.array([[pad, 6, 0, pad, pad, pad], [pad, 0, pad, pad, pad, pad]], "int32")
    x = {"encoder_token_ids": source, "decoder_token_ids": target}
    assert row_lengths(x, pad_id=pad).tolist() == [3, 2] and row_lengths(x).tolist() == [6, 6]
    batches = LengthBucketedBatches(x, target, batch_size=2, width_multiple=1, shuffle=False, pad_id=pad)
    assert len(batches) == 1
    batch, labels = batches[0]
    # The evaluation order puts the shorter row first.
    np.testing.assert_array_equal(batch["encoder_token_ids"], source[::-1, :3])
    np.testing.assert_array_equal(labels, target[::-1, :3])
