"""Generation does not assume an encoder.

A decoder-only prefix LM defined here (one causal self-attention over
`[prompt; generated]`, with its own input names) fits the prefill/step
protocol of `keras_attn.models.GenerativeTask`: it generates through the
same compiled and numpy searches, with the same tokens, and exports through
the same pieces (`prefill`, `step`), which `verify` checks like the zoo's.
Nothing outside this file knows it.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_attn import models, runtime
from keras_attn.inference import decoding, search
from keras_attn.layers import causal_mask, masked_softmax
from keras_attn.layers.fixed_length_loop import write_step
from keras_attn.models.task import token_ids_spec
from tests.conftest import random_ids

PACKAGE = "keras_attn_tests"


@keras.saving.register_keras_serializable(package=PACKAGE)
class PrefixAttention(keras.layers.Layer):
    """One head: `(query (b, q, d), keys (b, k, d), mask (b, q or 1, k))` →
    `(query + attention output, weights (b, q, k))`. Given `prompt_ids` and
    `target_ids` instead of a mask, the keys are `[prompt; targets]`, masked
    by the prompt's padding and causally over the targets."""

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.query, self.key, self.value = (keras.layers.Dense(dim, name=n, dtype=self.dtype_policy)
                                            for n in ("query", "key", "value"))

    def build(self, query_shape, keys_shape, mask_shape=None, target_ids_shape=None):
        for layer in (self.query, self.key, self.value):
            layer.build(query_shape)

    def call(self, query, keys, mask, target_ids=None):
        if target_ids is not None:  # `mask` holds the prompt ids
            steps = ops.shape(target_ids)[1]
            prompt_mask = ops.repeat(ops.expand_dims(ops.cast(ops.not_equal(mask, 0), "float32"), 1), steps, axis=1)
            causal = ops.zeros_like(ops.cast(ops.expand_dims(target_ids, 1), "float32")) + causal_mask(steps, steps)
            mask = ops.concatenate([prompt_mask, causal], axis=2)
        scores = ops.einsum("bqd,bkd->bqk", self.query(query), self.key(keys)) / self.dim**0.5
        weights = masked_softmax(scores, mask)
        return query + ops.einsum("bqk,bkd->bqd", weights, self.value(keys)), weights

    def compute_output_shape(self, query_shape, keys_shape, mask_shape=None, target_ids_shape=None):
        return query_shape, (query_shape[0], query_shape[1], keys_shape[1])

    def get_config(self):
        return {**super().get_config(), "dim": self.dim}


@keras.saving.register_keras_serializable(package=PACKAGE)
class PrefixLMBackbone(models.Backbone):
    """`{"prompt_ids" (b, s), "target_ids" (b, t)}` → hidden states `(b, t, d)`:
    each target position attends to the real prompt tokens and to the
    targets up to itself. Targets sit at positions `max_prompt_length + i`,
    so a prompt's padding never moves them."""

    def __init__(self, vocabulary_size=40, max_prompt_length=8, max_steps=8, hidden_dim=16, dtype=None, **kwargs):
        self.target_offset = max_prompt_length
        self.token_embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, name="tokens", dtype=dtype)
        self.position_embedding = keras.layers.Embedding(max_prompt_length + max_steps, hidden_dim, name="positions",
                                                         dtype=dtype)
        self.attention = PrefixAttention(hidden_dim, name="attention", dtype=dtype)
        prompt_ids = keras.Input((None,), dtype="int32", name="prompt_ids")
        target_ids = keras.Input((None,), dtype="int32", name="target_ids")
        prompt = self.embed_prompt(prompt_ids)
        targets = self.embed_target(target_ids, ops.cumsum(ops.ones_like(target_ids), axis=1) - 1)
        hidden, _ = self.attention(targets, ops.concatenate([prompt, targets], axis=1), prompt_ids, target_ids)
        super().__init__(inputs={"prompt_ids": prompt_ids, "target_ids": target_ids}, outputs=hidden, dtype=dtype,
                         **kwargs)
        self._remember(locals())

    def embed_prompt(self, prompt_ids):
        positions = ops.cumsum(ops.ones_like(prompt_ids), axis=1) - 1
        return self.token_embedding(prompt_ids) + self.position_embedding(positions)

    def embed_target(self, target_ids, steps):
        return self.token_embedding(target_ids) + self.position_embedding(steps + self.target_offset)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PrefixLM(models.GenerativeTask):
    backbone_class = PrefixLMBackbone
    prompt_name, target_name = "prompt_ids", "target_ids"
    source_aligned = {"prompt_states": 1}

    def __init__(self, backbone, name="prefix_lm", **kwargs):
        self.backbone = backbone
        self.logits = keras.layers.Dense(backbone.token_embedding.input_dim, name="logits")
        super().__init__(inputs=backbone.input, outputs=self.logits(backbone(backbone.input)), name=name, **kwargs)

    @property
    def prompt_vocabulary_size(self):
        return self.backbone.token_embedding.input_dim

    target_vocabulary_size = prompt_vocabulary_size

    def position_limits(self):
        settings = self.backbone.get_config()
        return settings["max_prompt_length"], settings["max_steps"]

    def prefill_model(self):
        return PrefixLMPrefill(self)

    def step_model(self):
        return PrefixLMStep(self)

    def pieces(self, lengths):
        prefill, step = self.generation_models()
        dim, steps = self.backbone.token_embedding.output_dim, self.position_limits()[1]
        state = {"prompt_states": ((None, None, dim), "float32"), "cache": ((None, steps, dim), "float32")}
        limits = dict(zip((self.prompt_name, self.target_name), self.position_limits()))
        return self.generation_pieces(prefill, step, token_ids_spec(), token_ids_spec(), state, limits)


