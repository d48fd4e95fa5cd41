"""Hugging Face Marian (opus-mt) directories in and out, against
`transformers` itself (the reference; tests only): random `MarianConfig`s
saved with `save_pretrained`, with SentencePiece models learned here and a
`vocab.json` laid out as opus-mt's (`</s>` 0, `<unk>` 1, ..., `<pad>` last).
"""

import io
import json
import os

import numpy as np
import pytest

from keras_attn import run_directory
from keras_attn.checkpoints import CheckpointError, huggingface_marian
from keras_attn.data.packing import source_packer
from keras_attn.tokenizers import MarianSentencePieceTokenizer, Vocabulary
from tests.conftest import assert_same_weights

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")
sentencepiece = pytest.importorskip("sentencepiece")

SPANISH = ["la casa es azul", "el perro come pan en la cocina", "¿dónde está la estación de tren?",
           "mi hermana vive en Zúrich", "hace frío hoy, ¿verdad?", "no quiero ir a la escuela mañana"]
ENGLISH = ["the house is blue", "the dog eats bread in the kitchen", "where is the train station?",
           "my sister lives in Zurich", "it is cold today, isn't it?", "I don't want to go to school tomorrow"]
TEXTS = ["la casa es azul", "¿Dónde está?", "mi hermana vive en Zúrich y hace frío hoy en la estación", "xyzzy",
         "El PERRO, la casa... ¡y el tren!"]

# Random configs: Marian's own (swish, scaled, shared and tied) and the settings it may change.
CONFIGS = {
    "opus-mt": {},
    "untied-logits": {"tie_word_embeddings": False, "activation_function": "gelu", "scale_embedding": False},
    "unshared": {"share_encoder_decoder_embeddings": False, "activation_function": "relu", "d_model": 24,
                 "encoder_attention_heads": 3, "decoder_attention_heads": 3, "encoder_layers": 1,
                 "decoder_layers": 1},
}


def _spm(sentences):
    model = io.BytesIO()
    # opus-mt's SentencePiece models: <unk> 0 and no other control pieces.
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 30), model_writer=model, vocab_size=60, hard_vocab_limit=False,
        unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, minloglevel=2)
    return model.getvalue()


def hf_directory(folder, seed=0, **overrides):
    """A random `MarianMTModel` saved with `save_pretrained` beside its
    tokenizer files; every weight perturbed (biases and layer norms too),
    but the sinusoidal positions left as Marian computes them and the
    padding rows of the token tables zero."""
    folder.mkdir(parents=True, exist_ok=True)
    models = {"source.spm": _spm(SPANISH), "target.spm": _spm(ENGLISH)}
    pieces = []
    for name, proto in models.items():
        (folder / name).write_bytes(proto)
        processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
        pieces += [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    tokens = ["</s>", "<unk>"] + [piece for piece in dict.fromkeys(pieces) if piece != "<unk>"] + ["<pad>"]
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}), encoding="utf-8")
    size = len(tokens)
    settings = dict(vocab_size=size, decoder_vocab_size=size, d_model=16, encoder_layers=2, decoder_layers=2,
                    encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                    max_position_embeddings=48, pad_token_id=size - 1, decoder_start_token_id=size - 1,
                    eos_token_id=0, forced_eos_token_id=0, activation_function="swish", scale_embedding=True)
    settings.update(overrides)
    torch.manual_seed(seed)
    model = transformers.MarianMTModel(transformers.MarianConfig(**settings)).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "embed_positions" not in name:
                parameter.add_(torch.randn_like(parameter) * 0.2)
        model.final_logits_bias.normal_(0, 0.1)
        # As in every opus-mt model, the padding row is zero: CTranslate2 reads the start token (padding) as a
        # zero vector, whatever the row holds (seen: other tokens from a random row).
        for table in (model.model.encoder.embed_tokens, model.model.decoder.embed_tokens):
            table.weight[settings["pad_token_id"]] = 0
    model.save_pretrained(str(folder))
    tokenizer = transformers.MarianTokenizer(str(folder / "source.spm"), str(folder / "target.spm"),
                                             str(folder / "vocab.json"))
    tokenizer.save_pretrained(str(folder))
    return model, tokenizer


def source_ids(tokenizers, texts, max_length=48):
    rows = [tokenizers["source"].encode(text) for text in texts]
    return source_packer(tokenizers["source"], max_length, pad_to_max_length=False).pack(rows)[0]


