"""Scores of a model on a task split: accuracy for classifiers, sacreBLEU and
exact match for translators. One scorer serves Keras models and exported
artifacts (it takes a `decode` function)."""

import numpy as np

from keras_attn.data.batching import pad_rows, row_lengths, take_rows, trim
from keras_attn.validation import check_range


def accuracy(model, x, labels, batch_size=64):
    """The fraction of rows whose most likely class is the label. Rows are
    scored in batches of similar length, each cut to its longest row (a
    model with a 512-position table need not run 512 columns per sentence);
    padding never changes the outputs, so the scores are those of the full rows."""
    from keras_attn.training.distribution import batch_multiple

    order = np.argsort(row_lengths(x), kind="stable")
    predictions = np.empty(len(labels), "int64")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        longest = max(1, int(row_lengths(take_rows(x, rows)).max()))
        batch = trim(take_rows(x, rows), -(-longest // 8) * 8)  # few distinct widths: few retracings
        padded, _ = pad_rows(batch, batch_multiple())  # whole batches split evenly over devices
        predictions[rows] = np.argmax(np.asarray(model.predict_on_batch(padded)), axis=-1)[: len(rows)]
    return float(np.mean(predictions == labels))


def evenly_spaced(count, limit):
    """`limit` evenly spaced row indices of `count` (all of them without a limit).
    Not the first rows: the corpora keep file order, and the Anki files run
    from the shortest sentences to the longest."""
    if limit is not None:
        check_range("limit", limit, 0)
    if limit is None or limit >= count:
        return np.arange(count)
    return np.linspace(0, count - 1, limit).round().astype(int)


def translation_scores(task, split, decode, batch_size=64, limit=None):
    """`decode(source_ids, max_length) → token ids` on `split`, scored as the
    field reports translation: sacreBLEU with its defaults (cased, 13a
    tokenization) and chrF, of the detokenized output against the raw
    reference sentences, with each metric's signature; and exact match.
    `bleu_lowercase` (both sides lower-cased, otherwise the same) is there
    to compare with figures from before the output was cased."""
    from sacrebleu.metrics import BLEU, CHRF

    source, target = task.splits[split]
    rows = evenly_spaced(len(source), limit)
    source, target = source[rows], target[rows]
    max_length = target.shape[1] - 1
    hypotheses = []
    for start in range(0, len(source), batch_size):
        hypotheses += [task.target_text(row) for row in decode(source[start : start + batch_size], max_length)]
    references = [str(task.examples[split][row][1]) for row in rows]
    metrics = {"bleu": BLEU(), "chrf": CHRF(), "bleu_lowercase": BLEU(lowercase=True)}
    scores = {"exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)]))}
    for name, metric in metrics.items():
        scores[name] = float(metric.corpus_score(hypotheses, [references]).score)
        scores[f"{name}_signature"] = str(metric.get_signature())
    return scores
