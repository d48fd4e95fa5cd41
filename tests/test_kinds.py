"""Model kinds: the registry is the only place a kind is named.

A toy kind defined here (a masked mean-pooling classifier), registered with
one entry in the kind registry and one preset, goes through the command
line's train, export (every format, and the text signature) and verify, and
the runtime, with no other change anywhere.
"""

import json

import keras
import keras_attn
import numpy as np
import pytest

from keras_attn import cli, layers, models, runtime, zoo
from keras_attn.inference import decoding
from keras_attn.models.kind import ClassifierKind


def build_mean_pool_classifier(vocabulary_size=100, max_length=32, embedding_dim=16, num_classes=2):
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    x = layers.TokenAndPositionEmbedding(vocabulary_size, max_length, embedding_dim, name="mean_pool_embedding")(token_ids)
    x = keras.layers.GlobalAveragePooling1D(name="mean_pool")(x, mask=keras.ops.not_equal(token_ids, 0))
    logits = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model({"token_ids": token_ids}, logits, name="mean_pool_classifier")


class MeanPoolClassifierKind(ClassifierKind):
    name = "mean_pool_classifier"
    warmup = False

    def owns(self, model):
        return "mean_pool" in {layer.name for layer in model.layers}

    def vocabulary_size(self, model):
        return model.get_layer("mean_pool_embedding").vocabulary_size

    def max_length(self, model):
        return model.get_layer("mean_pool_embedding").sequence_length


KIND = MeanPoolClassifierKind()


@pytest.fixture
def toy_kind(monkeypatch):
    monkeypatch.setattr(models, "KINDS", dict(models.KINDS))
    monkeypatch.setattr(zoo, "PRESETS", dict(zoo.PRESETS))
    models.register(KIND)
    zoo.register("mean-pool", zoo.Preset(KIND, build_mean_pool_classifier, "A toy kind.", {"embedding_dim": 16}, "sentiment"))
    return KIND


def test_the_registry_refuses_what_is_not_a_kind():
    with pytest.raises(ValueError, match="named ModelKind"):
        models.register(object())
    with pytest.raises(ValueError, match="Unknown model kind 'gru'"):
        models.get("gru")
    with pytest.raises(ValueError, match="not of a registered keras-attn kind"):
        models.kind_of(build_mean_pool_classifier())  # not registered outside the fixture


@pytest.mark.tensorflow
def test_a_new_kind_trains_exports_and_verifies_through_the_registry_alone(toy_kind, tmp_path, capsys):
    run, export = tmp_path / "run", tmp_path / "export"
    argv = ["train", "mean-pool", "--examples", "1500", "--epochs", "4", "--learning-rate", "0.01", "--out", str(run)]
    assert cli.main(argv) == 0
    report = json.loads((run / "report.json").read_text())
    assert report["test_accuracy"] > 0.65  # a bag of words does better than chance on `sentiment`
    assert json.loads((run / "config.json").read_text())["kind"] == "mean_pool_classifier"

    model = keras_attn.load_model(run / "model.keras")
    assert models.kind_of(model) is toy_kind
    with pytest.raises(ValueError, match="does not decode"):
        decoding.greedy_decode(model, np.ones((1, 3), "int32"))

    assert cli.main(["export", str(run / "model.keras"), "--out", str(export)]) == 0
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["kind"] == "mean_pool_classifier"
    assert {(a["format"], a["role"]) for a in manifest["artifacts"]} == {
        ("saved_model", "forward"), ("tflite", "forward"), ("onnx", "forward"), ("saved_model", "text")
    }
    capsys.readouterr()
    assert cli.main(["verify", str(export)]) == 0
    assert capsys.readouterr().out.strip().endswith("PASSED")

    ids = np.array([[4, 9, 12, 0], [4, 11, 0, 0]], "int32")
    logits = np.asarray(model({"token_ids": ids}), "float64")
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for fmt in ("onnx", "tflite"):
        np.testing.assert_allclose(runtime.ExportedModel(export, format=fmt).classify(ids), expected, atol=1e-5)