def hf_generate(reference, ids, **settings):
    """`generate` on zoo-packed ids, under the zoo's rules where they are
    settings: no `</s>` forced at the limit, padding never generated."""
    pad = reference.config.pad_token_id
    with torch.no_grad():
        return reference.generate(torch.tensor(ids, dtype=torch.long),
                                  attention_mask=torch.tensor(ids != pad, dtype=torch.long),
                                  forced_eos_token_id=None, bad_words_ids=[[pad]], do_sample=False,
                                  **settings).numpy()[:, 1:]  # without the start token


def same_tokens(ours, theirs, pad):
    """Equal once both are padded to one width (each search stops when every row has ended)."""
    width = max(ours.shape[1], theirs.shape[1])
    pad_to = lambda a: np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=pad)  # noqa: E731
    return np.array_equal(pad_to(ours), pad_to(theirs))


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_import_computes_what_transformers_computes(tmp_path, case):
    reference, tokenizer = hf_directory(tmp_path / "hf", **CONFIGS[case])
    model, tokenizers, origin = huggingface_marian.read_checkpoint(str(tmp_path / "hf"))
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    ids = source_ids(tokenizers, TEXTS)
    # The tokenizer: MarianTokenizer's ids, `</s>` and padding included.
    assert np.array_equal(ids, encoded["input_ids"].numpy())

    pad, size = reference.config.pad_token_id, reference.config.vocab_size
    rng = np.random.default_rng(1)
    decoder_ids = np.concatenate([np.full((len(ids), 1), pad), rng.integers(0, size - 1, (len(ids), 6))], 1)
    with torch.no_grad():
        expected = reference(**encoded, decoder_input_ids=torch.tensor(decoder_ids)).logits.numpy()
    got = np.asarray(model({"encoder_token_ids": ids, "decoder_token_ids": decoder_ids.astype("int32")}))
    assert np.abs(got - expected).max() < 1e-5

    # Greedy: the tokens of `generate(num_beams=1)`, through the compiled search and the step-wise one.
    theirs = hf_generate(reference, ids, num_beams=1, max_new_tokens=24)
    assert same_tokens(model.generate(ids, max_length=24).tokens, theirs, pad)
    assert origin["architecture"] == "MarianMTModel" and len(origin["sha256"]["source.spm"]) == 64


def test_the_opus_mt_preset_is_what_the_import_makes_of_opus_mt_es_en():
    """opus-mt-es-en's config.json (its architecture settings) read by the import gives the preset."""
    from keras_attn import zoo

    published = {"architectures": ["MarianMTModel"], "model_type": "marian", "vocab_size": 65001,
                 "decoder_vocab_size": 65001, "d_model": 512, "encoder_layers": 6, "decoder_layers": 6,
                 "encoder_attention_heads": 8, "decoder_attention_heads": 8, "encoder_ffn_dim": 2048,
                 "decoder_ffn_dim": 2048, "max_position_embeddings": 512, "activation_function": "swish",
                 "scale_embedding": True, "pad_token_id": 65000, "decoder_start_token_id": 65000, "eos_token_id": 0,
                 "dropout": 0.1, "share_encoder_decoder_embeddings": True, "tie_word_embeddings": True}
    assert huggingface_marian._settings(published) == zoo.config("opus-mt-es-en")


def test_beam_search_agrees_with_transformers_where_the_rules_agree(tmp_path):
    """Beam 4 over 200 random sources, without length normalisation on either
    side (the zoo's GNMT penalty and transformers' length ** penalty agree
    only at 0). One rule still differs: transformers keeps a hypothesis that
    ends only when it ranks among the `num_beams` best candidates of its
    step, the zoo among the `2 * num_beams` it extends (tensor2tensor's
    rule); a row may then finish with a different best hypothesis."""
    reference, _ = hf_directory(tmp_path / "hf")
    model, tokenizers, _ = huggingface_marian.read_checkpoint(str(tmp_path / "hf"))
    pad, size = reference.config.pad_token_id, reference.config.vocab_size
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 12, 200)
    ids = np.full((200, lengths.max()), pad, "int32")
    for row, length in enumerate(lengths):
        ids[row, : length - 1] = rng.integers(1, size - 1, length - 1)
        ids[row, length - 1] = 0  # `</s>`, as the tokenizer packs a source
    ours = model.beam_generate(ids, beam_size=4, alpha=0.0, max_length=16).tokens
    theirs = hf_generate(reference, ids, num_beams=4, length_penalty=0.0, early_stopping=False, max_new_tokens=16)
    agree = np.mean([same_tokens(a[None], b[None], pad) for a, b in zip(ours, theirs)])
    print(f"beam 4: {agree:.1%} of 200 rows identical to transformers")
    assert agree >= 0.9


