"""What a published BERT needs of the zoo's models, without `transformers`:
the exact GELU, the backbone's new settings, the sentence encoder, and
vocabularies that name their own special tokens."""

import math

import keras
import numpy as np
import pytest

from keras_attn import layers, models
from keras_attn.tokenizers import BERT_SPECIAL_TOKENS, BertWordPieceTokenizer, Vocabulary
from keras_attn.training.recipes import with_pooler

SMALL = {"vocabulary_size": 60, "num_layers": 2, "hidden_dim": 16, "num_heads": 2, "max_length": 12}


def inputs(ids):
    ids = np.asarray(ids, "int32")
    return {"token_ids": ids, "segment_ids": np.zeros_like(ids)}


def test_gelu_erf_is_the_exact_gelu():
    x = np.linspace(-6, 6, 101).astype("float32")
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype("float64")])
    assert np.abs(np.asarray(layers.gelu_erf(x)) - exact).max() < 1e-6
    assert np.abs(np.asarray(layers.gelu_tanh(x)) - exact).max() > 1e-4  # the approximation is not it


@pytest.mark.parametrize("argument, value", [("activation", "quick_gelu"), ("layer_norm_epsilon", 0),
                                             ("pooler", "yes")])
def test_backbone_refuses_bad_settings_by_name(argument, value):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        models.BertBackbone(**SMALL, **{argument: value})


def test_a_backbone_without_pooler_and_the_pooler_a_classifier_adds():
    backbone = models.BertBackbone(**SMALL, pooler=False, activation="gelu")
    assert set(backbone(inputs([[4, 9, 0]]))) == {"sequence_output"}
    with pytest.raises(ValueError, match="pooler"):
        models.BertClassifier(backbone)
    pooled = with_pooler(backbone)
    assert pooled.get_config()["pooler"] and with_pooler(pooled) is pooled
    x = inputs([[4, 9, 10, 0]])
    assert np.array_equal(np.asarray(pooled(x)["sequence_output"]), np.asarray(backbone(x)["sequence_output"]))
    models.BertClassifier(pooled, num_classes=3)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_sentence_encoder_ignores_padding_and_reloads_in_safe_mode(tmp_path, pooling):
    encoder = models.BertSentenceEncoder(models.BertBackbone(**SMALL, activation="gelu"), pooling=pooling)
    ids = np.array([[4, 9, 10, 11, 0, 0], [4, 12, 0, 0, 0, 0]], "int32")
    vectors = np.asarray(encoder(inputs(ids))["embedding"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.abs(np.asarray(encoder(inputs(ids[:, :4]))["embedding"]) - vectors).max() < 1e-6  # padding changes nothing
    sequence = np.asarray(encoder.backbone(inputs(ids))["sequence_output"])
    pooled = sequence[:, 0] if pooling == "cls" else (sequence * (ids != 0)[..., None]).sum(1) / (ids != 0).sum(1,
                                                                                                       keepdims=True)
    assert np.abs(pooled / np.linalg.norm(pooled, axis=1, keepdims=True) - vectors).max() < 1e-5
    encoder.save(tmp_path / "encoder.keras")
    loaded = keras.saving.load_model(tmp_path / "encoder.keras", safe_mode=True)
    assert type(loaded) is models.BertSentenceEncoder and loaded.pooling == pooling
    assert np.array_equal(np.asarray(loaded(inputs(ids))["embedding"]), vectors)
    assert models.registered_name(loaded) in models.TASKS


def test_sentence_encoder_refuses_bad_arguments_and_training_alone():
    backbone = models.BertBackbone(**SMALL)
    with pytest.raises(ValueError, match="`pooling`"):
        models.BertSentenceEncoder(backbone, pooling="max")
    with pytest.raises(ValueError, match="`normalize`"):
        models.BertSentenceEncoder(backbone, normalize="yes")
    with pytest.raises(ValueError, match="fine-tune a BertClassifier"):
        models.BertSentenceEncoder(backbone).compile()


def test_a_vocabulary_names_its_special_tokens():
    tokens = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"]
    vocabulary = Vocabulary(tokens, BERT_SPECIAL_TOKENS)
    assert (vocabulary.pad_id, vocabulary.unk_id, vocabulary.cls_id, vocabulary.start_id) == (0, 2, 3, None)
    assert vocabulary.encode(["hi", "nope"]) == [6, 2]
    assert vocabulary.special_ids == [0, 2, 3, 4, 5]
    padded_with_one = Vocabulary(["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"], BERT_SPECIAL_TOKENS)
    assert padded_with_one.pad_id == 1  # a vocabulary may pad with any id; a BERT cannot
    with pytest.raises(ValueError, match="must be id 0"):
        BertWordPieceTokenizer(padded_with_one)
    with pytest.raises(ValueError, match="lacks"):
        Vocabulary(tokens[:-2], BERT_SPECIAL_TOKENS)
    with pytest.raises(ValueError, match="unknown roles"):
        Vocabulary(tokens, {**BERT_SPECIAL_TOKENS, "bos": "hi"})
    with pytest.raises(ValueError, match="reserved tokens"):
        Vocabulary(tokens)  # the zoo's own layout, without naming the special tokens
