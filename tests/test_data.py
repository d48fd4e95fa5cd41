"""Corpus readers, grouped splits and the WordPiece tokenizers."""

import json
import os

import numpy as np
import pytest

from keras_attn.data import readers as data
from keras_attn.tokenizers import Vocabulary, wordpiece

DATA = os.environ.get(data.DATA_ENV)
needs_corpora = pytest.mark.skipif(not DATA, reason=f"set {data.DATA_ENV} to the shared data folder")


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def test_pair_reader_takes_two_and_three_columns(tmp_path):
    older = write(tmp_path, "older.txt", "Go.\tVe.\nHi.\tHola.\n")
    newer = write(tmp_path, "newer.txt", "Go.\tVe.\tCC-BY 2.0 (France)\nHi.\tHola.\tCC-BY 2.0 (France) Attribution: tatoeba.org\n")
    assert data.read_pairs(older).records == data.read_pairs(newer).records == [("Go.", "Ve."), ("Hi.", "Hola.")]


@pytest.mark.parametrize(
    "content,reason",
    [
        ("Go.\tVe.\nno tab here\n" + "A.\tB.\n" * 20, "pairs.txt:2: found 1 tab-separated column(s) where the file has 2"),
        ("Go.\tVe.\nWait.\t \n" + "A.\tB.\n" * 20, "pairs.txt:2: an empty sentence"),
        (b"Go.\tVe.\nbad \xff byte\tx\n" + b"A.\tB.\n" * 20, "pairs.txt:2: invalid UTF-8 at byte 4"),
    ],
)
def test_malformed_lines_are_reported_with_file_and_line(tmp_path, content, reason):
    corpus = data.read_pairs(write(tmp_path, "pairs.txt", content))
    assert len(corpus.records) == 21
    assert corpus.problems == [os.path.join(str(tmp_path), reason)]


def test_labeled_reader(tmp_path):
    path = write(tmp_path, "train.tsv", "sentence\tlabel\ngood film \t1\nbad\tx\n" + "ok\t0\n" * 20)
    corpus = data.read_labeled(path)
    assert corpus.records[0] == ("good film", 1)
    assert corpus.problems == [f"{path}:3: label 'x' is not an integer"]


def test_bad_corpora_are_refused(tmp_path):
    with pytest.raises(data.CorpusError, match="no usable lines"):
        data.read_pairs(write(tmp_path, "empty.txt", ""))
    with pytest.raises(data.CorpusError, match="3 of 4 lines are malformed"):
        data.read_pairs(write(tmp_path, "junk.txt", "a\tb\nx\ny\nz\n"))
    with pytest.raises(data.CorpusError, match="no such file"):
        data.read_text(str(tmp_path / "missing.txt"))


def test_grouped_split_is_deterministic_and_disjoint():
    keys = [f"s{i % 37}" for i in range(500)]  # repeated source sentences
    first = data.grouped_split(keys, seed=3)
    again = data.grouped_split(keys, seed=3)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    groups = [{keys[i] for i in split} for split in first]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert sum(len(s) for s in first) == 500
    assert data.grouped_split(keys, seed=4)[2].tolist() != first[2].tolist()


def test_named_datasets_resolve_through_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.dataset_files("sst2")["dev"] == os.path.join(str(tmp_path), "sst2/dev.tsv")
    with pytest.raises(ValueError, match="Unknown dataset 'imdb'"):
        data.dataset_files("imdb")


def test_basic_tokenization_matches_bert_rules():
    assert wordpiece.basic_tokenize("¿Dónde ESTÁ la estación?") == ["¿", "donde", "esta", "la", "estacion", "?"]
    assert wordpiece.basic_tokenize("it's 3.5$") == ["it", "'", "s", "3", ".", "5", "$"]


def test_unknown_words_become_one_unknown_token():
    tokenizer = wordpiece.WordPieceTokenizer(Vocabulary.from_tokens(["ab", "##c"]))
    assert tokenizer.encode("abc abd x" + "b" * 120) == [7, 8, 1, 1]