def test_export_loads_in_transformers_and_round_trips_bit_identical(tmp_path):
    reference, tokenizer = hf_directory(tmp_path / "hf")
    huggingface_marian.import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "run"))
    huggingface_marian.export_checkpoint(str(tmp_path / "run"), str(tmp_path / "back"))

    loaded = transformers.MarianMTModel.from_pretrained(str(tmp_path / "back")).eval()
    original, written = reference.state_dict(), loaded.state_dict()
    assert sorted(original) == sorted(written)
    assert all(torch.equal(original[key], written[key]) for key in original)
    back_tokenizer = transformers.MarianTokenizer.from_pretrained(str(tmp_path / "back"))
    assert back_tokenizer(TEXTS)["input_ids"] == tokenizer(TEXTS)["input_ids"]
    assert loaded.config.decoder_start_token_id == reference.config.decoder_start_token_id

    again, _, _ = huggingface_marian.read_checkpoint(str(tmp_path / "back"))
    assert_same_weights(again, run_directory.load_model(str(tmp_path / "run")))


def test_an_imported_marian_translates_text_as_transformers_does(tmp_path):
    from keras_attn import cli
    from keras_attn.inference.translation import Translator

    reference, tokenizer = hf_directory(tmp_path / "hf")
    assert cli.main(["import", str(tmp_path / "hf"), "--out", str(tmp_path / "run")]) == 0
    translator = Translator(str(tmp_path / "run"))
    encoded = tokenizer(TEXTS[:2], padding=True, return_tensors="np")["input_ids"]
    theirs = hf_generate(reference, encoded, num_beams=1, max_new_tokens=47)
    for text, row in zip(TEXTS[:2], theirs):
        assert translator.translate(text).text == tokenizer.decode(row, skip_special_tokens=True,
                                                                   use_source_tokenizer=False)
    held_out = run_directory.load_held_out(str(tmp_path / "run"))
    assert len(held_out.examples["test"]) == len(huggingface_marian.SENTENCES)


def _break(folder, edit):
    config = json.loads((folder / "config.json").read_text())
    if callable(edit):
        edit(folder, config)
    else:
        config.update(edit)
    (folder / "config.json").write_text(json.dumps(config))


def _retensor(folder, change):
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(folder / "model.safetensors"))
    change(tensors)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})


def _rename_piece(folder, piece_id, new):
    vocabulary = json.loads((folder / "vocab.json").read_text())
    vocabulary[new] = vocabulary.pop(next(piece for piece, i in vocabulary.items() if i == piece_id))
    (folder / "vocab.json").write_text(json.dumps(vocabulary))


def _sinusoids(dim, length):
    return huggingface_marian.sinusoidal_halves_table(length, dim)


