"""Training over 1 and 2 processes on this machine: training examples per
second of `keras-attn train` alone (the baseline) and with `--processes 2`,
the same global batch, in the same run.

    KERAS_BACKEND=jax python bench/processes.py [--examples 1000] [--epochs 3] [--repeats 1] [--append BENCHMARKS.md]

Each setting trains the `transformer` preset on the built-in `dates` task
(batch 32, no scoring, checkpoints at epoch ends only) into a fresh folder,
the settings alternating. Examples per second come from `--log-json`'s
epochs after the first (the first compiles); the table gives the medians and
the ratio to one process, and the command's whole wall time.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import report


def one_run(processes, examples, epochs):
    with tempfile.TemporaryDirectory() as folder:
        log = os.path.join(folder, "log.jsonl")
        command = [sys.executable, "-m", "keras_attn.cli", "train", "transformer", "--task", "dates", "--examples",
                   str(examples), "--epochs", str(epochs), "--batch-size", "32", "--eval-examples", "0",
                   "--checkpoint-every", "0", "--log-json", log, "--processes", str(processes),
                   "--out", os.path.join(folder, "run")]
        started = time.monotonic()
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, "KERAS_BACKEND": "jax"})
        seconds = time.monotonic() - started
        with open(log) as f:
            rates = [json.loads(line)["examples_per_second"] for line in f][1:]
    return rates, seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--append")
    args = parser.parse_args()
    settings = (1, 2)
    rates, walls = {n: [] for n in settings}, {n: [] for n in settings}
    for _ in range(args.repeats):
        for processes in settings:
            measured, seconds = one_run(processes, args.examples, args.epochs)
            rates[processes] += measured
            walls[processes].append(seconds)
    baseline = statistics.median(rates[1])
    rows = [f"| {'1 (baseline)' if n == 1 else n} | {statistics.median(rates[n]):,.0f} | "
            f"{statistics.median(rates[n]) / baseline:.2f} | {statistics.median(walls[n]):,.0f} |" for n in settings]
    command = "python bench/processes.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items() if v)
    report("Training over 1 and 2 processes", command,
           f"`transformer` on `dates` ({args.examples} examples, 80% training, batches of 32); medians over "
           f"{args.repeats} run(s) x {args.epochs - 1} epochs after the first.",
           "| processes | examples/s | vs 1 process | command (s) |", rows, args.append)


if __name__ == "__main__":
    main()
