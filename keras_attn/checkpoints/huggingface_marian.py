"""Hugging Face Marian (opus-mt) directories in and out: `import_checkpoint`
makes a run directory of a published `MarianMTModel`, `export_checkpoint`
writes a run's Marian-shaped translator back as a directory `transformers`
(and CTranslate2's converter) loads.

A directory holds `config.json`, the weights in `model.safetensors` (or
shards), `source.spm` and `target.spm` (SentencePiece models) and
`vocab.json`, which gives every piece its id. The model becomes a
`TransformerTranslator` with Marian's settings: post-norm blocks,
sinusoidal positions in Marian's layout (`sinusoidal_halves`), scaled
embeddings, one token table for both sides and for the logits (when the
config ties them), the final logits bias, and Marian's ids (padding is the
last id and also where decoding starts; `</s>` is 0).

Refused, with the setting's name: pickled weights; a config whose encoder
and decoder differ in depth, heads or width; an activation the zoo lacks;
`is_decoder`; separate source and target vocabularies; a vocabulary with
target-language codes (`>>fra<<`); missing, unexpected or misshapen tensors;
tied copies that differ; stored positions that are not Marian's table.
Dropout rates only act in training: the zoo's blocks use `dropout` for
attention and activations too. No PyTorch here.

Example (a directory written by `transformers`' `save_pretrained`):

    from keras_attn.checkpoints import huggingface_marian
    huggingface_marian.import_checkpoint("opus-mt-es-en", "runs/opus-mt-es-en")
    huggingface_marian.export_checkpoint("runs/opus-mt-es-en", "hf/opus-mt-es-en")
"""

import json
import os

import numpy as np

from keras_attn import integrity, models, run_directory, staging
from keras_attn.checkpoints import huggingface
from keras_attn.checkpoints.huggingface import CheckpointError, dense_rows, norm_rows
from keras_attn.layers.position_embedding import sinusoidal_halves_table
from keras_attn.tokenizers import MARIAN_SPECIAL_TOKENS, MarianSentencePieceTokenizer, Vocabulary

