"""What checkpointing the training state costs: training examples per second
at `--checkpoint-every` 0 (the baseline: one checkpoint at each epoch's end
only, which every run writes) against checkpoints every N batches, in the
same run.

    KERAS_BACKEND=jax python bench/checkpoint_cost.py [--every 100 20 5] [--examples 4000] [--epochs 3] \\
        [--repeats 3] [--append BENCHMARKS.md]

Each setting trains the `transformer` preset on the built-in `dates` task
(`train`, batch 32, no scoring) into a fresh folder, `--repeats` times, the
settings alternating. Examples per second come from `--log-json`'s epochs
after the first (the first compiles); the table gives the median over all
of a setting's epochs, the size of one checkpoint and the ratio to the
baseline.
"""

import argparse
import json
import os
import statistics
import tempfile

from common import report

from keras_attn import training
from keras_attn.data import tasks
from keras_attn.training import resume


def one_run(task, every, epochs):
    with tempfile.TemporaryDirectory() as folder:
        log = os.path.join(folder, "log.jsonl")
        out = os.path.join(folder, "run")
        training.train("transformer", task, out, epochs=epochs, batch_size=32, verbose=0, eval_limit=0,
                       checkpoint_every=every, log_json=log)
        with open(log) as f:
            rates = [json.loads(line)["examples_per_second"] for line in f][1:]
        kept = os.path.join(out, resume.FINISHED)
        size = sum(os.path.getsize(os.path.join(kept, name)) for name in os.listdir(kept) if "-" in name)
    return rates, size


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--every", type=int, nargs="+", default=[100, 20, 5])
    parser.add_argument("--examples", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--append")
    args = parser.parse_args()
    task = tasks.load("dates", num_examples=args.examples, seed=0)
    settings = [0] + args.every
    rates, sizes = {every: [] for every in settings}, {}
    for _ in range(args.repeats):
        for every in settings:
            measured, sizes[every] = one_run(task, every, args.epochs)
            rates[every] += measured
    batches = -(-len(task.splits["train"][1]) // 32)
    baseline = statistics.median(rates[0])
    rows = [f"| {'epoch ends only (baseline)' if every == 0 else f'every {every} batches'} | "
            f"{statistics.median(rates[every]):,.0f} | {statistics.median(rates[every]) / baseline:.2f} | "
            f"{sizes[every] / 1e6:.2f} |" for every in settings]
    command = "python bench/checkpoint_cost.py " + " ".join(
        f"--{k} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items() if v)
    report("Checkpointing the training state", command,
           f"`transformer` on `dates` ({len(task.splits['train'][1])} training examples, {batches} batches of 32 "
           f"an epoch); medians over {args.repeats} runs x {args.epochs - 1} epochs after the first.",
           "| checkpoints | examples/s | vs baseline | one checkpoint (MB) |", rows, args.append)


if __name__ == "__main__":
    main()
