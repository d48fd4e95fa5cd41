"""Hugging Face BERT directories in and out: `import_checkpoint` makes a run
directory of a published BERT, `export_checkpoint` writes a run's BERT back
as a directory `transformers` loads.

A directory holds `config.json`, the weights in `model.safetensors` (or
shards listed by `model.safetensors.index.json`) and the tokenizer, as
`tokenizer.json` or `vocab.txt` + `tokenizer_config.json`. The
architecture decides the task model:

- `BertModel` → `BertSentenceEncoder` (pooling and normalization from
  sentence-transformers' `modules.json` and `1_Pooling/config.json` when
  the directory has them; mean pooling, not normalized, otherwise);
- `BertForMaskedLM` → `BertMaskedLM`;
- `BertForSequenceClassification` → `BertClassifier`.

The weights map one for one (`_weight_table`, used both ways): Keras
kernels are PyTorch's `Linear` weights transposed. Weights are read from
safetensors into numpy (half precision into float32); a pickled checkpoint
(`pytorch_model.bin`) is refused, since loading a pickle runs code, as is
every setting the zoo's BERT does not compute exactly, a missing,
unexpected or misshapen tensor and a tokenizer that is not BERT's WordPiece.
Nothing is written unless the import succeeds. No PyTorch here.

Example (a directory written by `transformers`' `save_pretrained`):

    from keras_attn.checkpoints import huggingface_bert
    huggingface_bert.import_checkpoint("all-MiniLM-L6-v2", "runs/minilm")
    huggingface_bert.export_checkpoint("runs/minilm-sst2", "hf/minilm-sst2")
"""

import os

import numpy as np

from keras_attn import integrity, models, run_directory, staging
from keras_attn.checkpoints import huggingface
from keras_attn.checkpoints.huggingface import CheckpointError, dense_rows, norm_rows
from keras_attn.tokenizers import BERT_SPECIAL_TOKENS, BertWordPieceTokenizer, Vocabulary

ARCHITECTURES = {
    "BertModel": models.BertSentenceEncoder,
    "BertForMaskedLM": models.BertMaskedLM,
    "BertForSequenceClassification": models.BertClassifier,
}
# Hugging Face's `hidden_act` names → the zoo's (`layers.ACTIVATIONS`).
ACTIVATIONS = {"gelu": "gelu", "gelu_python": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
               "relu": "relu"}
EXPORTED_ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_new", "relu": "relu"}
# Settings that change what a BERT computes, with the only value the zoo computes.
FIXED_SETTINGS = {"model_type": "bert", "position_embedding_type": "absolute", "is_decoder": False,
                  "add_cross_attention": False}
REQUIRED_SETTINGS = ("vocab_size", "num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size",
                     "max_position_embeddings")
# Buffers some checkpoints carry besides weights: `position_ids` must be 0, 1, ... (checked).
BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")


# --- The weights, one table for both directions. ---

def _prefix(task_class):
    """Where the encoder's tensors are named: at the top of a `BertModel`, under `bert.` in the task models."""
    return "" if task_class is models.BertSentenceEncoder else "bert."


def _weight_table(model):
    """`[(Hugging Face name, Keras variable, transposed)]` for a task over a `BertBackbone`."""
    backbone = model.backbone
    prefix = _prefix(type(model))
    rows = [
        ("embeddings.word_embeddings.weight", backbone.embeddings.token_embedding.embeddings, False),
        ("embeddings.position_embeddings.weight", backbone.embeddings.position_embedding.table, False),
        ("embeddings.token_type_embeddings.weight", backbone.segment_embedding.embeddings, False),
        *norm_rows("embeddings.LayerNorm", backbone.embeddings_norm),
    ]
    for i, block in enumerate(backbone.blocks):
        layer, attention = f"encoder.layer.{i}", block.self_attention
        rows += [
            *dense_rows(f"{layer}.attention.self.query", attention.query_dense),
            *dense_rows(f"{layer}.attention.self.key", attention.key_dense),
            *dense_rows(f"{layer}.attention.self.value", attention.value_dense),
            *dense_rows(f"{layer}.attention.output.dense", attention.output_dense),
            *norm_rows(f"{layer}.attention.output.LayerNorm", block.self_attention_norm),
            *dense_rows(f"{layer}.intermediate.dense", block.feed_forward.intermediate_dense),
            *dense_rows(f"{layer}.output.dense", block.feed_forward.output_dense),
            *norm_rows(f"{layer}.output.LayerNorm", block.feed_forward_norm),
        ]
    if backbone.pooler is not None:
        rows += dense_rows("pooler.dense", backbone.pooler)
    rows = [(prefix + name, variable, transposed) for name, variable, transposed in rows]
    if isinstance(model, models.BertClassifier):
        rows += dense_rows("classifier", model.logits)
    if isinstance(model, models.BertMaskedLM):
        head = model.head
        rows += [*dense_rows("cls.predictions.transform.dense", head.dense),
                 *norm_rows("cls.predictions.transform.LayerNorm", head.norm),
                 ("cls.predictions.bias", head.output_bias, False)]
    return rows


