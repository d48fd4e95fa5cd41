import datetime

import numpy as np
import pytest

from keras_attn.data import tasks
from keras_attn.data.tasks import NEGATION, POSITIVE_WORDS
from keras_attn.tokenizers.vocabulary import CLS_ID, END_ID, START_ID


def test_tasks_are_deterministic_from_the_seed():
    a, b, c = tasks.dates(300, seed=3), tasks.dates(300, seed=3), tasks.dates(300, seed=4)
    np.testing.assert_array_equal(a.splits["train"][0], b.splits["train"][0])
    assert a.examples["train"] != c.examples["train"]


def test_splits_are_disjoint():
    for task in (tasks.dates(500), tasks.sentiment(500)):
        seen = [set(text for text, _ in task.examples[name]) for name in ("train", "validation", "test")]
        assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])


def test_date_targets_are_the_iso_form_of_the_source():
    task = tasks.dates(200)
    source, target = task.splits["train"]
    for (text, iso), ids in zip(task.examples["train"], target):
        assert ids[0] == START_ID and END_ID in ids
        assert "".join(task.target_vocabulary.decode(ids)) == iso
        day = datetime.date.fromisoformat(iso)
        assert str(day.day) in text and (str(day.year) in text or f"{day.year % 100:02d}" in text)


def test_sentiment_labels_follow_the_rule():
    task = tasks.sentiment(300)
    for text, label in task.examples["train"]:
        words, score = text.split(), 0
        for i, word in enumerate(words):
            if word == NEGATION:
                continue
            polarity = 1 if word in POSITIVE_WORDS else -1 if word in tasks.NEGATIVE_WORDS else 0
            score += -polarity if i and words[i - 1] == NEGATION else polarity
        assert label == int(score > 0)
    assert np.all(task.splits["train"][0][:, 0] == CLS_ID)


def test_task_files_round_trip(tmp_path):
    for task in (tasks.dates(300, seed=1), tasks.sentiment(300, seed=1)):
        path = tmp_path / f"{task.name}.npz"
        tasks.save(task, path)
        loaded = tasks.load_file(path)
        assert type(loaded) is type(task) and loaded.name == task.name
        for split, arrays in task.splits.items():
            for stored, original in zip(loaded.splits[split], arrays):
                np.testing.assert_array_equal(stored, original)
            assert loaded.examples[split] == task.examples[split]
        assert loaded.model_overrides() == task.model_overrides()
    ids = task.splits["test"][0][0]
    assert loaded.vocabulary.decode(ids) == task.vocabulary.decode(ids)


def test_a_task_file_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from keras_attn.data import archives

    path = tmp_path / "task.npz"
    tasks.save(tasks.sentiment(50, seed=1), path)
    before = path.read_bytes()

    def interrupted(file, **arrays):
        file.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archives.np, "savez_compressed", interrupted)
    with pytest.raises(OSError, match="No space left"):
        tasks.save(tasks.sentiment(60, seed=2), path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["task.npz"]
    monkeypatch.undo()
    assert tasks.load_file(path).name == "sentiment"


@pytest.mark.parametrize("edit,message", [
    (lambda arrays: arrays.pop("target_vocabulary"), "no target vocabulary of 'characters'"),
    (lambda arrays: arrays.update(tokenization=np.array("morse")), "unknown tokenization 'morse'"),
])
def test_a_task_file_without_its_tokenizer_is_refused_by_name(tmp_path, edit, message):
    path = tmp_path / "dates.npz"
    tasks.save(tasks.dates(100), path)
    with np.load(path) as stored:
        arrays = dict(stored)
    edit(arrays)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        tasks.load_file(path)


def test_a_tokenization_is_refused_where_the_corpus_has_its_own():
    from keras_attn.data import corpora

    with pytest.raises(ValueError, match="--tokenization applies to --data spa-eng or --train-file, not 'sst2'"):
        corpora.load("sst2", tokenization="marian_sentencepiece")
