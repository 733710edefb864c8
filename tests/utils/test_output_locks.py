import os
import signal
import subprocess
import sys

import pytest

from keras_enlca.errors import OutputError
from keras_enlca.utils.outputs import check_output
from keras_enlca.utils.outputs import check_output_files
from keras_enlca.utils.outputs import output_locks

HOLDER = """
import sys
from keras_enlca.utils.outputs import check_output, output_locks
with output_locks():
    check_output(sys.argv[1])
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture(autouse=True)
def _own_lock_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("ENLCA_LOCK_DIR", str(tmp_path / "locks"))


def hold(path):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "held\n"
    return child


def test_a_second_process_is_refused_until_the_first_ends(tmp_path):
    out = tmp_path / "model.tflite"
    child = hold(out)
    try:
        with output_locks(), pytest.raises(OutputError) as caught:
            check_output(out, option="--out")
        assert str(caught.value) == (
            f"--out {out}: another enlca command (pid {child.pid}) is writing it; "
            "wait for it to finish or choose another output."
        )
        # Each image of a set is claimed too (upscale, eval --save-images).
        with output_locks(), pytest.raises(OutputError, match="another enlca"):
            check_output_files([tmp_path / "a.png", out])
        # Another output in the same folder is free.
        with output_locks():
            assert check_output_files([tmp_path / "a.png"]) == [str(tmp_path / "a.png")]
    finally:
        child.stdin.close()
        assert child.wait(timeout=60) == 0
    with output_locks():
        assert check_output(out) == str(out)
    # Released claims leave no lock files (nor their folder) behind.
    assert not os.path.exists(tmp_path / "locks")


def test_a_holder_that_has_not_written_its_pid_yet(tmp_path):
    # Between its lock and its write the holder's lock file is empty (CI
    # once answered that moment with `IndexError` instead of this line).
    out = tmp_path / "model.tflite"
    child = hold(out)
    try:
        (lock,) = os.listdir(tmp_path / "locks")
        os.truncate(tmp_path / "locks" / lock, 0)
        with output_locks(), pytest.raises(OutputError) as caught:
            check_output(out, option="--out")
        assert str(caught.value) == (
            f"--out {out}: another enlca command is writing it; "
            "wait for it to finish or choose another output."
        )
    finally:
        child.stdin.close()
        assert child.wait(timeout=60) == 0


def test_a_killed_holder_releases_its_claim(tmp_path):
    out = tmp_path / "run"
    child = hold(out)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    with output_locks():
        assert check_output(out, folder=True) == str(out)


def test_one_process_may_check_its_own_output_twice(tmp_path):
    out = tmp_path / "a.png"
    with output_locks():
        check_output(out)
        check_output_files([out])
        with output_locks():  # nested blocks share the claims
            check_output(out)
    assert not os.path.exists(tmp_path / "locks")


def test_outside_a_block_nothing_is_claimed(tmp_path):
    check_output(tmp_path / "a.png")
    assert not os.path.exists(tmp_path / "locks") or not os.listdir(tmp_path / "locks")
