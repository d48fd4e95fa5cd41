"""The masking procedure of BERT pretraining (Devlin et al. 2019, section 3.1)."""

import numpy as np

from keras_attn.data.archives import read_arrays, write_arrays
from keras_attn.data.batching import LengthBucketedBatches
from keras_attn.validation import check_positive_int, check_rate
from keras_attn.tokenizers.vocabulary import MASK_ID, PAD_ID, RESERVED_TOKENS, Vocabulary


def mask_tokens(token_ids, vocabulary_size, rng, mask_rate=0.15, max_predictions=None):
    """Chooses `mask_rate` of the real tokens of each row for prediction.

    Of the chosen tokens, 80% become `[MASK]`, 10% a random token and 10%
    stay unchanged. Reserved tokens ([PAD], [CLS], ...) are never chosen;
    every row with a real token gets at least one prediction.

    Returns a dict: `token_ids` (the corrupted input), `mask_positions`,
    `mask_ids` (the original tokens there) and `mask_weights` (1 for a real
    prediction, 0 for padding of the prediction slots), the last three of
    shape `(batch, max_predictions)`.
    """
    check_rate("mask_rate", mask_rate)
    token_ids = np.asarray(token_ids)
    batch, length = token_ids.shape
    if max_predictions is None:
        max_predictions = max(1, int(np.ceil(length * mask_rate)))
    check_positive_int("max_predictions", max_predictions)
    candidates = token_ids >= len(RESERVED_TOKENS)
    corrupted = token_ids.copy()
    positions = np.zeros((batch, max_predictions), "int32")
    labels = np.full((batch, max_predictions), PAD_ID, "int32")
    weights = np.zeros((batch, max_predictions), "float32")
    for row in range(batch):
        eligible = np.flatnonzero(candidates[row])
        if eligible.size == 0:
            continue
        count = min(max_predictions, max(1, int(round(eligible.size * mask_rate))))
        chosen = np.sort(rng.choice(eligible, size=count, replace=False))
        positions[row, :count] = chosen
        labels[row, :count] = token_ids[row, chosen]
        weights[row, :count] = 1.0
        action = rng.random(count)
        corrupted[row, chosen[action < 0.8]] = MASK_ID
        swap = chosen[(action >= 0.8) & (action < 0.9)]
        corrupted[row, swap] = rng.integers(len(RESERVED_TOKENS), vocabulary_size, size=swap.size)
    return {
        "token_ids": corrupted.astype("int32"),
        "mask_positions": positions,
        "mask_ids": labels,
        "mask_weights": weights,
    }


class MaskedLMDataset(LengthBucketedBatches):
    """Batches for `BertMaskedLM.fit`: rows of similar length with trailing
    padding cut (`LengthBucketedBatches`), masked anew every epoch (dynamic
    masking).

    Yields `(x, y)`: `x` the dict of the model's inputs, `y` the original
    tokens at `mask_positions`, 0 (padding) in unused prediction slots, which
    the loss (`ignore_class=0`) and `MaskedAccuracy` ignore.
    """

    def __init__(self, token_ids, vocabulary_size, batch_size=32, mask_rate=0.15, seed=0, shuffle=True, **kwargs):
        super().__init__(np.asarray(token_ids, "int32"), batch_size=batch_size, shuffle=shuffle, seed=seed, **kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.mask_rate = check_rate("mask_rate", mask_rate)

    def batch(self, index):
        (rows,) = super().batch(index)
        # Evaluation (shuffle=False) masks the same tokens every time.
        rng = np.random.default_rng((self.seed, self.epoch if self.shuffle else 0, index))
        masked = mask_tokens(rows, self.vocabulary_size, rng, self.mask_rate)
        x = {
            "token_ids": masked["token_ids"],
            "segment_ids": np.zeros_like(rows),
            "mask_positions": masked["mask_positions"],
        }
        return x, masked["mask_ids"]


def save_corpus(path, vocabulary, train_ids, validation_ids, names):
    """Writes a masked-LM corpus (`corpora.pretraining_corpus`'s vocabulary and
    rows, and the names of its texts) to one `.npz` file: what the GPU machine,
    which has no TensorFlow and no tokenizer, pretrains on. Read it back with
    `load_corpus`."""
    write_arrays(path, {"vocabulary": np.array(vocabulary.tokens), "train_ids": np.asarray(train_ids, "int32"),
                        "validation_ids": np.asarray(validation_ids, "int32"), "names": np.array(list(names))})


def load_corpus(path):
    """`(vocabulary, train_ids, validation_ids, names)` as `save_corpus` wrote
    them (no pickled objects are read)."""
    stored = read_arrays(path, "keras-attn pretraining corpus", ("vocabulary", "train_ids", "validation_ids", "names"))
    return Vocabulary(stored["vocabulary"].tolist()), stored["train_ids"], stored["validation_ids"], stored["names"].tolist()