REFUSALS = {
    "encoder and decoder depths": ({"decoder_layers": 1}, "`encoder_layers`=2 but `decoder_layers`=1"),
    "heads": ({"decoder_attention_heads": 4}, "`decoder_attention_heads`"),
    "activation": ({"activation_function": "quick_gelu"}, "`activation_function`='quick_gelu'"),
    "decoder only": ({"is_decoder": True}, "`is_decoder`"),
    "architecture": ({"architectures": ["MarianForCausalLM"]}, "`architectures`"),
    "model type": ({"model_type": "bart"}, "`model_type`='bart'"),
    "no size": ({"d_model": None}, "no integer `d_model`"),
    "special ids": ({"eos_token_id": 1}, r"end '</s>' is 0 in vocab.json, 1 in config.json"),
    "vocabulary size": ({"vocab_size": 500, "decoder_vocab_size": 500}, "vocab.json has"),
    "decoder vocabulary": ({"share_encoder_decoder_embeddings": False, "decoder_vocab_size": 7},
                           "`decoder_vocab_size`=7"),
    "separate vocabularies": (lambda folder, config: (folder / "tokenizer_config.json").write_text(json.dumps(
        {**json.loads((folder / "tokenizer_config.json").read_text()), "separate_vocabs": True})), "separate_vocabs"),
    "language codes": (lambda folder, config: _rename_piece(folder, 2, ">>fra<<"), "target-language codes"),
    "no vocabulary": (lambda folder, config: os.remove(folder / "vocab.json"), "lacks the Marian tokenizer's vocab.json"),
    "not a SentencePiece model": (lambda folder, config: (folder / "target.spm").write_bytes(b"not a model"),
                                  "target.spm is not a SentencePiece model"),
    "missing tensor": (lambda folder, config: _retensor(folder, lambda t: t.pop("model.encoder.layers.0.fc1.bias")),
                       r"missing tensors \['model.encoder.layers.0.fc1.bias'\]"),
    "unexpected tensor": (lambda folder, config: _retensor(folder, lambda t: t.update(extra=np.zeros(2, "float32"))),
                          r"unexpected tensors \['extra'\]"),
    "wrong shape": (lambda folder, config: _retensor(folder, lambda t: t.update(
        {"model.decoder.layers.1.fc2.weight": np.zeros((16, 31), "float32")})), "model.decoder.layers.1.fc2.weight"),
    "logits bias": (lambda folder, config: _retensor(folder, lambda t: t.pop("final_logits_bias")),
                    "final_logits_bias is missing"),
    "untied copy": (lambda folder, config: _retensor(folder, lambda t: t.update(
        {"lm_head.weight": t["model.shared.weight"] + 1})), "lm_head.weight is not tied"),
    "positions": (lambda folder, config: _retensor(folder, lambda t: t.update(
        {"model.encoder.embed_positions.weight": _sinusoids(16, 48) + 1e-3})), "not Marian's sinusoidal table"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_what_the_zoo_cannot_compute_exactly_is_refused_by_name_and_nothing_is_written(tmp_path, case):
    edit, message = REFUSALS[case]
    hf_directory(tmp_path / "hf")
    _break(tmp_path / "hf", edit)
    with pytest.raises(CheckpointError, match=message) as error:
        huggingface_marian.import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "run"))
    assert "\n" not in str(error.value)
    assert not (tmp_path / "run").exists()


