"""One writer per output folder: a second writer is refused in one line and
the first result stays, whichever of them finishes first."""

import os
import subprocess
import sys
import time

import pytest

from keras_attn import cli, staging

SMALL_RUN = ["transformer-classifier", "--examples", "300", "--epochs", "1", "--set", "hidden_units=8"]


@pytest.fixture
def other_process():
    """A running process that is not this one (a stand-in for another writer)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process.pid
    process.kill()
    process.wait()


def hold_lock(out_dir, pid):
    with open(os.path.join(os.path.dirname(out_dir), staging.LOCK_PREFIX + os.path.basename(out_dir)), "w") as f:
        f.write(str(pid))


def test_a_folder_another_running_process_writes_is_refused(tmp_path, other_process):
    out = tmp_path / "run"
    hold_lock(out, other_process)
    with pytest.raises(staging.ConcurrentWriteError, match=f"another keras-attn process \\(pid {other_process}\\)"):
        with staging.staged(out):
            pass
    with pytest.raises(staging.ConcurrentWriteError):
        staging.check_target(out, overwrite=True)  # overwriting does not take a folder another process writes
    assert not out.exists()


def test_the_lock_of_a_killed_process_is_taken_over_and_released(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out = tmp_path / "run"
    hold_lock(out, int(finished.stdout))
    with staging.staged(out) as work:
        (tmp_path / "run.txt").write_text("")  # a neighbour, kept
        open(os.path.join(work, "result"), "w").close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.txt"]  # no lock, no staging folder


def test_a_folder_filled_while_this_writer_worked_is_kept(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(staging.ConcurrentWriteError, match="written by another process meanwhile"):
        with staging.staged(out) as work:
            open(os.path.join(work, "mine"), "w").close()
            out.mkdir()
            (out / "theirs").write_text("first")
    assert [p.name for p in out.iterdir()] == ["theirs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_empty_folder_made_meanwhile_is_filled(tmp_path):
    out = tmp_path / "run"
    with staging.staged(out) as work:
        out.mkdir()
        open(os.path.join(work, "mine"), "w").close()
    assert [p.name for p in out.iterdir()] == ["mine"]


def test_two_trains_into_one_new_folder_the_second_is_refused_and_the_first_result_stays(tmp_path, capsys):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "keras_attn.cli", "train", *SMALL_RUN, "--seed", "1",
                              "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / (staging.LOCK_PREFIX + "run")
    deadline = time.monotonic() + 120
    while not lock.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lock.exists(), first.communicate()[1]
    assert cli.main(["train", *SMALL_RUN, "--seed", "2", "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"is being written by another keras-attn process (pid {first.pid})" in error
    assert len(error.strip().splitlines()) == 1
    assert first.wait(timeout=300) == 0, first.stderr.read()
    assert '"seed": 1' in (out / "config.json").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.tensorflow
def test_export_refuses_a_folder_another_process_writes(tmp_path, capsys, other_process):
    assert cli.main(["train", *SMALL_RUN, "--out", str(tmp_path / "run")]) == 0
    out = tmp_path / "export"
    hold_lock(out, other_process)
    assert cli.main(["export", str(tmp_path / "run" / "model.keras"), "--out", str(out), "--formats", "onnx"]) == 2
    assert f"(pid {other_process})" in capsys.readouterr().err
    assert not out.exists()
