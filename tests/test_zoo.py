import keras
import keras_attn
import numpy as np
import pytest

from keras_attn import zoo

# Small vocabularies, lengths and widths keep every preset quick; each preset's structure stays its own.
_TINY_TRANSFORMER = dict(hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32)
_TINY_BERT = dict(vocabulary_size=40, max_length=16, num_layers=1, hidden_dim=16, num_heads=2, intermediate_dim=32)
SMALL = {
    "bahdanau": dict(source_vocabulary_size=40, target_vocabulary_size=30, embedding_dim=8, units=16),
    "transformer": dict(source_vocabulary_size=40, target_vocabulary_size=30, max_source_length=16,
                        max_target_length=16, **_TINY_TRANSFORMER),
    "transformer-base": dict(source_vocabulary_size=40, target_vocabulary_size=30, max_source_length=16,
                             max_target_length=16, **_TINY_TRANSFORMER),
    # Marian's ids: padding (and the start) is the last id, `</s>` 0.
    "opus-mt-es-en": dict(source_vocabulary_size=40, target_vocabulary_size=40, max_source_length=16,
                          max_target_length=16, pad_id=39, start_id=39, **_TINY_TRANSFORMER),
    "bert-tiny": _TINY_BERT,
    "bert-mini": _TINY_BERT,
    "bert-small": _TINY_BERT,
    "transformer-classifier": dict(vocabulary_size=40, max_length=16),
}


def example_inputs(name, rng, model=None):
    """A padded, variable-length batch of the preset's inputs by name (the model makes them)."""
    model = model or zoo.build(name, **SMALL[name])
    return model.example_inputs(None, rng, [9, 4])


def test_every_preset_is_listed_with_its_config():
    assert zoo.names() == sorted(SMALL)
    base = zoo.config("transformer-base")
    assert (base["hidden_dim"], base["num_layers"], base["num_heads"], base["intermediate_dim"]) == (512, 6, 8, 2048)
    sizes = {n: (zoo.config(n)["num_layers"], zoo.config(n)["hidden_dim"]) for n in ("bert-tiny", "bert-mini", "bert-small")}
    assert sizes == {"bert-tiny": (2, 128), "bert-mini": (4, 256), "bert-small": (4, 512)}
    config = zoo.config("transformer")
    config["hidden_dim"] = 1
    assert zoo.config("transformer")["hidden_dim"] != 1  # a copy


def test_build_validates_before_building():
    with pytest.raises(ValueError, match=r"Unknown model 'gpt'.*'bahdanau'.*'transformer-classifier'"):
        zoo.build("gpt")
    with pytest.raises(ValueError, match=r"\['num_layer'\].*accepted keys: \[.*'num_layers'"):
        zoo.build("transformer", num_layer=2)
    with pytest.raises(ValueError, match=r"`hidden_dim`=100 is not divisible by `num_heads`=8"):
        zoo.build("transformer", hidden_dim=100)
    with pytest.raises(ValueError, match=r"\['head'\].*accepted keys"):
        zoo.build("bert-tiny", head="pooler")
    with pytest.raises(ValueError, match="`max_length`"):
        zoo.build("bert-tiny", max_length=0)


def test_overrides_apply():
    model = zoo.build("transformer", **{**SMALL["transformer"], "num_layers": 3})
    assert len(model.backbone.decoder_blocks) == 3 and model.backbone.get_config()["num_layers"] == 3
    masked_lm = zoo.preset("bert-tiny").pretraining_class(zoo.build("bert-tiny", **SMALL["bert-tiny"]).backbone)
    assert isinstance(masked_lm, keras_attn.models.BertMaskedLM)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_preset_saves_and_reloads_in_safe_mode(name, rng, tmp_path):
    model = zoo.build(name, **SMALL[name])
    inputs = example_inputs(name, rng, model)
    inputs = model.call_inputs(inputs)
    expected = np.asarray(model(inputs))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras_attn.load_model(path)
    np.testing.assert_array_equal(np.asarray(reloaded(inputs)), expected)


def _compute_dtypes(model):
    """The compute dtypes of every layer below `model` (functional models only wrap theirs)."""
    return {
        layer.compute_dtype
        for layer in model._flatten_layers(include_self=False)
        if not isinstance(layer, (keras.layers.InputLayer, keras.Model))
    }