def test_stored_copies_that_agree_are_read_and_pickles_refused(tmp_path):
    """Older opus-mt files store the tied tables and the positions too: equal copies are accepted."""
    reference, _ = hf_directory(tmp_path / "hf")
    _retensor(tmp_path / "hf", lambda t: t.update({
        "lm_head.weight": t["model.shared.weight"], "model.encoder.embed_tokens.weight": t["model.shared.weight"],
        "model.decoder.embed_positions.weight": _sinusoids(16, 48)}))
    model, _, _ = huggingface_marian.read_checkpoint(str(tmp_path / "hf"))
    assert np.array_equal(np.asarray(model.logits.bias), reference.final_logits_bias.numpy()[0])

    os.remove(tmp_path / "hf" / "model.safetensors")
    torch.save(reference.state_dict(), tmp_path / "hf" / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pickle"):
        huggingface_marian.import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_model_whose_ids_are_not_its_datas_is_refused_before_training(tmp_path, capsys):
    from keras_attn import cli

    # The zoo's dates pad with 0, start with [START] (2) and end with [END] (3).
    command = ["train", "transformer", "--examples", "50", "--epochs", "1", "--set", "num_layers=1", "--set",
               "hidden_dim=16", "--set", "intermediate_dim=16", "--set", "num_heads=2", "--out", str(tmp_path / "a")]
    for setting, message in (("pad_id=5", "`pad_id` is 5 but 'dates' pads with 0"),
                             ("end_id=0", "`end_id` is 0 but 'dates''s targets use 3")):
        assert cli.main(command + ["--set", setting]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def test_only_marian_shaped_translators_with_marian_tokenizers_export(tmp_path):
    from keras_attn import checkpoints, cli

    assert cli.main(["train", "transformer", "--out", str(tmp_path / "zoo"), "--examples", "200", "--epochs", "1",
                     "--eval-examples", "0", "--set", "num_layers=1", "--set", "hidden_dim=16", "--set",
                     "intermediate_dim=16", "--set", "num_heads=2"]) == 0
    with pytest.raises(CheckpointError, match="not a Marian model: `position_encoding`='sinusoidal'"):
        huggingface_marian.export_checkpoint(str(tmp_path / "zoo"), str(tmp_path / "out"))
    assert checkpoints.module_of_run(str(tmp_path / "zoo")) is huggingface_marian
    assert not (tmp_path / "out").exists()

    # Marian's shape with the zoo's own tokenizer (ids 0, 2, 3): MarianTokenizer would read its text otherwise.
    from keras_attn import models
    from keras_attn.tokenizers import CharacterTokenizer

    tokenizer = CharacterTokenizer(Vocabulary.from_tokens("abc"))
    model = models.TransformerTranslator.from_settings(**{
        **huggingface_marian._settings(json.loads((hf_directory(tmp_path / "hf")[0].config.to_json_string()))),
        "source_vocabulary_size": 10, "target_vocabulary_size": 10, "pad_id": 0, "start_id": 2, "end_id": 3})
    run = tmp_path / "characters"
    run.mkdir()
    model.save(run_directory.model_path(str(run)))
    run_directory.write_config(str(run), type(model), None, {"source": tokenizer, "target": tokenizer},
                               model.current_settings(), {"task": None, "tokenization": tokenizer.name,
                                                          "lengths": {"max_source_length": 48,
                                                                      "max_target_length": 48}})
    with pytest.raises(CheckpointError, match="tokenizes with the zoo's 'characters'"):
        huggingface_marian.export_checkpoint(str(run), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_the_marian_tokenizer_needs_its_special_tokens(tmp_path):
    hf_directory(tmp_path / "hf")
    proto = (tmp_path / "hf" / "source.spm").read_bytes()
    without_end = Vocabulary(["<unk>", "▁la", "<pad>"], {"pad": "<pad>", "unk": "<unk>", "start": "<pad>"})
    with pytest.raises(ValueError, match="names no end token"):
        MarianSentencePieceTokenizer(proto, without_end)


@pytest.mark.tensorflow
def test_the_in_graph_tokenizer_gives_the_ids_and_text_of_the_python_one(tmp_path):
    import tensorflow as tf

    _, tokenizer = hf_directory(tmp_path / "hf")
    tokenizers = huggingface_marian.read_tokenizers(str(tmp_path / "hf"),
                                                    json.loads((tmp_path / "hf" / "config.json").read_text()))
    tokenize, _, _ = tokenizers["source"].in_graph()
    packer = source_packer(tokenizers["source"], 48, pad_to_max_length=False)
    ids, _ = packer.pack_in_graph(tokenize(tf.constant(TEXTS)))
    assert np.array_equal(ids.numpy(), tokenizer(TEXTS, padding=True, return_tensors="np")["input_ids"])
    _, detokenize, _ = tokenizers["target"].in_graph()
    rows = [tokenizers["target"].encode(text) for text in ENGLISH]
    packed, _ = source_packer(tokenizers["target"], 48, pad_to_max_length=False).pack(rows)
    texts = [text.decode() for text in detokenize(tf.constant(packed)).numpy()]
    assert texts == [tokenizers["target"].decode(row) for row in packed]
    assert texts == [tokenizer.decode(row, skip_special_tokens=True, use_source_tokenizer=False) for row in packed]


@pytest.mark.tensorflow
@pytest.mark.slow
def test_an_import_exports_with_its_tokenizer_in_the_graph_and_verify_checks_it(tmp_path):
    """SavedModel, TFLite (builtins) and ONNX pieces and searches, and the
    `translate` text signature, on Marian's ids (padding is its last id):
    `verify` passes; the TensorFlow-free runtime decodes the tokens of
    transformers; a model that computes something else fails."""
    from keras_attn import cli
    from keras_attn.runtime import ExportedModel

    reference, tokenizer = hf_directory(tmp_path / "hf")
    assert cli.main(["import", str(tmp_path / "hf"), "--out", str(tmp_path / "run")]) == 0
    # (int8: the int8 tests of test_export.py, on the same class.)
    assert cli.main(["export", str(tmp_path / "run" / "model.keras"), "--out", str(tmp_path / "export")]) == 0
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["runtime"]["pad_id"] == reference.config.pad_token_id
    assert any(a.get("signature") == "translate" for a in manifest["artifacts"])
    assert cli.main(["verify", str(tmp_path / "export")]) == 0

    ids = tokenizer(TEXTS, padding=True, return_tensors="np")["input_ids"].astype("int32")
    theirs = hf_generate(reference, ids, num_beams=1, max_new_tokens=20)
    for fmt in ("onnx", "tflite"):
        ours = ExportedModel(str(tmp_path / "export"), format=fmt).greedy(ids, max_length=20).tokens
        assert same_tokens(ours, theirs, reference.config.pad_token_id), fmt

    model = run_directory.load_model(str(tmp_path / "run"))
    kernel = model.backbone.decoder_blocks[0].feed_forward.output_dense.kernel
    kernel.assign(np.asarray(kernel) + np.random.default_rng(0).normal(0, 0.5, kernel.shape))
    model.save(str(tmp_path / "other.keras"))
    assert cli.main(["verify", str(tmp_path / "export"), "--model", str(tmp_path / "other.keras")]) == 1
    failed = [row for row in json.loads((tmp_path / "export" / "parity.json").read_text())["rows"]
              if row["status"] == "fail"]
    assert {row["role"] for row in failed} >= {"forward", "step"}


def test_ctranslate2_converts_the_exported_directory_and_decodes_the_same_tokens(tmp_path):
    """The export serves the speed anchor too: CTranslate2's own converter
    reads the directory, and its greedy search gives the zoo's tokens."""
    ctranslate2 = pytest.importorskip("ctranslate2")

    hf_directory(tmp_path / "hf", seed=3)
    huggingface_marian.import_checkpoint(str(tmp_path / "hf"), str(tmp_path / "run"))
    huggingface_marian.export_checkpoint(str(tmp_path / "run"), str(tmp_path / "back"))
    ctranslate2.converters.TransformersConverter(str(tmp_path / "back")).convert(str(tmp_path / "ct2"))
    model = run_directory.load_model(str(tmp_path / "run"))
    tokenizers = run_directory.load_tokenizers(str(tmp_path / "run"))
    ids = source_ids(tokenizers, TEXTS)
    tokens = tokenizers["source"].tokens
    translator = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu", intra_threads=1)
    results = translator.translate_batch([[tokens[i] for i in row if i != model.pad_id] for row in ids],
                                         beam_size=1, max_decoding_length=20)
    theirs = np.array([[tokenizers["target"].vocabulary.ids[token] for token in result.hypotheses[0]]
                       + [model.end_id] * (20 - len(result.hypotheses[0])) for result in results])
    ours = model.generate(ids, max_length=20).tokens
    ours = np.where(ours == model.pad_id, model.end_id, ours)  # CTranslate2 returns no `</s>` and no padding
    assert np.array_equal(ours[:, :20], theirs[:, : ours.shape[1]])


def _toy_pairs(count=240):
    """Spanish → English pairs of a tiny grammar, enough rows to train on."""
    subjects = [("el perro", "the dog"), ("la niña", "the girl"), ("mi hermana", "my sister"), ("el tren", "the train")]
    verbs = [("come", "eats"), ("ve", "sees"), ("busca", "looks for")]
    objects = [("pan", "bread"), ("la casa", "the house"), ("el libro", "the book"), ("agua", "water"),
               ("la estación", "the station")]
    rng = np.random.default_rng(0)
    return [tuple(" ".join(part[side] for part in (subjects[a], verbs[b], objects[c])) for side in (0, 1))
            for a, b, c in zip(rng.integers(0, 4, count), rng.integers(0, 3, count), rng.integers(0, 5, count))]


def test_a_marian_vocabulary_task_is_laid_out_as_opus_mt(tmp_path):
    """`--tokenization marian_sentencepiece`: one vocabulary learned on both
    languages (`</s>` 0, `<unk>` 1, `<pad>` last), sources ending with
    `</s>`, targets `<pad> ... </s>`, padded with `<pad>`; the task file
    keeps it."""
    from keras_attn.data import corpora, tasks

    task = corpora.translation_task("toy", _toy_pairs(), tokenization="marian_sentencepiece", vocabulary_size=60,
                                    max_length=16)
    vocabulary = task.source_vocabulary
    assert task.target_vocabulary.tokens == vocabulary.tokens
    assert (vocabulary.tokens[0], vocabulary.tokens[1], vocabulary.tokens[-1]) == ("</s>", "<unk>", "<pad>")
    assert {"ñ", "w"} <= set(vocabulary.tokens)  # letters of one language each (niña; water)
    source, target = task.splits["train"]
    pad = vocabulary.pad_id
    assert np.all(target[:, 0] == pad)  # `<pad>`: Marian's start
    for (spanish, english), source_row, target_row in zip(task.examples["train"], source, target):
        assert [i for i in source_row.tolist() if i != pad] == task.source_tokenizer.encode(spanish) + [0]
        assert [i for i in target_row[1:].tolist() if i != pad] == task.target_tokenizer.encode(english) + [0]
    assert task.special_ids() == {"pad_id": pad, "start_id": pad, "end_id": 0}
    tasks.save(task, tmp_path / "toy.npz")
    loaded = tasks.load_file(tmp_path / "toy.npz")
    assert type(loaded.source_tokenizer) is MarianSentencePieceTokenizer
    assert loaded.target_tokenizer.encode(ENGLISH[0]) == task.target_tokenizer.encode(ENGLISH[0])
    np.testing.assert_array_equal(loaded.splits["test"][1], task.splits["test"][1])


def test_a_marian_trained_here_is_what_transformers_and_ctranslate2_run(tmp_path):
    """The whole path of a model trained here with Marian's architecture:
    `train --tokenization marian_sentencepiece`, `export-huggingface`, then
    `transformers` gives its logits within 1e-5 and its greedy tokens, and
    CTranslate2 (which starts the decoder from a zero vector, whatever the
    start token's row holds) its greedy tokens: training keeps that row zero."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    from keras_attn import cli

    (tmp_path / "pairs.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in _toy_pairs()), encoding="utf-8")
    tiny = ["--set", "hidden_dim=16", "--set", "num_layers=1", "--set", "num_heads=2", "--set", "intermediate_dim=32"]
    assert cli.main(["train", "opus-mt-es-en", "--train-file", str(tmp_path / "pairs.tsv"), "--tokenization",
                     "marian_sentencepiece", "--vocabulary-size", "60", "--epochs", "2", "--batch-size", "16",
                     "--eval-examples", "0", "--out", str(tmp_path / "run"), *tiny]) == 0
    assert cli.main(["export-huggingface", str(tmp_path / "run"), "--out", str(tmp_path / "hf")]) == 0
    model = run_directory.load_model(str(tmp_path / "run"))
    tokenizers = run_directory.load_tokenizers(str(tmp_path / "run"))
    table = np.asarray(model.backbone.decoder_embedding.token_embedding.embeddings)
    assert model.start_id == model.pad_id and not table[model.pad_id].any() and table[5].any()

    reference = transformers.MarianMTModel.from_pretrained(str(tmp_path / "hf")).eval()
    tokenizer = transformers.MarianTokenizer.from_pretrained(str(tmp_path / "hf"))
    texts = ["el perro come pan", "mi hermana busca la estación", "la niña ve el libro"]
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    ids = source_ids(tokenizers, texts)
    assert np.array_equal(ids, encoded["input_ids"].numpy())
    ours = model.generate(ids, max_length=12).tokens
    decoder_ids = np.concatenate([np.full((len(ids), 1), model.start_id), ours[:, :-1]], 1).astype("int32")
    with torch.no_grad():
        expected = reference(**encoded, decoder_input_ids=torch.tensor(decoder_ids, dtype=torch.long)).logits.numpy()
    got = np.asarray(model({"encoder_token_ids": ids, "decoder_token_ids": decoder_ids}))
    assert np.abs(got - expected).max() < 1e-5
    assert same_tokens(ours, hf_generate(reference, ids, num_beams=1, max_new_tokens=12), model.pad_id)

    ctranslate2.converters.TransformersConverter(str(tmp_path / "hf")).convert(str(tmp_path / "ct2"))
    translator = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu", intra_threads=1)
    tokens, vocabulary = tokenizers["source"].tokens, tokenizers["target"].vocabulary
    results = translator.translate_batch([[tokens[i] for i in row if i != model.pad_id] for row in ids],
                                         beam_size=1, max_decoding_length=12, return_end_token=True)
    theirs = [[vocabulary.ids[token] for token in result.hypotheses[0]] for result in results]
    assert [row[: row.index(0) + 1] if 0 in row else row for row in ours.tolist()] == theirs