@needs_corpora
@pytest.mark.tensorflow
def test_pure_python_wordpiece_reproduces_tensorflow_text_on_every_corpus_sentence(tmp_path):
    from keras_attn.tokenizers import tf_wordpiece as text

    files = {**data.dataset_files("spa-eng"), **data.dataset_files("sst2"), **data.dataset_files("wikitext-2")}
    pairs = data.read_pairs(files["pairs"]).records
    sentences = [s for pair in pairs for s in pair]
    sentences += [s for s, _ in data.read_labeled(files["train"]).records + data.read_labeled(files["dev"]).records]
    sentences += data.read_text(files["valid"]).records + data.read_text(files["test"]).records
    vocabulary = text.learn_vocabulary([s for pair in pairs[::10] for s in pair], 2000)
    reference = text.TextTokenizer(vocabulary)
    pure = wordpiece.WordPieceTokenizer(vocabulary)
    expected = reference.tokenize(sentences)
    mismatches = [s for s, ids in zip(sentences, expected) if pure.encode(s) != ids]
    assert len(sentences) > 290_000 and mismatches == []
    # Round trip: decoding gives tensorflow-text's detokenisation.
    assert reference.detokenize(expected[:50]) == [pure.decode(ids) for ids in expected[:50]]


@pytest.mark.tensorflow
def test_a_short_run_on_a_corpus_learns_and_every_command_reads_it_back(tiny_corpora, tmp_path, capsys):
    import keras_attn
    from keras_attn import training
    from keras_attn.data import corpora

    task = corpora.spa_eng(tiny_corpora, vocabulary_size=200, max_length=40)
    assert all(len(task.splits[s][0]) for s in ("train", "validation", "test"))
    sources = [{s for s, _ in task.examples[name]} for name in ("train", "validation", "test")]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2])
    _, report = training.train(
        "bahdanau", task, tmp_path, epochs=4, batch_size=16, learning_rate=5e-3,
        overrides={"embedding_dim": 32, "units": 64}, verbose=0,
    )
    assert report["history"]["loss"][-1] < 0.7 * report["history"]["loss"][0]
    assert report["test_bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert "case:lc" in report["test_bleu_lowercase_signature"]
    assert report["test_bleu_lowercase"] >= report["test_bleu"]  # lower-casing only adds matches
    assert (tmp_path / "target_vocabulary.txt").read_text().startswith("[PAD]\n[UNK]\n")

    # `keras-attn translate` tokenizes in pure Python the way training did.
    from keras_attn import cli
    from keras_attn.inference import decoding

    model = keras_attn.load_model(tmp_path / "model.keras")
    spanish, _ = task.examples["test"][0]
    source = task.splits["test"][0][:1]
    expected = task.target_text(decoding.greedy_decode(model, source[:, : (source != 0).sum()], max_length=task.max_target_length - 1).tokens[0])
    assert cli.main(["translate", str(tmp_path), spanish]) == 0
    assert capsys.readouterr().out.splitlines()[0] == expected

    # `keras-attn evaluate` rebuilds the same test split from the saved vocabularies.
    assert cli.main(["evaluate", str(tmp_path), "--data-dir", str(tiny_corpora)]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scores["test_bleu"] == pytest.approx(report["test_bleu"], abs=1e-9)

    # The string signature, with tensorflow-text's WordPiece in the graph, passes `verify`
    # in a fresh process (where nothing has imported tensorflow-text's ops yet).
    from tests.conftest import run_python

    exported = tmp_path / "export"
    assert cli.main(["export", str(tmp_path / "model.keras"), "--out", str(exported), "--formats", "saved_model"]) == 0
    out = run_python(f"import sys; from keras_attn import cli; sys.exit(cli.main(['verify', {str(exported)!r}]))",
                     "tensorflow", env={"KERAS_ATTN_DATA": str(tiny_corpora)})
    text_row = next(line for line in out.splitlines() if line.startswith("text_saved_model"))
    assert text_row.endswith("pass") and out.strip().endswith("PASSED")


def test_prepare_refuses_a_vocabulary_for_another_task(tmp_path, capsys):
    from keras_attn import cli

    argv = ["prepare", "--data", "spa-eng", "--vocabulary-from", str(tmp_path / "corpus.npz"), "--out", str(tmp_path / "x")]
    assert cli.main(argv) == 2
    assert "--vocabulary-from applies to --data sst2" in capsys.readouterr().err


@pytest.mark.tensorflow
def test_the_bert_recipe_runs_from_prepared_files_where_there_is_no_tensorflow(tiny_corpora, tmp_path, capsys):
    from keras_attn import cli
    from keras_attn.data import masked_lm as pretraining, tasks
    from keras_attn.tokenizers.vocabulary import CLS_ID
    from tests.conftest import run_python

    data_dir = tiny_corpora
    corpus, sst2 = tmp_path / "corpus.npz", tmp_path / "sst2.npz"
    assert cli.main(["prepare", "--pretraining", "wikitext-2,sst2-text", "--data-dir", str(data_dir),
                     "--vocabulary-size", "400", "--max-length", "32", "--out", str(corpus)]) == 0
    assert cli.main(["prepare", "--data", "sst2", "--data-dir", str(data_dir), "--vocabulary-from", str(corpus),
                     "--out", str(sst2)]) == 0
    vocabulary, train_ids, validation_ids, names = pretraining.load_corpus(corpus)
    assert names == ["wikitext-2", "sst2-text"] and train_ids.shape[1] == validation_ids.shape[1] == 32
    assert np.all(train_ids[:, 0] == CLS_ID) and len(validation_ids) > 0
    task = tasks.load_file(sst2)
    assert task.vocabulary.tokens == vocabulary.tokens and task.max_length <= 32
    capsys.readouterr()

    # On the GPU machine: JAX, no TensorFlow.
    pretrained, tuned = tmp_path / "mlm", tmp_path / "clf"
    sizes = "'--set', 'num_layers=1', '--set', 'hidden_dim=32', '--set', 'num_heads=2', '--set', 'intermediate_dim=64'"
    run_python(
        "from keras_attn import cli\n"
        f"assert cli.main(['pretrain', 'bert-tiny', '--corpus-file', {str(corpus)!r}, '--epochs', '1',"
        f" '--batch-size', '16', '--out', {str(pretrained)!r}, {sizes}]) == 0\n"
        f"assert cli.main(['finetune', {str(pretrained)!r}, '--task-file', {str(sst2)!r}, '--epochs', '1',"
        f" '--batch-size', '16', '--out', {str(tuned)!r}]) == 0\n",
        backend="jax",
        block_tensorflow=True,
    )
    assert json.loads((pretrained / "report.json").read_text())["train_rows"] == len(train_ids)
    assert (pretrained / "source_vocabulary.txt").read_text().splitlines() == vocabulary.tokens
    assert json.loads((tuned / "report.json").read_text())["pretrained"] == str(pretrained)


@pytest.mark.tensorflow
def test_pretrain_then_finetune_moves_the_pretrained_backbone(tiny_corpora, tmp_path, capsys):
    import keras_attn
    from keras_attn import cli, training
    from keras_attn.data import corpora

    data_dir = tiny_corpora
    sizes = ["--set", "num_layers=1", "--set", "hidden_dim=32", "--set", "num_heads=2", "--set", "intermediate_dim=64"]
    pretrained = tmp_path / "mlm"
    argv = ["pretrain", "bert-tiny", "--data-dir", str(data_dir), "--vocabulary-size", "400", "--max-length", "32",
            "--epochs", "3", "--batch-size", "16", "--out", str(pretrained), *sizes]
    assert cli.main(argv) == 0
    report = json.loads((pretrained / "report.json").read_text())
    # Held-out masked tokens: far better than a uniform guess over the vocabulary.
    vocabulary_size = len((pretrained / "source_vocabulary.txt").read_text().splitlines())
    assert report["history"]["val_loss"][-1] < np.log(vocabulary_size) - 0.5
    assert report["data"] == ["wikitext-2", "sst2-text"] and report["train_rows"] > 300
    assert "masked-LM validation loss" in capsys.readouterr().out

    # Fine-tuning starts from the pretrained weights (a learning rate of ~0
    # keeps them); the baseline starts from fresh ones, same vocabulary.
    task = corpora.sst2(data_dir, max_length=32, tokenizer=training.pretrained_tokenizer(pretrained))
    pretrained_embedding = keras_attn.load_model(pretrained / "model.keras").backbone.get_layer("embeddings")
    for random_init in (False, True):
        model, report = training.finetune(
            pretrained, task, tmp_path / f"clf{random_init}", random_init=random_init, epochs=1, learning_rate=1e-12,
            verbose=0,
        )
        weights = model.backbone.get_layer("embeddings").get_weights()[0]
        same = np.allclose(weights, pretrained_embedding.get_weights()[0], atol=1e-6)
        assert same != random_init
        assert (report["pretrained"] is None) == random_init
    assert (tmp_path / "clfFalse" / "source_vocabulary.txt").read_text() == (pretrained / "source_vocabulary.txt").read_text()

    # And through the CLI, with a task the pretraining vocabulary never saw refused.
    argv = ["finetune", str(pretrained), "--data-dir", str(data_dir), "--epochs", "1", "--out", str(tmp_path / "cli")]
    assert cli.main(argv) == 0
    assert "sst2 from pretrained" in capsys.readouterr().out
    other = corpora.sst2(data_dir, vocabulary_size=60, max_length=32)
    with pytest.raises(ValueError, match="pretraining vocabulary"):
        training.finetune(pretrained, other, tmp_path / "refused")


@pytest.mark.tensorflow
def test_a_prepared_task_file_trains_where_there_is_no_tensorflow(tiny_corpora, tmp_path, capsys):
    from keras_attn import cli
    from keras_attn.data import corpora, tasks
    from tests.conftest import run_python

    path = tmp_path / "spa-eng.npz"
    assert cli.main(["prepare", "--data", "spa-eng", "--data-dir", str(tiny_corpora), "--out", str(path)]) == 0
    assert "wrote" in capsys.readouterr().out
    original = corpora.spa_eng(tiny_corpora)  # same seed: same split and vocabularies
    loaded = tasks.load_file(path)
    np.testing.assert_array_equal(loaded.splits["test"][1], original.splits["test"][1])
    assert [loaded.target_text(row) for row in loaded.splits["test"][1]] == [
        original.target_text(row) for row in original.splits["test"][1]
    ]
    # On the GPU machine: JAX, no TensorFlow, no sacreBLEU (scoring skipped with --eval-examples 0).
    out = tmp_path / "run"
    run_python(
        "import sys; sys.modules['sacrebleu'] = None\n"
        "from keras_attn import cli\n"
        f"assert cli.main(['train', 'bahdanau', '--task-file', {str(path)!r}, '--epochs', '1', '--eval-examples', '0',"
        f" '--set', 'units=16', '--set', 'embedding_dim=8', '--out', {str(out)!r}]) == 0\n",
        backend="jax",
        block_tensorflow=True,
    )
    report = json.loads((out / "report.json").read_text())
    assert report["task"] == "spa-eng" and "test_bleu" not in report
    assert (out / "target_vocabulary.txt").read_text().splitlines() == original.target_vocabulary.tokens


def test_readers_drop_a_bom_refuse_utf16_and_skip_a_huge_line(tmp_path, monkeypatch):
    path = write(tmp_path, "bom.txt", b"\xef\xbb\xbfGo.\tVe.\n" + b"A.\tB.\n" * 20)
    assert data.read_pairs(path).records[0] == ("Go.", "Ve.")
    monkeypatch.setattr(data, "MAX_LINE_BYTES", 64)
    huge = write(tmp_path, "huge.txt", "Go.\tVe.\n" + "x" * 1000 + "\tlong\n" + "A.\tB.\n" * 20)
    corpus = data.read_pairs(huge)
    assert len(corpus.records) == 21 and corpus.problems == [f"{huge}:2: longer than 64 bytes"]


@pytest.mark.parametrize("encode,name", [
    (lambda text: text.encode("utf-16"), "UTF-16LE text; save it as UTF-8"),
    (lambda text: text.encode("utf-16-le"), "UTF-16LE text without a byte-order mark"),
    (lambda text: text.encode("utf-16-be"), "UTF-16BE text without a byte-order mark"),
    (lambda text: text.encode("utf-32"), "UTF-32LE text"),
    (lambda text: text.encode("utf-8")[:9] + b"\0\0\x01" + text.encode("utf-8")[9:], "holds NUL bytes"),
])
def test_text_that_is_not_utf8_is_refused_by_its_name(tmp_path, encode, name):
    path = write(tmp_path, "pairs.txt", encode("Go.\tVe.\n" + "Hi.\tHola.\n" * 20))
    with pytest.raises(data.CorpusError, match=name):
        data.read_pairs(path)


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_every_line_ending_reads_the_same_rows(tmp_path, monkeypatch, end):
    monkeypatch.setattr(data, "_BLOCK_BYTES", 7)  # line ends, CRLFs among them, split across blocks
    rows = [f"sentence {i}\t{'pos' if i % 3 else 'neg'}" for i in range(40)]
    path = write(tmp_path, "rows.tsv", end.join(rows) + end)
    corpus = data.read_labeled(path, header=False, integer_labels=False)
    assert corpus.records == [(f"sentence {i}", "pos" if i % 3 else "neg") for i in range(40)] and not corpus.problems


def test_a_row_with_another_column_count_is_malformed_not_a_new_class(tmp_path):
    rows = "".join(f"review {i}\t{'pos' if i % 2 else 'neg'}\n" for i in range(30))
    path = write(tmp_path, "rows.tsv", rows + "a third\tpos\tcolumn\n")
    corpus = data.read_labeled(path, header=False, integer_labels=False)
    assert {label for _, label in corpus.records} == {"pos", "neg"}
    assert corpus.problems == [f"{path}:31: found 3 tab-separated column(s) where the file has 2"]
    # Pairs may carry the Anki attribution column, but not in some rows only.
    pairs = write(tmp_path, "pairs.txt", "Go.\tVe.\tCC-BY\n" * 20 + "Hi.\tHola.\n")
    assert data.read_pairs(pairs).problems == [f"{pairs}:21: found 2 tab-separated column(s) where the file has 3"]


@pytest.mark.tensorflow
def test_sentencepiece_ids_are_the_same_in_python_and_in_the_graph(tiny_corpora):
    # Every sentence of the tiny corpus, and with the shared data every one of spa-eng.
    import tensorflow as tf

    from keras_attn.tokenizers import SentencePieceTokenizer

    path = os.path.join(DATA, "spa-eng", "spa.txt") if DATA else str(tiny_corpora / "spa-eng" / "spa.txt")
    pairs = data.read_pairs(path).records
    sentences = [s for pair in pairs for s in pair]
    tokenizer = SentencePieceTokenizer.learn([s for pair in pairs[::7] for s in pair], 2000 if DATA else 150)
    tokenize, detokenize, _ = tokenizer.in_graph()
    in_graph = tokenize(tf.constant(sentences)).to_list()
    mismatches = [s for s, ids in zip(sentences, in_graph) if tokenizer.encode(s) != ids]
    assert mismatches == [] and len(sentences) == 2 * len(pairs)
    # Cased text back as it was written, in Python and in the graph.
    ids = [tokenizer.encode(s) + [3, 0] for s in sentences[:50]]  # [END] and padding after the text
    decoded = [tokenizer.decode(row) for row in ids]
    assert decoded == sentences[:50]
    dense = tf.ragged.constant(ids).to_tensor(0)
    assert [t.decode() for t in detokenize(dense).numpy()] == [tokenizer.decode(row[:-2]) for row in ids]
