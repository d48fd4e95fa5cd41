"""Starts one command as several processes on this machine, joined for
data-parallel training (`keras-attn train ... --processes N`).

Each process gets the environment variables that
`keras.distribution.initialize` reads, with the coordinator on 127.0.0.1;
on several hosts, set the same variables on each host instead (see the
README's "Long runs and several machines"). Process 0's output is the
command's; the others' is kept back unless one fails. When one process
fails, the others are stopped (they would wait for it forever), and its exit
status is the command's.

Example (not run here: it starts interpreters):
    run_on_this_machine(["train", "transformer", "--processes", "2", "--out", "runs/t"], 2)
"""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time

from keras_attn.training.distribution import PROCESS_VARIABLES


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_on_this_machine(argv, count):
    """Runs `keras-attn argv` as `count` processes joined on 127.0.0.1;
    returns the exit status: 0, or the first failed process's."""
    addresses, processes, id_name = PROCESS_VARIABLES
    environment = {**os.environ, addresses: f"127.0.0.1:{_free_port()}", processes: str(count)}
    with tempfile.TemporaryDirectory(prefix="keras-attn-processes-") as logs, contextlib.ExitStack() as files:
        errors = [None] + [files.enter_context(open(os.path.join(logs, f"{index}.err"), "w+"))
                           for index in range(1, count)]
        children = [subprocess.Popen([sys.executable, "-m", "keras_attn.cli", *argv],
                                     env={**environment, id_name: str(index)},
                                     stdout=None if index == 0 else subprocess.DEVNULL, stderr=errors[index])
                    for index in range(count)]
        try:
            failed = _wait(children)
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                child.wait()
        if failed is None:
            return 0
        code = children[failed].returncode
        status = code if code > 0 else 128 - code  # killed by a signal: the shell's convention
        if errors[failed] is not None:  # process 0's errors are already on the terminal
            errors[failed].seek(0)
            lines = [line for line in errors[failed].read().splitlines() if line.strip()]
            print(f"keras-attn: process {failed}: {lines[-1] if lines else f'exit status {status}'}", file=sys.stderr)
        return status


def _wait(children):
    """`None` once every child has succeeded; the first failed one's index as soon as one fails."""
    while True:
        codes = [child.poll() for child in children]
        failed = next((index for index, code in enumerate(codes) if code not in (None, 0)), None)
        if failed is not None or all(code == 0 for code in codes):
            return failed
        time.sleep(0.2)