class PrefixLMPrefill(keras.Model):
    """`{"prompt_ids"}` → `{"prompt_states", "cache"}` (the empty cache of generated positions)."""

    def __init__(self, lm, **kwargs):
        super().__init__(name="prefix_lm_prefill", **kwargs)
        self.backbone, self.steps = lm.backbone, lm.position_limits()[1]

    def call(self, inputs):
        prompt = self.backbone.embed_prompt(inputs["prompt_ids"])
        batch, dim = ops.shape(prompt)[0], prompt.shape[-1]
        return {"prompt_states": prompt, "cache": ops.zeros((batch, self.steps, dim), prompt.dtype)}


class PrefixLMStep(keras.Model):
    """One position: the token joins the cache, then attends to the prompt and the cache up to itself."""

    def __init__(self, lm, **kwargs):
        super().__init__(name="prefix_lm_step", **kwargs)
        self.backbone, self.projection, self.steps = lm.backbone, lm.logits, lm.position_limits()[1]

    def call(self, inputs):
        step = inputs["step"]
        x = self.backbone.embed_target(inputs["token_ids"], ops.expand_dims(step, 1))  # (b, 1, d)
        cache = write_step(inputs["cache"], step[0], x[:, 0])
        seen = ops.less_equal(ops.expand_dims(ops.arange(self.steps), 0), ops.expand_dims(step, 1))
        mask = ops.expand_dims(ops.cast(ops.concatenate([ops.not_equal(inputs["prompt_ids"], 0), seen], axis=1),
                                        "float32"), 1)
        prompt = inputs["prompt_states"]
        hidden, weights = self.backbone.attention(x, ops.concatenate([prompt, cache], axis=1), mask)
        return {"logits": ops.squeeze(self.projection(hidden), 1), "next_cache": cache,
                "attention": weights[:, 0, : ops.shape(prompt)[1]]}


@pytest.fixture
def prefix_lm(monkeypatch):
    monkeypatch.setattr(models, "TASKS", dict(models.TASKS))
    models.register(PrefixLM)
    keras.utils.set_random_seed(2)
    return PrefixLM.from_settings(vocabulary_size=40, max_prompt_length=8, max_steps=8, hidden_dim=16)


def test_the_step_reproduces_the_teacher_forced_model(prefix_lm, rng):
    prompt = random_ids(rng, (3, 6), 40, lengths=[6, 2, 4])
    target = random_ids(rng, (3, 5), 40)
    logits = np.asarray(prefix_lm({"prompt_ids": prompt, "target_ids": target}))
    # Extra prompt padding changes nothing; a later target changes nothing before it.
    padded = np.concatenate([prompt, np.zeros((3, 2), "int32")], axis=1)
    np.testing.assert_allclose(np.asarray(prefix_lm({"prompt_ids": padded, "target_ids": target})), logits, atol=1e-5)
    generator = decoding.KerasGenerator(prefix_lm)
    state = generator.prefill(prompt)
    for step in range(target.shape[1]):
        outputs = generator.step(target[:, step], step, state)
        state = search.next_state(state, outputs)
        np.testing.assert_allclose(outputs["logits"], logits[:, step], atol=1e-5)
        assert np.all(outputs["attention"][prompt == 0] == 0)


def test_it_generates_through_the_same_searches(prefix_lm, rng):
    prompt = random_ids(rng, (4, 6), 40, lengths=[6, 2, 4, 5])
    host = decoding.KerasGenerator(prefix_lm)
    for compiled, numpy in (
        (prefix_lm.generate(prompt, max_length=6), search.greedy_search(host, prompt, 6)),
        (prefix_lm.beam_generate(prompt, beam_size=3, max_length=6), search.beam_search(host, prompt, 6, 3)),
    ):
        np.testing.assert_array_equal(compiled.tokens, numpy.tokens)
        np.testing.assert_allclose(compiled.scores, numpy.scores, rtol=1e-5, atol=1e-5)
        assert compiled.attention.shape[2] == 6


@pytest.mark.tensorflow
def test_it_exports_through_the_same_pieces_and_passes_verify(prefix_lm, tmp_path, rng):
    from keras_attn.export import exporter, parity

    prefix_lm.save(tmp_path / "prefix_lm.keras")
    manifest = exporter.export(prefix_lm, tmp_path / "export", assets={"model.keras": tmp_path / "prefix_lm.keras"})
    assert {a["role"] for a in manifest["artifacts"]} == {"forward", "prefill", "step", "greedy_search", "beam_search"}
    assert manifest["runtime"]["prompt_input"] == "prompt_ids"
    report = parity.verify(tmp_path / "export", prefix_lm)
    assert report["passed"], parity.format_table(report)
    assert {row["role"] for row in report["rows"] if row["case"] in ("greedy", "beam") and row["tokens_equal"]} == {
        "step", "greedy_search", "beam_search"}
    prompt = random_ids(rng, (2, 5), 40, lengths=[5, 3])
    expected = prefix_lm.generate(prompt, max_length=6).tokens
    for fmt in ("onnx", "tflite"):
        for host_loop in (False, True):  # the whole search as one graph, and the host loop over the pieces
            np.testing.assert_array_equal(runtime.ExportedModel(tmp_path / "export", format=fmt, host_loop=host_loop)
                                          .greedy(prompt, max_length=6).tokens, expected)
