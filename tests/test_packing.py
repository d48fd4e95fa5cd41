"""One packer: the same cut, special tokens and padding in Python and in the graph."""

import hypothesis
import numpy as np
import pytest
from hypothesis import strategies as st

from keras_attn.data.packing import SequencePacker


def test_rows_are_cut_marked_and_padded():
    packer = SequencePacker(5, start_ids=[2], end_ids=[3])
    ids, truncated = packer.pack([[9, 10], [9, 10, 11, 12], []])
    assert ids.tolist() == [[2, 9, 10, 3, 0], [2, 9, 10, 11, 3], [2, 3, 0, 0, 0]]
    assert truncated.tolist() == [False, True, False]
    ids, _ = SequencePacker(5, pad_to_max_length=False).pack([[], []])
    assert ids.shape == (2, 1) and not ids.any()  # empty text reads as one padding token


def test_a_length_without_room_for_the_special_tokens_is_refused():
    with pytest.raises(ValueError, match="`max_length`=1 leaves no room"):
        SequencePacker(1, [2], [3])
    with pytest.raises(ValueError, match=r"`max_length` must be an integer in \[1, 65536\]"):
        SequencePacker(0)


@pytest.mark.tensorflow
@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(
    rows=st.lists(st.lists(st.integers(7, 99), max_size=12), min_size=1, max_size=5),
    max_length=st.integers(2, 10),
    start=st.sampled_from([[], [4], [2]]),
    end=st.sampled_from([[], [3]]),
    pad_to_max_length=st.booleans(),
)
def test_the_graph_packs_as_python_does(rows, max_length, start, end, pad_to_max_length):
    import tensorflow as tf

    packer = SequencePacker(max_length, start, end, pad_to_max_length)
    expected_ids, expected_cut = packer.pack(rows)
    ids, cut = packer.pack_in_graph(tf.ragged.constant(rows, dtype=tf.int64, ragged_rank=1))
    np.testing.assert_array_equal(ids.numpy(), expected_ids)
    np.testing.assert_array_equal(cut.numpy(), expected_cut)