# Tensors a masked LM may also store that are the same numbers as others (tied), by name.
TIED = {"cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias"}


# --- Reading a directory. ---

def _settings(config, architecture, tensors):
    """The zoo's settings of a Hugging Face `config.json`, refusing what it cannot compute exactly."""
    for key, value in FIXED_SETTINGS.items():
        if config.get(key, value) != value:
            raise CheckpointError(f"config.json: `{key}`={config[key]!r}; the zoo's BERT computes only "
                                  f"{key}={value!r}.")
    absent = [key for key in REQUIRED_SETTINGS if not isinstance(config.get(key), int)]
    if absent:
        raise CheckpointError(f"config.json: no integer {', '.join(f'`{key}`' for key in absent)}.")
    act = config.get("hidden_act", "gelu")
    if act not in ACTIVATIONS:
        raise CheckpointError(f"config.json: `hidden_act`={act!r}; the zoo computes {sorted(ACTIVATIONS)}.")
    hidden_dropout = config.get("hidden_dropout_prob", 0.1)
    if config.get("attention_probs_dropout_prob", hidden_dropout) != hidden_dropout:
        raise CheckpointError(f"config.json: `attention_probs_dropout_prob`={config['attention_probs_dropout_prob']}"
                              f" differs from `hidden_dropout_prob`={hidden_dropout}; the zoo's BERT has one rate.")
    settings = {
        "vocabulary_size": config["vocab_size"], "num_layers": config["num_hidden_layers"],
        "hidden_dim": config["hidden_size"], "num_heads": config["num_attention_heads"],
        "intermediate_dim": config["intermediate_size"], "max_length": config["max_position_embeddings"],
        "num_segments": config.get("type_vocab_size", 2), "dropout": hidden_dropout,
        "activation": ACTIVATIONS[act], "layer_norm_epsilon": config.get("layer_norm_eps", 1e-12),
    }
    prefix = _prefix(ARCHITECTURES[architecture])
    settings["pooler"] = f"{prefix}pooler.dense.weight" in tensors or architecture == "BertForSequenceClassification"
    if architecture == "BertForSequenceClassification":
        problem = config.get("problem_type")
        if problem not in (None, "single_label_classification"):
            raise CheckpointError(f"config.json: `problem_type`={problem!r}; the zoo's classifier is single-label.")
        num_labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)
        if num_labels < 2:
            raise CheckpointError(f"config.json: `num_labels`={num_labels} is a regression head; the zoo classifies.")
        dropout = config.get("classifier_dropout")
        settings.update(num_classes=num_labels, classifier_dropout=hidden_dropout if dropout is None else dropout)
    return settings


def _sentence_pooling(path):
    """`{pooling, normalize}` from sentence-transformers' files, if the directory has them."""
    modules_path = os.path.join(path, "modules.json")
    if not os.path.exists(modules_path):
        return {"pooling": "mean", "normalize": False}
    modules = integrity.read_json(modules_path, "sentence-transformers module list", list)
    kinds = [module.get("type", "").rsplit(".", 1)[-1] for module in modules]
    unknown = sorted(set(kinds) - {"Transformer", "Pooling", "Normalize"})
    if unknown:
        raise CheckpointError(f"modules.json: modules {unknown}; the zoo computes Transformer, Pooling, Normalize.")
    settings = {"pooling": "mean", "normalize": "Normalize" in kinds}
    for module in modules:
        if module.get("type", "").endswith("Pooling"):
            pooling = integrity.read_json(os.path.join(path, module["path"], "config.json"), "pooling config")
            modes = sorted(key[len("pooling_mode_"):] for key, value in pooling.items()
                           if key.startswith("pooling_mode_") and value)
            if modes not in (["mean_tokens"], ["cls_token"]):
                raise CheckpointError(f"{module['path']}/config.json: pooling modes {modes}; the zoo computes "
                                      f"mean_tokens or cls_token alone.")
            settings["pooling"] = "mean" if modes == ["mean_tokens"] else "cls"
    return settings


