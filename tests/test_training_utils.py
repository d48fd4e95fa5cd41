"""Losses, metrics, the learning-rate schedule and BERT's masking procedure."""

import keras
import numpy as np
import pytest

from keras_attn.models.task import token_loss_and_metrics
from keras_attn.training.metrics import MaskedAccuracy
from keras_attn.data.masked_lm import MaskedLMDataset, mask_tokens
from keras_attn.training.schedules import WarmupInverseSqrtSchedule
from keras_attn.training.time_limit import TimeLimit
from keras_attn.tokenizers.vocabulary import MASK_ID, RESERVED_TOKENS


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_token_loss_is_the_mean_over_real_tokens_whatever_the_padding(rng):
    # Keras's SparseCategoricalCrossentropy(ignore_class=0) replaced a hand-written masked loss.
    logits = rng.normal(size=(2, 4, 6)).astype("float32")
    labels = np.array([[3, 4, 5, 0], [2, 0, 0, 0]])
    real = labels != 0
    token_losses = -log_softmax(logits)[np.arange(2)[:, None], np.arange(4), labels]
    loss, _ = token_loss_and_metrics()
    assert float(loss(labels, logits)) == pytest.approx(token_losses[real].mean(), rel=1e-5)
    padded_logits = np.concatenate([logits, rng.normal(size=(2, 5, 6)).astype("float32")], axis=1)
    padded_labels = np.concatenate([labels, np.zeros((2, 5), int)], axis=1)
    assert float(loss(padded_labels, padded_logits)) == pytest.approx(token_losses[real].mean(), rel=1e-5)
    # Per-token weights scale each real token's loss; the mean stays over the real tokens.
    weights = rng.uniform(0.5, 2.0, size=(2, 4)).astype("float32")
    expected = (token_losses * weights)[real].sum() / real.sum()
    assert float(loss(labels, logits, sample_weight=weights)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(labels, logits, sample_weight=weights)) != pytest.approx(token_losses[real].mean(), rel=1e-3)


def test_masked_accuracy_ignores_padding():
    metric = MaskedAccuracy()
    labels = np.array([[1, 2, 0, 0]])
    predictions = np.eye(3, dtype="float32")[[[1, 1, 0, 0]]]  # padding predicted "right" by chance
    metric.update_state(labels, predictions)
    assert float(metric.result()) == pytest.approx(0.5)


def test_schedule_follows_vaswani_equation_3():
    schedule = WarmupInverseSqrtSchedule(d_model=512, warmup_steps=4000)
    for step in (1, 100, 4000, 20000):
        expected = 512**-0.5 * min(step**-0.5, step * 4000**-1.5)
        assert float(schedule(step - 1)) == pytest.approx(expected, rel=1e-5)
    assert float(schedule(3999)) > float(schedule(100)) and float(schedule(3999)) > float(schedule(20000))


def test_masking_rates_follow_bert(rng):
    vocabulary_size = 1000
    ids = rng.integers(len(RESERVED_TOKENS), vocabulary_size, (2000, 40)).astype("int32")
    ids[:, 0] = 4  # [CLS]
    ids[:, 30:] = 0  # padding
    out = mask_tokens(ids, vocabulary_size, rng)
    chosen = out["mask_weights"] > 0
    rows = np.nonzero(chosen)[0]
    positions = out["mask_positions"][chosen]
    # BERT's rule: max(1, round(15% of the real tokens)) predictions per row.
    np.testing.assert_array_equal(chosen.sum(1), round(29 * 0.15))
    assert np.all(positions >= 1) and np.all(positions < 30)  # never [CLS] or padding
    np.testing.assert_array_equal(out["mask_ids"][chosen], ids[rows, positions])
    corrupted = out["token_ids"][rows, positions]
    assert np.mean(corrupted == MASK_ID) == pytest.approx(0.8, abs=0.02)
    kept = corrupted == ids[rows, positions]
    assert np.mean(kept) == pytest.approx(0.1 + 0.1 / vocabulary_size, abs=0.02)
    unchosen = np.ones_like(ids, bool)
    unchosen[rows, positions] = False
    np.testing.assert_array_equal(out["token_ids"][unchosen], ids[unchosen])


def test_masked_lm_dataset_remasks_every_epoch(rng):
    ids = rng.integers(len(RESERVED_TOKENS), 50, (8, 20)).astype("int32")
    dataset = MaskedLMDataset(ids, 50, batch_size=4)
    first, labels = dataset[0]
    again, _ = dataset[0]
    # Unused prediction slots are labelled padding, which the masked loss ignores.
    np.testing.assert_array_equal(labels != 0, first["mask_positions"] > 0)
    np.testing.assert_array_equal(first["mask_positions"], again["mask_positions"])
    dataset.start_at(1)
    assert not np.array_equal(dataset[0][0]["mask_positions"], first["mask_positions"])


@pytest.mark.parametrize("seconds,epochs_run,batches_run", [(0, 1, 1), (3600, 3, 12)])
def test_time_limit_ends_fit_at_a_batch_and_still_validates_that_epoch(seconds, epochs_run, batches_run):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    limit = TimeLimit(seconds)
    x = np.ones((16, 2), "float32")
    history = model.fit(x, x[:, :1], batch_size=4, epochs=3, validation_data=(x, x[:, :1]),
                        callbacks=[counter, limit], verbose=0)
    assert limit.stopped == (seconds == 0)
    assert len(batches) == batches_run and len(history.history["val_loss"]) == epochs_run


@pytest.mark.parametrize("seconds", [-1, True, "60"])
def test_time_limit_refuses_what_is_not_a_duration(seconds):
    with pytest.raises(ValueError, match="`seconds` must be a non-negative number"):
        TimeLimit(seconds)


def test_scoring_takes_evenly_spaced_rows_and_refuses_a_negative_count():
    from keras_attn.training.scoring import evenly_spaced

    np.testing.assert_array_equal(evenly_spaced(10, 3), [0, 4, 9])
    np.testing.assert_array_equal(evenly_spaced(4, None), [0, 1, 2, 3])
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="`limit` must be an integer >= 0"):
            evenly_spaced(10, bad)
