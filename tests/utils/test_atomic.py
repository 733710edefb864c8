import errno
import os

import pytest

from keras_enlca.errors import OutputError
from keras_enlca.utils.atomic import atomic_path
from tests.utils.faults import fill
from tests.utils.faults import listing
from tests.utils.faults import read_only_folder
from tests.utils.faults import tmpfs


def write(path, data):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def test_a_file_is_replaced_whole_and_no_temporary_stays(tmp_path):
    path = tmp_path / "a" / "b.bin"
    write(path, b"one")
    write(path, b"two")
    assert path.read_bytes() == b"two"
    assert listing(tmp_path) == ["a", "a/b.bin"]
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"two" and listing(tmp_path) == ["a", "a/b.bin"]


def test_a_folder_with_content_is_never_removed_without_overwrite(tmp_path):
    folder = tmp_path / "v"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("precious")
    with pytest.raises(OutputError, match="not empty; not replaced"):
        with atomic_path(folder, is_dir=True) as tmp:
            os.makedirs(tmp)
            open(os.path.join(tmp, "saved_model.pb"), "w").write("new")
    assert listing(tmp_path) == ["v", "v/notes.txt", "v/sub"]
    # An empty folder is simply replaced; overwrite=True swaps a full one.
    (tmp_path / "empty").mkdir()
    with atomic_path(tmp_path / "empty", is_dir=True) as tmp:
        os.makedirs(tmp)
        open(os.path.join(tmp, "x"), "w").write("x")
    with atomic_path(folder, is_dir=True, overwrite=True) as tmp:
        os.makedirs(tmp)
        open(os.path.join(tmp, "saved_model.pb"), "w").write("new")
    assert listing(tmp_path) == ["empty", "empty/x", "v", "v/saved_model.pb"]


def test_a_disk_that_fills_up_during_the_write(tmp_path):
    """ENOSPC mid-write: an `OutputError` naming the final path, the old file
    intact, no temporary file and no folder created by the write left."""
    with tmpfs(tmp_path / "small", 64) as folder:
        old = os.path.join(folder, "model.bin")
        write(old, b"old")
        fill(folder, leave_bytes=8192)
        with pytest.raises(OutputError) as caught:
            write(old, b"x" * 100_000)
        assert str(caught.value) == f"{old}: cannot write (No space left on device)."
        assert caught.value.errno == errno.ENOSPC and isinstance(caught.value, OSError)
        new = os.path.join(folder, "new", "deeper", "image.png")
        with pytest.raises(OutputError, match=f"^{new}: cannot write"):
            write(new, b"x" * 100_000)
        assert listing(folder) == ["filler.bin", "model.bin"]
        assert open(old, "rb").read() == b"old"


def test_a_read_only_folder(tmp_path):
    with read_only_folder(tmp_path / "ro") as folder:
        path = os.path.join(folder, "out.png")
        with pytest.raises(OutputError) as caught:
            write(path, b"data")
        assert str(caught.value).startswith(f"{path}: cannot write (")
        assert listing(folder) == ["notes.txt"]


def test_debris_of_a_killed_write_is_removed_by_the_next_check(tmp_path):
    """A real `kill -9` inside `atomic_path` leaves its temporary; the next
    `check_output` of that output removes it once stale, and nothing else."""
    import subprocess
    import sys
    import time

    from keras_enlca.utils.atomic import STALE_AFTER_SECONDS
    from keras_enlca.utils.outputs import check_output

    out = tmp_path / "m.tflite"
    script = (
        "import os, sys\n"
        "from keras_enlca.utils.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    open(tmp, 'wb').write(b'half')\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    for target in (out, tmp_path / "m.tflite.json"):
        done = subprocess.run([sys.executable, "-c", script, str(target)], timeout=60)
        assert done.returncode == -9
    debris = [p for p in listing(tmp_path) if p.startswith(".m.")]
    assert len(debris) == 2 and all(".tmp." in p for p in debris)
    keep = ["notes.txt", ".m.notmine.tmp.tflite", ".other.abcdefgh.tmp.tflite"]
    for name in keep:
        (tmp_path / name).write_text("user")
    check_output(out, sidecars=[tmp_path / "m.tflite.json"])
    assert len(listing(tmp_path)) == 5  # still fresh: may be a write under way
    old = time.time() - STALE_AFTER_SECONDS - 1
    for name in debris + keep:
        os.utime(tmp_path / name, (old, old))
    check_output(out, sidecars=[tmp_path / "m.tflite.json"])
    assert listing(tmp_path) == sorted(keep)
