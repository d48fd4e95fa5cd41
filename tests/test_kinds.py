"""A model's kind is its class: the registry knows classes, nothing reads layer names.

A toy task class defined here (a masked mean-pooling classifier), registered
with one call and one preset, goes through the command line's train, export
(every format, and the text signature) and verify, and the runtime, with no
other change anywhere. Its layers are named as the zoo's Transformer names
its own, and it is still what its class says.
"""

import json

import keras
import keras_attn
import numpy as np
import pytest

from keras_attn import cli, layers, models, runtime, zoo
from keras_attn.inference import decoding


@keras.saving.register_keras_serializable(package="keras_attn_tests")
class MeanPoolBackbone(models.Backbone):
    """`token_ids` → the masked mean of their embeddings."""

    def __init__(self, vocabulary_size=100, max_length=32, embedding_dim=16, dtype=None, **kwargs):
        # Names the zoo's own models use: they say nothing about what this model is.
        self.embedding = layers.TokenAndPositionEmbedding(vocabulary_size, max_length, embedding_dim,
                                                          name="decoder_layer_0", dtype=dtype)
        self.pooling = keras.layers.GlobalAveragePooling1D(name="pooling", dtype=dtype)
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        pooled = self.pooling(self.embedding(token_ids), mask=keras.ops.not_equal(token_ids, 0))
        super().__init__(inputs=token_ids, outputs=pooled, dtype=dtype, **kwargs)
        self._remember(locals())


@keras.saving.register_keras_serializable(package="keras_attn_tests")
class MeanPoolClassifier(models.Classifier):
    backbone_class = MeanPoolBackbone
    warmup = False

    def __init__(self, backbone, num_classes=2, name="mean_pool_classifier", **kwargs):
        self.backbone = backbone
        self.logits = keras.layers.Dense(num_classes, name="logits")
        super().__init__(inputs=backbone.input, outputs=self.logits(backbone(backbone.input)), name=name, **kwargs)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}

    @property
    def vocabulary_size(self):
        return self.backbone.embedding.vocabulary_size

    @property
    def max_length(self):
        return self.backbone.embedding.sequence_length



@pytest.fixture
def toy_class(monkeypatch):
    monkeypatch.setattr(models, "TASKS", dict(models.TASKS))
    monkeypatch.setattr(zoo, "PRESETS", dict(zoo.PRESETS))
    models.register(MeanPoolClassifier)
    zoo.register("mean-pool", zoo.Preset(MeanPoolClassifier, "A toy class.", {"embedding_dim": 16}, "sentiment"))
    return MeanPoolClassifier


def test_the_registry_knows_classes_and_refuses_the_rest(monkeypatch):
    monkeypatch.setattr(models, "TASKS", dict(models.TASKS))
    with pytest.raises(ValueError, match="subclass of keras_attn.models.Task"):
        models.register(object)
    with pytest.raises(ValueError, match="Unknown model class 'keras_attn>GRU'"):
        models.task_class("keras_attn>GRU")
    toy = MeanPoolClassifier(MeanPoolBackbone())
    with pytest.raises(ValueError, match=r"MeanPoolClassifier\) is not of a registered keras-attn task class"):
        models.check(toy)  # not registered outside the fixture
    with pytest.raises(ValueError, match="not of a registered"):
        models.check(keras.Sequential([keras.layers.Dense(2)]))

    models.register(MeanPoolClassifier)
    assert models.check(toy) is toy
    assert models.task_class(models.registered_name(toy)) is MeanPoolClassifier

    # Two classes that claim the same registered name: the second is refused.
    impostor = type("MeanPoolClassifier", (MeanPoolClassifier,), {})
    keras.saving.get_custom_objects().pop(models.registered_name(MeanPoolClassifier), None)
    keras.saving.register_keras_serializable(package="keras_attn_tests")(impostor)
    with pytest.raises(ValueError, match="Two task classes claim the name 'keras_attn_tests>MeanPoolClassifier'"):
        models.register(impostor)
    keras.saving.register_keras_serializable(package="keras_attn_tests")(MeanPoolClassifier)


def test_a_model_is_what_its_class_says_whatever_its_layers_are_called(toy_class):
    model = zoo.build("mean-pool", vocabulary_size=40)
    assert {layer.name for layer in model.backbone.layers} >= {"decoder_layer_0", "pooling"}
    assert models.check(model) is model and not isinstance(model, models.GenerativeTask)
    with pytest.raises(ValueError, match="does not generate"):
        decoding.greedy_decode(model, np.ones((1, 3), "int32"))


@pytest.mark.tensorflow
def test_a_new_class_trains_exports_and_verifies_through_the_registry_alone(toy_class, tmp_path, capsys):
    run, export = tmp_path / "run", tmp_path / "export"
    argv = ["train", "mean-pool", "--examples", "1500", "--epochs", "4", "--learning-rate", "0.01", "--out", str(run)]
    assert cli.main(argv) == 0
    report = json.loads((run / "report.json").read_text())
    assert report["test_accuracy"] > 0.65  # a bag of words does better than chance on `sentiment`
    name = "keras_attn_tests>MeanPoolClassifier"
    assert json.loads((run / "config.json").read_text())["class"] == name

    model = keras_attn.load_model(run / "model.keras")
    assert type(model) is toy_class

    assert cli.main(["export", str(run / "model.keras"), "--out", str(export)]) == 0
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["class"] == name
    assert {(a["format"], a["role"]) for a in manifest["artifacts"]} == {
        ("saved_model", "forward"), ("tflite", "forward"), ("onnx", "forward"), ("saved_model", "text")
    }
    capsys.readouterr()
    assert cli.main(["verify", str(export)]) == 0
    assert capsys.readouterr().out.strip().endswith("PASSED")

    ids = np.array([[4, 9, 12, 0], [4, 11, 0, 0]], "int32")
    logits = np.asarray(model(ids), "float64")
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    for fmt in ("onnx", "tflite"):
        np.testing.assert_allclose(runtime.ExportedModel(export, format=fmt).classify(ids), expected, atol=1e-5)
