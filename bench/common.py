"""What the benchmark scripts share: timing and reporting."""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import keras


def median_seconds(function, repeats):
    """Median wall time of `function()` over `repeats` runs, after one warm-up run."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_in_tree(child, tree, *args, env=None):
    """Runs `child`, Python source that prints `RESULT <json>`, in an
    interpreter of its own with `sys.argv[1:]` = `tree` (absolute) and
    `args`, so that it can import the `keras_attn` of `tree`; returns the JSON."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    result = subprocess.run([sys.executable, "-c", child, os.path.abspath(tree), *map(str, args)], env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the run in {tree} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def machine():
    return (f"{platform.machine()} CPU ({os.cpu_count()} cores), {datetime.date.today()}, "
            f"keras {keras.__version__} ({keras.backend.backend()} backend)")


def report(title, command, details, header, rows, append=None):
    """Prints a Markdown table with its command and machine; appends it to `append`."""
    table = "\n".join([header, "| " + " | ".join("---" for _ in header.split("|")[1:-1]) + " |"] + rows)
    context = f"`{command}` on {machine()}; {details}"
    print(context)
    print(table)
    if append:
        with open(append, "a") as f:
            f.write(f"\n### {title}\n\n{context}\n\n{table}\n")
