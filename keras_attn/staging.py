"""Output directories written whole or not at all.

`staged(out_dir, overwrite)` yields a fresh staging folder beside `out_dir`;
when the block succeeds, the staging folder takes `out_dir`'s place (an old
`out_dir` is moved aside first and deleted only once the new one is in
place); when it fails, the staging folder is deleted and `out_dir` is as it
was. Staging folders of killed processes are removed at the next start.
Folders follow the umask. Pure Python.
"""

import contextlib
import os
import shutil
import tempfile

PREFIX = ".keras-attn-staging-"


def check_target(out_dir, overwrite):
    """Refuses a non-empty `out_dir` unless `overwrite`: call before any work."""
    if os.path.isfile(out_dir):
        raise FileExistsError(f"{out_dir} is a file, not a directory.")
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} is not empty; pass --overwrite (overwrite=True) to replace it.")


@contextlib.contextmanager
def staged(out_dir, overwrite=False):
    out_dir = os.path.abspath(out_dir)
    check_target(out_dir, overwrite)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    remove_abandoned(parent)
    staging = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent)
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private
    try:
        yield staging
        _replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _replace(staging, out_dir):
    if not os.path.exists(out_dir):
        os.rename(staging, out_dir)
        return
    aside = f"{staging}-old"
    os.rename(out_dir, aside)
    try:
        os.rename(staging, out_dir)
    except BaseException:
        os.rename(aside, out_dir)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def remove_abandoned(parent):
    """Deletes the staging folders in `parent` whose process no longer runs."""
    for name in os.listdir(parent):
        pid = name[len(PREFIX) :].split("-")[0] if name.startswith(PREFIX) else ""
        if pid.isdigit() and int(pid) != os.getpid() and not _running(int(pid)):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
