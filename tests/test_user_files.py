"""A user's own data: TSV files of sentence pairs or labelled text, trained,
re-scored and prepared through the command line, with the same readers and
checks as the corpora. Words or characters need no TensorFlow."""

import json

import numpy as np
import pytest

from keras_attn import cli
from keras_attn.data import corpora, tasks
from tests.conftest import OBJECTS, SUBJECTS, VERBS


def write_pairs(path, pairs):
    path.write_text("".join(f"{source}\t{target}\n" for source, target in pairs), encoding="utf-8")
    return path


@pytest.fixture
def pair_files(tmp_path):
    pairs = [(f"{se} {ve} {oe}", f"{ss} {vs} {os_}") for ss, se in SUBJECTS for vs, ve in VERBS for os_, oe in OBJECTS]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(pairs))
    train = write_pairs(tmp_path / "train.tsv", [pairs[i] for i in order[20:]])
    test = write_pairs(tmp_path / "test.tsv", [pairs[i] for i in order[:20]])
    return train, test


def test_a_translator_trains_on_pair_files_and_evaluate_rescores_them(pair_files, tmp_path, capsys):
    train, test = pair_files
    run = tmp_path / "run"
    argv = ["train", "bahdanau", "--train-file", str(train), "--test-file", str(test), "--tokenization", "words",
            "--epochs", "2", "--batch-size", "16", "--set", "units=32", "--set", "embedding_dim=16", "--out", str(run)]
    assert cli.main(argv) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "train" and config["tokenization"] == "words"
    assert config["data"]["files"] == {"train": str(train), "test": str(test)}
    report = json.loads((run / "report.json").read_text())
    assert report["train_examples"] == 144  # 90% of the 160 training pairs; the 20 test pairs are the test split

    capsys.readouterr()
    assert cli.main(["evaluate", str(run)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test_bleu"] == pytest.approx(report["test_bleu"])

    # Changed data is refused rather than scored as if it were the same.
    with open(train, "a", encoding="utf-8") as f:
        f.write("el gato come\tthe cat eats\n")
    assert cli.main(["evaluate", str(run)]) == 2
    assert "changed since training (train: sha256 differs)" in capsys.readouterr().err


def test_labels_may_be_names_and_are_saved_with_the_run(tmp_path):
    sentiment = tasks.sentiment(300, seed=2)
    rows = [f"{text}\t{'positive' if label else 'negative'}" for text, label in sentiment.examples["train"]]
    path = tmp_path / "reviews.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    task = corpora.from_files("classification", str(path), tokenization="words", seed=3)
    assert task.labels == ["negative", "positive"] and task.num_classes == 2
    ids, labels = task.splits["train"]
    for (text, name), label in zip(task.examples["train"], labels):
        assert task.labels[label] == name
    assert np.all(ids[:, 0] == 4)  # [CLS]
    assert sum(len(task.examples[s]) for s in task.splits) == len(rows)
    again = corpora.from_files("classification", str(path), tokenization="words", seed=3)
    np.testing.assert_array_equal(again.splits["test"][0], task.splits["test"][0])

    # A run's class names fix the numbering; a label outside them is refused with its name.
    with pytest.raises(ValueError, match=r"Labels \['mixed'\] are not among the run's classes"):
        corpora.class_ids(["positive", "mixed"], ["negative", "positive"])
    with pytest.raises(ValueError, match="Integer labels must be class ids >= 0"):
        corpora.class_ids(["1", "-2"])


def test_prepare_writes_a_task_file_from_user_files(pair_files, tmp_path, capsys):
    train, test = pair_files
    out = tmp_path / "task.npz"
    argv = ["prepare", "--train-file", str(train), "--test-file", str(test), "--task-type", "translation",
            "--tokenization", "characters", "--out", str(out)]
    assert cli.main(argv) == 0
    task = tasks.load_file(out)
    assert task.tokenization == "characters" and len(task.examples["test"]) == 20
    assert task.origin["sha256"]["test"] == corpora.sha256(test)
    assert cli.main(["prepare", "--train-file", str(train), "--out", str(out)]) == 2
    assert "--train-file needs --task-type" in capsys.readouterr().err


def test_malformed_user_lines_are_reported(tmp_path, capsys):
    path = tmp_path / "labels.tsv"
    rows = "".join(f"review number {i}\t{'positive' if i % 2 else 'negative'}\n" for i in range(30))
    path.write_text("good film\tpositive\nno label here\n\tnegative\n" + rows, encoding="utf-8")
    corpus = corpora.data.read_labeled(str(path), header=False, integer_labels=False)
    one_column = "found 1 tab-separated column(s) where the file has 2"
    assert corpus.problems == [f"{path}:2: {one_column}", f"{path}:3: an empty sentence"]
    # The command line says how many lines it skipped, and the first few, with file and line.
    out = tmp_path / "run"
    argv = ["train", "transformer-classifier", "--train-file", str(path), "--tokenization", "words", "--epochs", "1",
            "--out", str(out)]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert f"{path}: skipped 2 malformed line(s) of 33; first: {path}:2: {one_column}" in err


def test_a_file_of_one_class_and_a_class_count_not_the_files_are_refused(tmp_path, capsys):
    one_class = tmp_path / "one.tsv"
    one_class.write_text("".join(f"review number {i}\tpositive\n" for i in range(40)), encoding="utf-8")
    argv = ["train", "transformer-classifier", "--tokenization", "words", "--epochs", "1"]
    assert cli.main([*argv, "--train-file", str(one_class), "--out", str(tmp_path / "a")]) == 2
    assert "all of one class ('positive'); a classifier needs rows of at least two" in capsys.readouterr().err
    two_classes = tmp_path / "two.tsv"
    two_classes.write_text("".join(f"review number {i}\t{'pos' if i % 2 else 'neg'}\n" for i in range(40)))
    assert cli.main([*argv, "--train-file", str(two_classes), "--set", "num_classes=5", "--out", str(tmp_path / "b")]) == 2
    assert "`num_classes`=5 does not fit the task 'two', which has 2" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