ARCHITECTURES = {"MarianMTModel": models.TransformerTranslator}
# Hugging Face's `activation_function` names → the zoo's (`layers.ACTIVATIONS`).
ACTIVATIONS = {"swish": "swish", "silu": "swish", "gelu": "gelu", "gelu_new": "gelu_tanh", "relu": "relu"}
EXPORTED_ACTIVATIONS = {"swish": "swish", "gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}
# The encoder's and the decoder's settings that the zoo's one `num_layers`, `num_heads` and `intermediate_dim` hold.
PAIRED_SETTINGS = (("encoder_layers", "decoder_layers"), ("encoder_attention_heads", "decoder_attention_heads"),
                   ("encoder_ffn_dim", "decoder_ffn_dim"))
REQUIRED_SETTINGS = ("vocab_size", "d_model", "max_position_embeddings", "pad_token_id", "eos_token_id",
                     "decoder_start_token_id") + tuple(key for pair in PAIRED_SETTINGS for key in pair)
SPM_FILES = {"source": "source.spm", "target": "target.spm"}
TOKENIZER_CONFIG_KEYS = {"pad": "pad_token", "unk": "unk_token", "end": "eos_token"}
# Positions are computed, not learned; older checkpoints store the table anyway (checked against the zoo's).
POSITIONS = ("model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight")


# --- The weights, one table for both directions. ---

def _attention_rows(name, attention):
    return [*dense_rows(f"{name}.q_proj", attention.query_dense), *dense_rows(f"{name}.k_proj", attention.key_dense),
            *dense_rows(f"{name}.v_proj", attention.value_dense),
            *dense_rows(f"{name}.out_proj", attention.output_dense)]


def _feed_forward_rows(name, block):
    return [*dense_rows(f"{name}.fc1", block.feed_forward.intermediate_dense),
            *dense_rows(f"{name}.fc2", block.feed_forward.output_dense),
            *norm_rows(f"{name}.final_layer_norm", block.feed_forward_norm)]


def _weight_table(model):
    """`[(Hugging Face name, Keras variable, transposed)]` of a Marian-shaped
    `TransformerTranslator`, without the logits bias (stored as `(1, vocab)`)."""
    backbone = model.backbone
    encoder_table = backbone.encoder_embedding.token_embedding.embeddings
    if backbone.get_config()["share_embeddings"]:
        rows = [("model.shared.weight", encoder_table, False)]
    else:
        rows = [("model.encoder.embed_tokens.weight", encoder_table, False),
                ("model.decoder.embed_tokens.weight", backbone.decoder_embedding.token_embedding.embeddings, False)]
    for i, block in enumerate(backbone.encoder_blocks):
        layer = f"model.encoder.layers.{i}"
        rows += [*_attention_rows(f"{layer}.self_attn", block.self_attention),
                 *norm_rows(f"{layer}.self_attn_layer_norm", block.self_attention_norm),
                 *_feed_forward_rows(layer, block)]
    for i, block in enumerate(backbone.decoder_blocks):
        layer = f"model.decoder.layers.{i}"
        rows += [*_attention_rows(f"{layer}.self_attn", block.self_attention),
                 *norm_rows(f"{layer}.self_attn_layer_norm", block.self_attention_norm),
                 *_attention_rows(f"{layer}.encoder_attn", block.cross_attention),
                 *norm_rows(f"{layer}.encoder_attn_layer_norm", block.cross_attention_norm),
                 *_feed_forward_rows(layer, block)]
    if not model.tied_logits:
        rows.append(("lm_head.weight", model.logits.kernel, True))
    return rows


def _tied_copies(model):
    """`{name: the tensor it must equal}`: the copies of a tied table some checkpoints store."""
    shared = model.backbone.get_config()["share_embeddings"]
    table = "model.shared.weight" if shared else "model.decoder.embed_tokens.weight"
    copies = {"model.encoder.embed_tokens.weight": table, "model.decoder.embed_tokens.weight": table} if shared else {}
    if model.tied_logits:
        copies["lm_head.weight"] = table
    return copies


# --- Reading a directory. ---

def _settings(config):
    """The zoo's settings of a Marian `config.json`, refusing what it cannot compute exactly."""
    if config.get("model_type", "marian") != "marian":
        raise CheckpointError(f"config.json: `model_type`={config['model_type']!r}; this reads Marian models.")
    if config.get("is_decoder", False):
        raise CheckpointError("config.json: `is_decoder`=True; the zoo imports Marian encoder-decoders.")
    absent = [key for key in REQUIRED_SETTINGS if not isinstance(config.get(key), int)
              or isinstance(config.get(key), bool)]
    if absent:
        raise CheckpointError(f"config.json: no integer {', '.join(f'`{key}`' for key in absent)}.")
    for encoder_key, decoder_key in PAIRED_SETTINGS:
        if config[encoder_key] != config[decoder_key]:
            raise CheckpointError(f"config.json: `{encoder_key}`={config[encoder_key]} but `{decoder_key}`="
                                  f"{config[decoder_key]}; the zoo's Transformer has one value for both.")
    act = config.get("activation_function", "gelu")
    if act not in ACTIVATIONS:
        raise CheckpointError(f"config.json: `activation_function`={act!r}; the zoo computes {sorted(ACTIVATIONS)}.")
    tied = bool(config.get("tie_word_embeddings", True))
    # transformers 5 ties the tables only under `tie_word_embeddings`: without it the encoder, the decoder
    # and the logits read tables of their own whatever `share_encoder_decoder_embeddings` says.
    shared = bool(config.get("share_encoder_decoder_embeddings", True)) and tied
    vocabulary_size = config["vocab_size"]
    target_vocabulary_size = vocabulary_size if shared else (config.get("decoder_vocab_size") or vocabulary_size)
    if target_vocabulary_size != vocabulary_size:
        raise CheckpointError(f"config.json: `decoder_vocab_size`={target_vocabulary_size} differs from "
                              f"`vocab_size`={vocabulary_size}; the zoo reads one vocabulary for both sides.")
    return {
        "source_vocabulary_size": vocabulary_size, "target_vocabulary_size": target_vocabulary_size,
        "max_source_length": config["max_position_embeddings"], "max_target_length": config["max_position_embeddings"],
        "hidden_dim": config["d_model"], "num_layers": config["encoder_layers"],
        "num_heads": config["encoder_attention_heads"], "intermediate_dim": config["encoder_ffn_dim"],
        "dropout": config.get("dropout", 0.1), "activation": ACTIVATIONS[act],
        "position_encoding": "sinusoidal_halves", "norm_first": False,
        "scale_embedding": bool(config.get("scale_embedding", False)), "share_embeddings": shared,
        "pad_id": config["pad_token_id"], "tied_logits": tied,
        "start_id": config["decoder_start_token_id"], "end_id": config["eos_token_id"],
    }


def read_tokenizers(path, config):
    """`{"source", "target"}` tokenizers of the directory: each side's
    SentencePiece model over the shared `vocab.json`."""
    tokenizer_config_path = os.path.join(path, "tokenizer_config.json")
    tokenizer_config = (integrity.read_json(tokenizer_config_path, "tokenizer config")
                        if os.path.exists(tokenizer_config_path) else {})
    if tokenizer_config.get("separate_vocabs"):
        raise CheckpointError("tokenizer_config.json: `separate_vocabs`=True; the zoo reads one vocab.json.")
    missing = [name for name in ("vocab.json", *SPM_FILES.values()) if not os.path.exists(os.path.join(path, name))]
    if missing:
        raise CheckpointError(f"{path} lacks the Marian tokenizer's {', '.join(missing)}.")
    pieces = integrity.read_json(os.path.join(path, "vocab.json"), "Marian vocabulary")
    tokens = sorted(pieces, key=pieces.get)
    if [pieces[token] for token in tokens] != list(range(len(tokens))):
        raise CheckpointError("vocab.json: the ids are not 0, 1, ... without gaps.")
    codes = [token for token in tokens if token.startswith(">>") and token.endswith("<<")]
    if codes:
        raise CheckpointError(f"vocab.json: target-language codes ({', '.join(codes[:3])}, ...); the zoo "
                              f"imports single-target models.")
    special = {role: tokenizer_config.get(TOKENIZER_CONFIG_KEYS[role], MARIAN_SPECIAL_TOKENS[role])
               for role in TOKENIZER_CONFIG_KEYS}
    special = {role: token["content"] if isinstance(token, dict) else token for role, token in special.items()}
    special["start"] = special["pad"]  # Marian decodes from its padding token
    try:
        vocabulary = Vocabulary(tokens, special)
    except ValueError as error:
        raise CheckpointError(f"vocab.json: {error}") from None
    expected = {"pad": config["pad_token_id"], "end": config["eos_token_id"], "start": config["decoder_start_token_id"]}
    wrong = [f"{role} {special[role]!r} is {getattr(vocabulary, f'{role}_id')} in vocab.json, {expected[role]} in "
             f"config.json" for role in expected if getattr(vocabulary, f"{role}_id") != expected[role]]
    if wrong:
        raise CheckpointError(f"The special tokens disagree: {'; '.join(wrong)}.")
    tokenizers = {}
    for side, name in SPM_FILES.items():
        with open(os.path.join(path, name), "rb") as f:
            model_proto = f.read()
        try:
            tokenizers[side] = MarianSentencePieceTokenizer(model_proto, vocabulary)
        except (RuntimeError, ValueError) as error:  # sentencepiece's parse errors are RuntimeErrors
            raise CheckpointError(f"{name} is not a SentencePiece model ({str(error).splitlines()[0]}).") from None
    return tokenizers


def read_checkpoint(path):
    """`(model, tokenizers, origin)` of a Hugging Face Marian directory (nothing written)."""
    config = huggingface.read_config(path)
    tensors = huggingface.read_tensors(path)
    architecture = huggingface.architecture(config, ARCHITECTURES)
    settings = _settings(config)
    tokenizers = read_tokenizers(path, config)
    if len(tokenizers["source"].vocabulary) != settings["source_vocabulary_size"]:
        raise CheckpointError(f"vocab.json has {len(tokenizers['source'].vocabulary)} pieces but config.json "
                              f"`vocab_size` is {settings['source_vocabulary_size']}.")
    model = ARCHITECTURES[architecture].from_settings(**settings)
    _assign(model, tensors)
    return model, tokenizers, huggingface.origin(path, architecture, (".safetensors", ".json", ".spm"))


def _assign(model, tensors):
    """Sets every weight of `model` from `tensors`: the table's, the logits
    bias, and checks of the tied copies and stored positions."""
    tensors = dict(tensors)
    bias = tensors.pop("final_logits_bias", None)
    vocabulary_size = model.target_vocabulary_size
    if bias is None or bias.shape != (1, vocabulary_size):
        raise CheckpointError(f"final_logits_bias is {'missing' if bias is None else tuple(bias.shape)}; "
                              f"a MarianMTModel of this config has (1, {vocabulary_size}).")
    for name, source in _tied_copies(model).items():
        if name in tensors and source in tensors and not np.array_equal(tensors.pop(name), tensors[source]):
            raise CheckpointError(f"{name} is not tied to {source}, as config.json says it is.")
    for name, embedding in zip(POSITIONS, (model.backbone.encoder_embedding, model.backbone.decoder_embedding)):
        table = tensors.pop(name, None)
        expected = sinusoidal_halves_table(embedding.sequence_length, embedding.embedding_dim)
        if table is not None and not np.array_equal(table, expected):
            raise CheckpointError(f"{name} is not Marian's sinusoidal table; the zoo computes the positions.")
    # Saved beside untied tables, and read by nothing (see `_settings`).
    unused = () if model.backbone.get_config()["share_embeddings"] else ("model.shared.weight",)
    huggingface.assign(model, _weight_table(model), tensors, ignored=unused)
    model.logits.bias.assign(bias.reshape(-1).astype(np.float32))


# Held out with an import (it has no data of its own), so that `verify` runs
# its exports on real, variable-length text; `--sentences FILE` gives others.
SENTENCES = (
    "¿Dónde está la estación de tren?",
    "Tom no quiere ir a la escuela mañana.",
    "Me gusta mucho leer libros por la noche.",
    "¡Hola!",
    "El gato duerme en el sofá, junto a la ventana abierta, mientras llueve en la ciudad.",
    "¿Quién escribió esto?",
    "Hace frío.",
    "Mi hermana vive en Zúrich desde hace tres años y trabaja en un café cerca del lago.",
)


def held_out_task(model, tokenizers, sentences):
    """Sentences as the test split of a task: the source packed as the model
    reads it, the target the model's own greedy translation (there is no
    reference), so teacher-forced checks run on what it generates."""
    from keras_attn.data import tasks
    from keras_attn.data.packing import SequencePacker, source_packer

    sentences = [sentence for sentence in sentences if sentence.strip()]
    if not sentences:
        raise CheckpointError("No held-out sentences (the --sentences file is empty).")
    source_limit, target_limit = model.position_limits()
    source, _ = source_packer(tokenizers["source"], source_limit, pad_to_max_length=False).pack(
        [tokenizers["source"].encode(sentence) for sentence in sentences])
    steps = min(target_limit - 1, 2 * source.shape[1] + 10)
    generated = model.generate(source, max_length=steps).tokens
    outputs = [row[: row.index(model.end_id)] if model.end_id in row else row for row in generated.tolist()]
    target, _ = SequencePacker(steps + 1, [model.start_id], [model.end_id], pad_to_max_length=False,
                               pad_id=model.pad_id).pack(outputs)
    texts = [tokenizers["target"].decode(row) for row in generated]
    empty = (source[:0], target[:0])
    return tasks.TranslationTask("held-out sentences", tokenizers["source"], tokenizers["target"], {
        "train": empty, "validation": empty, "test": (source, target)},
        {"train": [], "validation": [], "test": list(zip(sentences, texts))})


def import_checkpoint(path, out_dir, overwrite=False, sentences=SENTENCES):
    """Writes a run directory of the Hugging Face Marian directory `path` into
    `out_dir` (whole or not at all), with `sentences` held out for `verify`;
    returns `(model, tokenizers)`."""
    staging.check_target(out_dir, overwrite)
    model, tokenizers, origin = read_checkpoint(path)
    source_limit, target_limit = model.position_limits()
    lengths = {"max_source_length": source_limit, "max_target_length": target_limit}
    held_out = held_out_task(model, tokenizers, sentences)
    with staging.staged(out_dir, overwrite) as work:
        model.save(run_directory.model_path(work))
        run_directory.write_config(
            work, type(model), None, tokenizers, model.current_settings(),
            {"task": None, "tokenization": tokenizers["source"].name, "lengths": lengths, "imported": origin},
        )
        run_directory.save_held_out(held_out, work)
    return model, tokenizers


# --- Writing a directory. ---

def checkpoint_tensors(model):
    """`{Hugging Face name: float32 array}` of a Marian-shaped `TransformerTranslator`."""
    tensors = huggingface.table_tensors(_weight_table(model))
    tensors["final_logits_bias"] = np.array(model.logits.bias, np.float32).reshape(1, -1)
    return tensors


def checkpoint_config(model):
    """The `config.json` of `model` as `transformers` reads it."""
    settings = model.current_settings()
    return {
        "architectures": ["MarianMTModel"], "model_type": "marian", "vocab_size": settings["source_vocabulary_size"],
        "decoder_vocab_size": settings["target_vocabulary_size"], "d_model": settings["hidden_dim"],
        "encoder_layers": settings["num_layers"], "decoder_layers": settings["num_layers"],
        "encoder_attention_heads": settings["num_heads"], "decoder_attention_heads": settings["num_heads"],
        "encoder_ffn_dim": settings["intermediate_dim"], "decoder_ffn_dim": settings["intermediate_dim"],
        "max_position_embeddings": settings["max_source_length"],
        "activation_function": EXPORTED_ACTIVATIONS[settings["activation"]],
        "dropout": settings["dropout"], "attention_dropout": settings["dropout"],
        "activation_dropout": settings["dropout"], "scale_embedding": settings["scale_embedding"],
        "share_encoder_decoder_embeddings": settings["share_embeddings"],
        "tie_word_embeddings": settings["tied_logits"], "pad_token_id": settings["pad_id"],
        "eos_token_id": settings["end_id"], "forced_eos_token_id": settings["end_id"],
        "decoder_start_token_id": settings["start_id"], "is_encoder_decoder": True, "torch_dtype": "float32",
    }


# What a directory must be for `export_checkpoint`: the settings that make a
# `TransformerTranslator` a MarianMTModel, with the value each must have.
MARIAN_SHAPE = {"position_encoding": "sinusoidal_halves", "norm_first": False}


def export_checkpoint(run_dir, out_dir, overwrite=False):
    """Writes the translator of run directory `run_dir` as a Hugging Face
    Marian directory (`config.json`, `model.safetensors`, `vocab.json`,
    `source.spm`, `target.spm`, tokenizer config) into `out_dir`, whole or
    not at all. Refuses a run whose model is not a Marian-shaped
    `TransformerTranslator` (Marian's positions, post-norm, equal
    vocabularies, equal source and target lengths) or whose tokenizers are
    not Marian's."""
    staging.check_target(out_dir, overwrite)
    model = run_directory.load_model(run_dir)
    if type(model) is not models.TransformerTranslator:
        raise CheckpointError(f"{run_dir} holds a {type(model).__name__}; only a TransformerTranslator exports as "
                              f"a MarianMTModel.")
    settings = model.current_settings()
    wrong = [f"`{key}`={settings[key]!r} (Marian: {value!r})" for key, value in MARIAN_SHAPE.items()
             if settings[key] != value]
    for first, second in (("source_vocabulary_size", "target_vocabulary_size"),
                          ("max_source_length", "max_target_length")):
        if settings[first] != settings[second]:
            wrong.append(f"`{first}`={settings[first]} and `{second}`={settings[second]} (Marian: equal)")
    if settings["activation"] not in EXPORTED_ACTIVATIONS:
        wrong.append(f"`activation`={settings['activation']!r}")
    if wrong:
        raise CheckpointError(f"{run_dir} is not a Marian model: {'; '.join(wrong)}.")
    tokenizers = run_directory.load_tokenizers(run_dir)
    if any(not isinstance(tokenizers.get(side), MarianSentencePieceTokenizer) for side in SPM_FILES):
        raise CheckpointError(f"{run_dir} tokenizes with the zoo's {tokenizers['source'].name!r}, which "
                              f"MarianTokenizer does not reproduce; only runs of an imported Marian export.")
    vocabulary = tokenizers["source"].vocabulary
    with staging.staged(out_dir, overwrite) as work:
        huggingface.write_tensors(checkpoint_tensors(model), work)
        run_directory.write_json(os.path.join(work, "config.json"), checkpoint_config(model))
        with open(os.path.join(work, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocabulary.ids, f, ensure_ascii=False, indent=2)
        for side, name in SPM_FILES.items():
            with open(os.path.join(work, name), "wb") as f:
                f.write(tokenizers[side].model_proto)
        special = {key: vocabulary.special_tokens[role] for role, key in TOKENIZER_CONFIG_KEYS.items()}
        run_directory.write_json(os.path.join(work, "tokenizer_config.json"), {
            "tokenizer_class": "MarianTokenizer", "separate_vocabs": False, "model_max_length": settings["max_source_length"],
            **special})
        run_directory.write_json(os.path.join(work, "special_tokens_map.json"), special)
    return model
