"""What the benchmark scripts share: timing and reporting."""

import datetime
import os
import platform
import statistics
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