@pytest.mark.parametrize("name", ["bahdanau", "transformer", "bert-tiny", "transformer-classifier"])
def test_a_mixed_precision_model_reloads_anywhere_and_copies_to_float32(name, rng, tmp_path):
    # Trained under mixed_bfloat16 on a GPU, evaluated and exported on a float32 CPU.
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = zoo.build(name, **SMALL[name])
    finally:
        keras.config.set_dtype_policy("float32")
    assert _compute_dtypes(mixed) == {"bfloat16"}  # sublayers follow their parent's policy
    inputs = mixed.call_inputs(example_inputs(name, rng, mixed))
    mixed.save(tmp_path / "mixed.keras")
    reloaded = keras_attn.load_model(tmp_path / "mixed.keras")
    np.testing.assert_array_equal(np.asarray(reloaded(inputs), "float32"), np.asarray(mixed(inputs), "float32"))

    copy = keras_attn.saving.float32_copy(reloaded)
    assert _compute_dtypes(copy) == {"float32"}
    reference = zoo.build(name, **SMALL[name])
    reference.set_weights(mixed.get_weights())
    np.testing.assert_allclose(np.asarray(copy(inputs)), np.asarray(reference(inputs)), atol=1e-5)
    assert keras_attn.saving.float32_copy(reference) is reference


def test_float32_copy_changes_dtypes_only(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        inputs = keras.Input((4,))
        mixed = keras.Model(inputs, keras.layers.Dense(3, name="mixed_head")(inputs))
    finally:
        keras.config.set_dtype_policy("float32")
    copy = keras_attn.saving.float32_copy(mixed)
    assert copy.get_layer("mixed_head").compute_dtype == "float32"  # the name is not a dtype
    x = rng.normal(size=(2, 4)).astype("float32")
    np.testing.assert_allclose(np.asarray(copy(x)), x @ mixed.get_layer("mixed_head").kernel.numpy()
                               + mixed.get_layer("mixed_head").bias.numpy(), atol=1e-5)


def test_presets_store_only_what_differs_from_their_class():
    for name in zoo.names():
        spec = zoo.preset(name)
        defaults = spec.task_class.settings()
        assert all(defaults[key] != value for key, value in spec.settings.items()), name
        assert zoo.config(name) == {**defaults, **spec.settings}
    assert zoo.preset("bahdanau").settings == {} and zoo.preset("transformer").settings == {"norm_first": True}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_model_rebuilds_exactly_from_its_config(name, rng):
    model = zoo.build(name, **SMALL[name])
    config = model.get_config()
    rebuilt = type(model).from_config(config)
    assert rebuilt.get_config() == config and rebuilt.backbone.get_config() == model.backbone.get_config()
    rebuilt.set_weights(model.get_weights())
    inputs = model.call_inputs(example_inputs(name, rng, model))
    np.testing.assert_array_equal(np.asarray(rebuilt(inputs)), np.asarray(model(inputs)))
    # Every setting the preset and overrides gave is in the backbone's config, none recovered from layers.
    backbone_settings, _ = type(model).split_settings({**zoo.config(name), **SMALL[name]})
    assert {k: v for k, v in backbone_settings.items() if v is not None} == {
        k: v for k, v in model.backbone.get_config().items() if k in backbone_settings and v is not None}


def test_constructor_arguments_are_checked_by_name():
    from keras_attn import models

    with pytest.raises(ValueError, match="`backbone` must be a BertBackbone, got TransformerEncoderBackbone"):
        models.BertClassifier(models.TransformerEncoderBackbone(vocabulary_size=10, max_length=4))
    with pytest.raises(ValueError, match="`num_classes` must be a positive integer"):
        zoo.build("bert-tiny", num_classes=0, **SMALL["bert-tiny"])
    with pytest.raises(ValueError, match="`output_dropout` must be a number in"):
        zoo.build("bahdanau", output_dropout=1.5, **SMALL["bahdanau"])
    with pytest.raises(ValueError, match="`fixed_lengths` must be None or"):
        models.BahdanauBackbone(10, 10, fixed_lengths=(4,))
    with pytest.raises(ValueError, match="`hidden_units` must be a positive integer"):
        zoo.build("transformer-classifier", hidden_units=-1, **SMALL["transformer-classifier"])


def test_the_classifier_takes_a_plain_array_without_a_warning(rng):
    import warnings

    model = zoo.build("transformer-classifier", **SMALL["transformer-classifier"])
    ids = rng.integers(1, 40, (8, 6)).astype("int32")
    keras_attn.training.compile_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras's "structure of `inputs` doesn't match" would fail here
        model(ids)
        model.predict(ids, verbose=0)
        model.fit(ids, np.arange(8) % 2, epochs=1, verbose=0)
