"""Progress lines for long steps: what starts, and when it ends with its
elapsed time. Off by default; the command line turns it on, so library
callers see nothing unless they ask.

>>> with step("learning the vocabulary"):  # prints nothing while disabled
...     pass
"""

import contextlib
import sys
import time

_enabled = False


def enable(on=True):
    global _enabled
    _enabled = on


def note(text):
    """Prints `text` (a warning or a count worth knowing) when progress is on."""
    if _enabled:
        print(text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def step(label):
    """Prints `label …` when the step starts and `label: done in N s` when it ends."""
    if not _enabled:
        yield
        return
    print(f"{label} …", file=sys.stderr, flush=True)
    started = time.time()
    yield
    print(f"{label}: done in {time.time() - started:.1f} s", file=sys.stderr, flush=True)