def read_tokenizer(path):
    """The directory's BERT tokenizer: `tokenizer.json` (WordPiece with BERT's
    normalizer and pre-tokenizer) or `vocab.txt` with `tokenizer_config.json`."""
    config_path = os.path.join(path, "tokenizer_config.json")
    tokenizer_config = integrity.read_json(config_path, "tokenizer config") if os.path.exists(config_path) else {}
    special = {role: _token_text(tokenizer_config.get(f"{role}_token", default))
               for role, default in BERT_SPECIAL_TOKENS.items()}
    if os.path.exists(os.path.join(path, "tokenizer.json")):
        return _from_tokenizer_json(integrity.read_json(os.path.join(path, "tokenizer.json"), "tokenizer"), special)
    if not os.path.exists(os.path.join(path, "vocab.txt")):
        raise CheckpointError(f"{path} holds no tokenizer (tokenizer.json or vocab.txt).")
    tokenizer_class = tokenizer_config.get("tokenizer_class", "BertTokenizer")
    if tokenizer_class not in ("BertTokenizer", "BertTokenizerFast"):
        raise CheckpointError(f"tokenizer_config.json: `tokenizer_class`={tokenizer_class!r}; the zoo reads BERT's "
                              f"WordPiece (BertTokenizer).")
    if not tokenizer_config.get("do_basic_tokenize", True):
        raise CheckpointError("tokenizer_config.json: `do_basic_tokenize`=False; the zoo always splits words first.")
    with open(os.path.join(path, "vocab.txt"), encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    return _tokenizer(tokens, special, lowercase=tokenizer_config.get("do_lower_case", True),
                      strip_accents=tokenizer_config.get("strip_accents"),
                      handle_chinese_chars=tokenizer_config.get("tokenize_chinese_chars", True))


def _token_text(token):
    return token["content"] if isinstance(token, dict) else token


def _from_tokenizer_json(spec, special):
    model, normalizer = spec.get("model") or {}, spec.get("normalizer") or {}
    pre_tokenizer = spec.get("pre_tokenizer") or {}
    if model.get("type") != "WordPiece":
        raise CheckpointError(f"tokenizer.json: model type {model.get('type')!r}; the zoo's BERT tokenizer is "
                              f"WordPiece.")
    if model.get("continuing_subword_prefix", "##") != "##":
        raise CheckpointError(f"tokenizer.json: `continuing_subword_prefix`={model['continuing_subword_prefix']!r}; "
                              f"the zoo reads '##'.")
    if normalizer.get("type") != "BertNormalizer" or pre_tokenizer.get("type") != "BertPreTokenizer":
        raise CheckpointError(f"tokenizer.json: normalizer {normalizer.get('type')!r} and pre-tokenizer "
                              f"{pre_tokenizer.get('type')!r}; the zoo reads BertNormalizer and BertPreTokenizer.")
    vocabulary = model.get("vocab") or {}
    tokens = sorted(vocabulary, key=vocabulary.get)
    if [vocabulary[token] for token in tokens] != list(range(len(tokens))):
        raise CheckpointError("tokenizer.json: the WordPiece ids are not 0, 1, ... without gaps.")
    special["unk"] = model.get("unk_token", special["unk"])
    return _tokenizer(tokens, special, lowercase=normalizer.get("lowercase", True),
                      strip_accents=normalizer.get("strip_accents"),
                      handle_chinese_chars=normalizer.get("handle_chinese_chars", True),
                      clean_text=normalizer.get("clean_text", True),
                      max_input_chars_per_word=model.get("max_input_chars_per_word", 100))


def _tokenizer(tokens, special, **settings):
    try:
        return BertWordPieceTokenizer(Vocabulary(tokens, special), **settings)
    except ValueError as error:
        raise CheckpointError(f"tokenizer: {error}") from None


def read_checkpoint(path):
    """`(model, tokenizer, origin)` of a Hugging Face BERT directory (nothing written)."""
    config = huggingface.read_config(path)
    tensors = huggingface.read_tensors(path)
    architecture = huggingface.architecture(config, ARCHITECTURES)
    task_class = ARCHITECTURES[architecture]
    settings = _settings(config, architecture, tensors)
    if task_class is models.BertSentenceEncoder:
        settings.update(_sentence_pooling(path))
    tokenizer = read_tokenizer(path)
    if len(tokenizer.vocabulary) > settings["vocabulary_size"]:
        raise CheckpointError(f"The tokenizer has {len(tokenizer.vocabulary)} tokens but config.json `vocab_size` "
                              f"is {settings['vocabulary_size']}.")
    model = task_class.from_settings(**settings)
    _assign(model, tensors)
    return model, tokenizer, huggingface.origin(path, architecture)


def _assign(model, tensors):
    """Sets every weight of `model` from `tensors`, refusing wrong buffers and
    untied masked-LM decoders, then what `huggingface.assign` refuses."""
    prefix = _prefix(type(model))
    tied = {name: source for name, source in TIED.items() if isinstance(model, models.BertMaskedLM)}
    position_ids = tensors.get(prefix + "embeddings.position_ids")
    if position_ids is not None and not np.array_equal(position_ids.reshape(-1), np.arange(position_ids.size)):
        raise CheckpointError("embeddings.position_ids is not 0, 1, ...; the zoo numbers positions from 0.")
    for name, source in tied.items():
        if name in tensors and source in tensors and not np.array_equal(tensors[name], tensors[source]):
            raise CheckpointError(f"{name} is not tied to {source}; the zoo's masked LM ties them.")
    huggingface.assign(model, _weight_table(model), tensors, ignored=[prefix + name for name in BUFFERS] + list(tied))


# Held out with an import (it has no data of its own), so that `verify` runs
# its exports on real, variable-length text; `--sentences FILE` gives others.
SENTENCES = (
    "A gripping, beautifully acted film.",
    "The plot goes nowhere and the jokes fall flat.",
    "It is not a bad movie, but it is not a good one either.",
    "Hi!",
    "The weather in Zürich was grey, cold and wet all week; we stayed inside and read.",
    "Who wrote this?",
    "An unexpectedly moving story about two brothers who run a small café by the sea.",
    "Nothing about it works.",
)


def held_out_task(tokenizer, sentences, max_length):
    """Sentences as the test split of a task (labels unused: 0), packed as the model reads them."""
    from keras_attn.data import tasks
    from keras_attn.data.packing import sentence_packer

    sentences = [sentence for sentence in sentences if sentence.strip()]
    if not sentences:
        raise CheckpointError("No held-out sentences (the --sentences file is empty).")
    ids, _ = sentence_packer(tokenizer, max_length).pack([tokenizer.encode(sentence) for sentence in sentences])
    ids = ids[:, : max(1, int((ids != 0).sum(1).max()))]
    labels = np.zeros(len(ids), "int32")
    empty = (ids[:0], labels[:0])
    return tasks.ClassificationTask("held-out sentences", tokenizer, 1, {
        "train": empty, "validation": empty, "test": (ids, labels)},
        {"train": [], "validation": [], "test": [(sentence, 0) for sentence in sentences]})


def import_checkpoint(path, out_dir, overwrite=False, sentences=SENTENCES):
    """Writes a run directory of the Hugging Face BERT directory `path` into
    `out_dir` (whole or not at all), with `sentences` held out for `verify`;
    returns `(model, tokenizer)`."""
    staging.check_target(out_dir, overwrite)
    model, tokenizer, origin = read_checkpoint(path)
    lengths = {"max_length": model.max_length}
    held_out = held_out_task(tokenizer, sentences, model.max_length)
    with staging.staged(out_dir, overwrite) as work:
        model.save(run_directory.model_path(work))
        run_directory.write_config(
            work, type(model), None, {"source": tokenizer}, model.current_settings(),
            {"task": None, "tokenization": tokenizer.name, "lengths": lengths, "imported": origin},
        )
        run_directory.save_held_out(held_out, work)
    return model, tokenizer


# --- Writing a directory. ---

def checkpoint_tensors(model):
    """`{Hugging Face name: float32 array}` of a task over a `BertBackbone`."""
    return huggingface.table_tensors(_weight_table(model))


def checkpoint_config(model, tokenizer):
    """The `config.json` of `model` as `transformers` reads it."""
    settings = model.current_settings()
    architecture = next(name for name, cls in ARCHITECTURES.items() if cls is type(model))
    config = {
        "architectures": [architecture], "model_type": "bert", "vocab_size": settings["vocabulary_size"],
        "hidden_size": settings["hidden_dim"], "num_hidden_layers": settings["num_layers"],
        "num_attention_heads": settings["num_heads"], "intermediate_size": settings["intermediate_dim"],
        "max_position_embeddings": settings["max_length"],
        "type_vocab_size": settings["num_segments"], "hidden_act": EXPORTED_ACTIVATIONS[settings["activation"]],
        "hidden_dropout_prob": settings["dropout"], "attention_probs_dropout_prob": settings["dropout"],
        "layer_norm_eps": settings["layer_norm_epsilon"], "position_embedding_type": "absolute",
        "pad_token_id": tokenizer.vocabulary.pad_id, "initializer_range": 0.02, "torch_dtype": "float32",
    }
    if isinstance(model, models.BertClassifier):
        config.update(num_labels=settings["num_classes"], classifier_dropout=settings["classifier_dropout"],
                      id2label={str(i): f"LABEL_{i}" for i in range(settings["num_classes"])},
                      label2id={f"LABEL_{i}": i for i in range(settings["num_classes"])})
    return config


def _tokenizer_files(tokenizer, directory):
    tokenizer.vocabulary.save(os.path.join(directory, "vocab.txt"))
    special = {f"{role}_token": token for role, token in tokenizer.vocabulary.special_tokens.items()}
    run_directory.write_json(os.path.join(directory, "tokenizer_config.json"), {
        "tokenizer_class": "BertTokenizer", "do_lower_case": tokenizer.lowercase,
        "strip_accents": tokenizer.strip_accents, "tokenize_chinese_chars": tokenizer.handle_chinese_chars,
        "model_max_length": None, **special})
    run_directory.write_json(os.path.join(directory, "special_tokens_map.json"), special)


def _sentence_transformers_files(model, directory):
    """modules.json and the pooling config, so that sentence-transformers pools as the encoder does."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if model.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    run_directory.write_json(os.path.join(directory, "modules.json"), modules)
    os.makedirs(os.path.join(directory, "1_Pooling"))
    run_directory.write_json(os.path.join(directory, "1_Pooling", "config.json"), {
        "word_embedding_dimension": model.output["embedding"].shape[-1], "pooling_mode_cls_token": model.pooling == "cls",
        "pooling_mode_mean_tokens": model.pooling == "mean", "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False})


def export_checkpoint(run_dir, out_dir, overwrite=False):
    """Writes the BERT of run directory `run_dir` as a Hugging Face directory
    (`config.json`, `model.safetensors`, `vocab.txt`, tokenizer config) into
    `out_dir`, whole or not at all. Refuses a run whose model is not a BERT,
    or whose tokenizer is the zoo's own WordPiece (`transformers` would
    tokenize its text differently: no `[SEP]`, another lower-casing)."""
    staging.check_target(out_dir, overwrite)
    model = run_directory.load_model(run_dir)
    if type(model) not in ARCHITECTURES.values():
        raise CheckpointError(f"{run_dir} holds a {type(model).__name__}; only BERTs "
                              f"({', '.join(cls.__name__ for cls in ARCHITECTURES.values())}) export to Hugging Face.")
    tokenizer = run_directory.load_tokenizers(run_dir)["source"]
    if not isinstance(tokenizer, BertWordPieceTokenizer):
        raise CheckpointError(f"{run_dir} tokenizes with the zoo's {tokenizer.name!r}, which Hugging Face's "
                              f"BertTokenizer does not reproduce; only runs of an imported BERT export.")
    with staging.staged(out_dir, overwrite) as work:
        huggingface.write_tensors(checkpoint_tensors(model), work)
        run_directory.write_json(os.path.join(work, "config.json"), checkpoint_config(model, tokenizer))
        _tokenizer_files(tokenizer, work)
        if isinstance(model, models.BertSentenceEncoder):
            _sentence_transformers_files(model, work)
    return model
