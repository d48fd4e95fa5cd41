"""Training throughput of keras-attn's Transformer against a plain `keras.layers` model.

Three models of identical shape train on the same random, right-padded
batches (lengths uniform in [length/2, length]), measured in one run:

- `plain keras.layers` (the baseline): `bench/plain_transformer.py`;
- `keras-attn`: the zoo model with its written-out attention;
- `keras-attn, fused attention`: the same under
  `keras_attn.layers.fused_attention()` (`keras.ops.dot_product_attention`
  with a `(batch, 1, queries, keys)` mask: cuDNN flash attention on a GPU).

For each: compile time (the first step), median step time, tokens/s
(padded positions of source and target), model FLOP utilisation against
`--peak-tflops` (known for H100/H200), peak device memory (GPU). The fused
path is first checked against the plain one in float32 on one batch
(max abs error of the logits at real positions).

FLOPs per training step = 3 x forward matmul FLOPs (backward ~ 2x forward);
forward, per sequence with source length S, target length T, width d,
feed-forward f, L layers each side, vocabulary V:
  encoder  L * [2S(4d^2 + 2df) + 4S^2 d]
  decoder  L * [2T(4d^2 + 2df) + 2T(2d^2) + 2S(2d^2) + 4T^2 d + 4TSd]
  logits   2TdV
(attention counted in full, as computed: causal halves are not skipped).

    KERAS_BACKEND=jax python bench/training.py --preset transformer-base --batch-size 128 --length 64 \\
        --mixed-precision [--lengths 32 64 128 256 512] [--append BENCHMARKS.md]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import keras
import numpy as np

from keras_attn import layers, training, zoo

from common import report
from plain_transformer import build_plain_transformer

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0}  # dense, SXM


def forward_flops(config, source_length, target_length):
    d, f, L, V = config["hidden_dim"], config["intermediate_dim"], config["num_layers"], config["target_vocabulary_size"]
    S, T = source_length, target_length
    encoder = L * (2 * S * (4 * d * d + 2 * d * f) + 4 * S * S * d)
    decoder = L * (2 * T * (4 * d * d + 2 * d * f) + 2 * T * 2 * d * d + 2 * S * 2 * d * d + 4 * T * T * d + 4 * T * S * d)
    attention = L * (4 * S * S * d + 4 * T * T * d + 4 * T * S * d)
    return encoder + decoder + 2 * T * d * V, attention


def device():
    """`(name, peak bf16 TFLOPs or None, memory stats function or None)`."""
    if keras.backend.backend() == "jax":
        import jax

        first = jax.devices()[0]
        if first.platform == "gpu":
            peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in first.device_kind), None)
            return first.device_kind, peak, first.memory_stats
    return "CPU", None, None


def batches(rng, count, batch_size, length, vocabulary_size):
    """`count` teacher-forcing batches, right-padded to `length`."""

    def padded(width, real):
        ids = rng.integers(7, vocabulary_size, (batch_size, width))
        return np.where(np.arange(width)[None] < real[:, None], ids, 0).astype("int32")

    out = []
    for _ in range(count):
        source = padded(length, rng.integers(length // 2, length + 1, batch_size))
        target = padded(length + 1, rng.integers(length // 2, length + 1, batch_size) + 1)
        out.append(({"encoder_token_ids": source, "decoder_token_ids": target[:, :-1]}, target[:, 1:]))
    return out


def fused_error(preset, config, batch):
    """Float32 max abs difference of fused vs plain logits at real target positions."""
    model = zoo.build(preset, **{**config, "dropout": 0.0})
    x, y = batch
    x = {k: v[:8] for k, v in x.items()}
    plain = keras.ops.convert_to_numpy(model.predict_on_batch(x))
    with layers.fused_attention():
        fused_model = zoo.build(preset, **{**config, "dropout": 0.0})
        fused_model.set_weights(model.get_weights())
        fused = keras.ops.convert_to_numpy(fused_model.predict_on_batch(x))
    return float(np.abs(fused - plain)[y[:8] != 0].max())


VARIANTS = ("plain keras.layers", "keras-attn", "keras-attn, fused attention")


def measure(preset, variant, config, length, batch_size, steps, mixed_precision):
    """One variant in this process: compile seconds, median step seconds, peak GiB (GPU) or None."""
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    data = batches(np.random.default_rng(0), 4, batch_size, length, config["source_vocabulary_size"])
    with layers.fused_attention("fused" in variant):
        model = build_plain_transformer(**config) if variant == VARIANTS[0] else zoo.build(preset, **config)
        training.compile_model(model, 1e-4)
        start = time.perf_counter()
        model.train_on_batch(*data[0])
        compile_seconds = time.perf_counter() - start
        times = []
        for i in range(steps):
            start = time.perf_counter()
            model.train_on_batch(*data[1 + i % (len(data) - 1)])
            times.append(time.perf_counter() - start)
    _, _, memory_stats = device()
    peak_memory = memory_stats()["peak_bytes_in_use"] / 2**30 if memory_stats else None
    return {"compile": compile_seconds, "step": statistics.median(times), "memory": peak_memory}


def _in_subprocess(args, variant, length, batch_size):
    """Each variant in a fresh process, so that peak memory and compile caches are its own."""
    command = [sys.executable, __file__, "--preset", args.preset, "--variant", variant, "--length", str(length),
               "--batch-size", str(batch_size), "--steps", str(args.steps)]
    command += ["--mixed-precision"] if args.mixed_precision else []
    command += [arg for item in args.overrides for arg in ("--set", item)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{variant} at length {length} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="transformer-base", choices=["transformer", "transformer-base"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--length", type=int, default=64, help="source and target length")
    parser.add_argument("--lengths", type=int, nargs="+",
                        help="length scaling: these lengths, with batch size x length held at --batch-size x --length")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--mixed-precision", action="store_true", help="mixed_bfloat16")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak (default: known GPUs, bf16 dense)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--append", help="append the table to this Markdown file")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    overrides = {k: int(v) for k, v in (item.split("=") for item in args.overrides)}

    def sized(length):
        return {**zoo.config(args.preset), "max_source_length": length, "max_target_length": length, **overrides}

    if args.variant:  # the child process of one measurement
        print(json.dumps(measure(args.preset, args.variant, sized(args.length), args.length, args.batch_size,
                                 args.steps, args.mixed_precision)))
        return

    name, peak, _ = device()
    peak = args.peak_tflops or peak
    lengths = args.lengths or [args.length]
    rows, errors = [], []
    for length in lengths:
        batch_size = max(1, args.batch_size * args.length // length)
        config = sized(length)
        errors.append(fused_error(args.preset, config, batches(np.random.default_rng(0), 1, 8, length, 1000)[0]))
        flops, attention_flops = forward_flops(config, length, length)
        step_flops = 3 * flops * batch_size
        baseline = None
        for variant in VARIANTS:
            result = _in_subprocess(args, variant, length, batch_size)
            step = result["step"]
            baseline = baseline or step
            mfu = f"{100 * step_flops / step / (peak * 1e12):.1f}%" if peak else "n/a"
            memory = f"{result['memory']:.1f}" if result["memory"] is not None else "n/a"
            rows.append(
                f"| {length} | {batch_size} | {variant} | {result['compile']:.1f} | {1000 * step:.1f} | "
                f"{2 * batch_size * length / step:,.0f} | {baseline / step:.2f}x | {mfu} | "
                f"{100 * attention_flops / flops:.0f}% | {memory} |"
            )
    command = "KERAS_BACKEND=jax python bench/training.py " + " ".join(
        [f"--preset {args.preset}", f"--batch-size {args.batch_size}", f"--length {args.length}", f"--steps {args.steps}"]
        + (["--mixed-precision"] if args.mixed_precision else [])
        + ([f"--lengths {' '.join(map(str, args.lengths))}"] if args.lengths else [])
        + [f"--set {item}" for item in args.overrides]
    )
    report(
        f"Training throughput: {args.preset} vs plain keras.layers ({name})",
        command,
        f"device {name}; {'mixed_bfloat16' if args.mixed_precision else 'float32'}; median of {args.steps} steps; "
        f"tokens = padded source + target positions; fused vs plain float32 max abs error of the logits: "
        f"{max(errors):.1e}. Each row runs in its own process (its own peak memory and compilation).",
        "| length | batch | model | compile s | step ms | tokens/s | speed-up vs plain keras.layers | MFU | "
        "attention share of FLOPs | peak GiB |",
        rows,
        args.append,
    )


if __name__ == "__main__":
    main()
