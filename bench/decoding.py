"""Decoding speed: the cached decoder against recomputing the prefix.

Greedy and beam-4 decoding of 64-token outputs, batch 1 and 32, for the
`transformer` preset (untrained: speed only; the `[END]` logit's bias is
-1e9, so every run decodes all 64 positions). The baseline, measured in the
same run, is the same host-side search over the teacher-forced model re-run
on the whole prefix at every step. Measured against it: `greedy_decode` /
`beam_decode` (the whole search compiled with the model, cache on the
device), the host-side search over the cached step (`KerasGenerator`, what
exported artifacts use) and, with `--onnx`, that host search over the ONNX
export in ONNX Runtime (TensorFlow backend only, for the export).

    KERAS_BACKEND=jax python bench/decoding.py [--repeats 3] [--append BENCHMARKS.md]
"""

import argparse
import tempfile

import keras
import numpy as np

from keras_attn import zoo
from keras_attn.inference import decoding, search
from keras_attn.tokenizers.vocabulary import END_ID

from common import median_seconds, report

STEPS = 64


class RecomputePrefix:
    """The uncached baseline: the full model over the whole prefix at every step."""

    def __init__(self, model):
        self.model = model

    def prefill(self, source_ids):
        return {"source": np.asarray(source_ids, "int32"), "prefix": np.zeros((len(source_ids), 0), "int32")}

    def step(self, token_ids, step, memory):
        # The prefix comes back as `next_prefix`: the search's state update carries it.
        prefix = np.concatenate([memory["prefix"], np.asarray(token_ids, "int32")[:, None]], axis=1)
        # Compiled like the cached step (one compilation per prefix length,
        # all made in the warm-up run).
        logits = self.model.predict_on_batch({"encoder_token_ids": memory["source"], "decoder_token_ids": prefix})[:, -1]
        attention = np.zeros((len(token_ids), memory["source"].shape[1]))
        return {"logits": logits, "attention": attention, "next_prefix": prefix}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--onnx", action="store_true")
    parser.add_argument("--append", help="append the table to this Markdown file")
    args = parser.parse_args()

    model = zoo.build("transformer", source_vocabulary_size=8000, target_vocabulary_size=8000,
                      max_source_length=32, max_target_length=STEPS + 1, dropout=0.0)
    bias = model.logits.bias
    values = np.array(bias)
    values[END_ID] = -1e9
    bias.assign(values)
    rng = np.random.default_rng(0)
    decoders = {"host loop, cached step": decoding.KerasGenerator(model), "recompute prefix": RecomputePrefix(model)}
    if args.onnx:
        from keras_attn import runtime
        from keras_attn.export import export

        directory = tempfile.mkdtemp() + "/export"
        export(model, directory, formats=("onnx",))
        exported = runtime.ExportedModel(directory)
        decoders["onnx runtime, host loop"] = runtime.ArtifactGenerator(exported.runner("prefill"),
                                                                       exported.runner("step"), model.prompt_name)

    rows = []
    for batch in (1, 32):
        source = rng.integers(7, 8000, (batch, 24)).astype("int32")
        for method, beam in (("greedy", None), ("beam-4", 4)):
            if beam:
                compiled = lambda: decoding.beam_decode(model, source, beam_size=beam, max_length=STEPS)  # noqa: E731
            else:
                compiled = lambda: decoding.greedy_decode(model, source, max_length=STEPS)  # noqa: E731
            times = {"compiled search (cached)": median_seconds(compiled, args.repeats)}
            for name, decoder in decoders.items():
                if beam:
                    run = lambda: search.beam_search(decoder, source, STEPS, beam_size=beam)  # noqa: E731
                else:
                    run = lambda: search.greedy_search(decoder, source, STEPS)  # noqa: E731
                times[name] = median_seconds(run, args.repeats)
            baseline = times["recompute prefix"]
            for name, seconds in times.items():
                rows.append((method, batch, name, seconds, baseline / seconds))

    report(
        f"Decoding: key/value cache vs recomputing the prefix ({keras.backend.backend()})",
        f"KERAS_BACKEND={keras.backend.backend()} python bench/decoding.py{' --onnx' if args.onnx else ''} "
        f"--repeats {args.repeats}",
        f"`transformer` preset (3+3 layers, d_model 256), untrained, source length 24, median of {args.repeats} runs.",
        "| search | batch | decoder | median s (64 tokens) | speed-up vs recompute |",
        [f"| {m} | {b} | {n} | {s:.3f} | {r:.1f}x |" for m, b, n, s, r in rows],
        args.append,
    )


if __name__ == "__main__":
    main()
