"""Output directories written whole or not at all.

`staged(out_dir, overwrite)` yields a fresh staging folder beside `out_dir`;
when the block succeeds, the staging folder takes `out_dir`'s place (an old
`out_dir` is moved aside first and deleted only once the new one is in
place); when it fails, the staging folder is deleted and `out_dir` is as it
was. Staging folders of killed processes are removed at the next start.
Folders follow the umask. Pure Python.

One writer at a time: `staged` holds a lock file beside `out_dir` (created
exclusively, naming its process) for the whole block, and `check_target`
refuses a folder whose lock a running process holds. Without `overwrite`
the final rename never replaces a folder that another writer filled
meanwhile (POSIX `rename` does not replace a non-empty directory): the
second writer is refused and the first result stays.
"""

import contextlib
import errno
import os
import shutil
import tempfile

PREFIX = ".keras-attn-staging-"
LOCK_PREFIX = ".keras-attn-writing-"


class ConcurrentWriteError(FileExistsError):
    """Another process writes, or has just written, the same output folder."""


def check_target(out_dir, overwrite):
    """Refuses a non-empty `out_dir` unless `overwrite`, and a folder another
    running process is writing: call before any work."""
    if os.path.isfile(out_dir):
        raise FileExistsError(f"{out_dir} is a file, not a directory.")
    holder = _lock_holder(_lock_path(os.path.abspath(out_dir)))
    if holder is not None and holder != os.getpid():
        raise _busy(out_dir, holder)
    if os.path.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise FileExistsError(f"{out_dir} is not empty; pass --overwrite (overwrite=True) to replace it.")


@contextlib.contextmanager
def staged(out_dir, overwrite=False):
    out_dir = os.path.abspath(out_dir)
    check_target(out_dir, overwrite)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    with _locked(out_dir):
        check_target(out_dir, overwrite)  # another writer may have finished since the first check
        remove_abandoned(parent)
        staging = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent)
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private
        try:
            yield staging
            _replace(staging, out_dir, overwrite)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _busy(out_dir, holder):
    return ConcurrentWriteError(f"{out_dir} is being written by another keras-attn process (pid {holder}); wait "
                                "for it to finish or choose another folder.")


def _lock_path(out_dir):
    return os.path.join(os.path.dirname(out_dir), LOCK_PREFIX + os.path.basename(out_dir))


def _lock_holder(lock):
    """The pid of the running process that holds `lock`, else `None`."""
    try:
        with open(lock) as f:
            text = f.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return int(text) if text.isdigit() and _running(int(text)) else None


@contextlib.contextmanager
def _locked(out_dir):
    lock = _lock_path(out_dir)
    claim = f"{lock}.{os.getpid()}"
    with open(claim, "w") as f:
        f.write(str(os.getpid()))
    try:
        for _ in range(2):
            try:
                os.link(claim, lock)  # creates the lock with its pid in one step, or fails if it exists
                break
            except FileExistsError:
                holder = _lock_holder(lock)
                if holder is not None:
                    raise _busy(out_dir, holder) from None
                with contextlib.suppress(FileNotFoundError):
                    os.remove(lock)  # left by a killed process
        else:
            raise ConcurrentWriteError(f"{out_dir}: another keras-attn process took its lock at the same time; "
                                       "try again.")
    finally:
        os.remove(claim)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(lock)


def _replace(staging, out_dir, overwrite):
    if not overwrite or not os.path.exists(out_dir):
        try:
            os.rename(staging, out_dir)  # replaces an empty folder, never a filled one
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise ConcurrentWriteError(f"{out_dir} was written by another process meanwhile; it is kept as "
                                           "that process left it, and this result is discarded.") from None
            raise
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
