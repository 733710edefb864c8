import os

import pytest

from keras_enlca.errors import InputError
from keras_enlca.errors import OutputError
from keras_enlca.utils.outputs import check_output
from keras_enlca.utils.outputs import check_output_files
from keras_enlca.utils.outputs import check_writable
from keras_enlca.utils.outputs import distinct_destinations
from tests.utils.faults import fill
from tests.utils.faults import listing
from tests.utils.faults import read_only_folder
from tests.utils.faults import tmpfs

ENTRIES = ("saved_model.pb", "variables")


def test_a_new_output_is_fine_and_nothing_is_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "m.tflite"
    assert check_output(out) == str(out)
    assert check_output(str(tmp_path / "sm") + "/", folder=True) == str(tmp_path / "sm")
    assert listing(tmp_path) == []  # the writability probe leaves nothing


def test_an_existing_file_needs_overwrite(tmp_path):
    out = tmp_path / "m.tflite"
    out.write_bytes(b"old")
    with pytest.raises(OutputError) as caught:
        check_output(out, option="--out")
    assert (
        str(caught.value)
        == f"--out {out}: already exists; pass --overwrite to replace it."
    )
    assert isinstance(caught.value, InputError) and isinstance(caught.value, OSError)
    assert check_output(out, overwrite=True) == str(out)
    (tmp_path / "dir.tflite").mkdir()
    with pytest.raises(OutputError, match="is a folder; the output is a file"):
        check_output(tmp_path / "dir.tflite", overwrite=True)
    assert out.read_bytes() == b"old"


def test_a_sidecar_counts_as_part_of_the_output(tmp_path):
    out, sidecar = tmp_path / "m.tflite", tmp_path / "m.tflite.json"
    sidecar.write_text("{}")
    with pytest.raises(
        OutputError, match=r"m.tflite.json: already exists \(the metadata of"
    ):
        check_output(out, sidecars=[sidecar])
    assert check_output(out, sidecars=[sidecar], overwrite=True) == str(out)
    sidecar.unlink()
    sidecar.mkdir()
    with pytest.raises(OutputError, match="is a folder; it would be the metadata"):
        check_output(out, sidecars=[sidecar], overwrite=True)


def test_a_folder_output_replaces_only_an_earlier_artifact(tmp_path, monkeypatch):
    folder = tmp_path / "v"
    folder.mkdir()
    assert check_output(folder, folder=True) == str(folder)  # empty: fine
    (folder / "saved_model.pb").write_bytes(b"pb")
    (folder / "variables").mkdir()
    with pytest.raises(
        OutputError,
        match="the folder exists and is not empty; choose a new "
        "name, or pass --overwrite",
    ):
        check_output(folder, folder=True, artifact_entries=ENTRIES)
    assert check_output(folder, folder=True, artifact_entries=ENTRIES, overwrite=True)
    (folder / "notes.txt").write_text("precious")
    with pytest.raises(OutputError) as caught:
        check_output(folder, folder=True, artifact_entries=ENTRIES, overwrite=True)
    assert str(caught.value) == (
        f"{folder}: holds files that are not part of the output (notes.txt); it is not "
        "replaced, even with --overwrite."
    )
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        OutputError, match="a file of that name exists; the output is a folder"
    ):
        check_output(tmp_path / "file", folder=True, overwrite=True)
    # `-o .` (and any folder above the current one) is never an output folder,
    # even an empty one.
    empty = tmp_path / "empty"
    (empty / "inside").mkdir(parents=True)
    monkeypatch.chdir(empty / "inside")
    for path in (".", "..", str(empty)):
        with pytest.raises(OutputError, match="is the current folder"):
            check_output(path, folder=True, overwrite=True)
    assert (folder / "notes.txt").read_text() == "precious"


def test_a_parent_that_is_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(OutputError, match=r"notes.txt is a file, not a folder\."):
        check_output(tmp_path / "notes.txt" / "m.tflite")


def test_many_files_at_once(tmp_path):
    paths = [tmp_path / "out" / f"{name}.png" for name in "abc"]
    assert check_output_files(paths) == [str(p) for p in paths]
    (tmp_path / "out").mkdir()
    paths[1].write_bytes(b"1")
    paths[2].write_bytes(b"2")
    with pytest.raises(OutputError) as caught:
        check_output_files(paths)
    assert str(caught.value) == (
        f"{paths[1]}: already exists (and 1 more of the outputs); pass --overwrite to "
        "replace them."
    )
    assert check_output_files(paths, overwrite=True)
    paths[0].mkdir()
    with pytest.raises(OutputError, match="a.png: is a folder"):
        check_output_files(paths, overwrite=True)


def test_a_read_only_folder_is_found_before_any_work(tmp_path):
    with read_only_folder(tmp_path / "ro") as folder:
        out = os.path.join(folder, "sub", "m.tflite")
        with pytest.raises(OutputError) as caught:
            check_output(out, option="--out")
        message = str(caught.value)
        assert message.startswith(f"--out {out}: cannot write in {folder} (")
        assert ("Read-only file system" in message) or ("Permission denied" in message)
        assert listing(folder) == ["notes.txt"]


def test_a_full_disk_is_found_before_any_work(tmp_path):
    with tmpfs(tmp_path / "small", 64) as folder:
        out = os.path.join(folder, "m.keras")
        check_writable(out, needed_bytes=32 * 1024)
        with pytest.raises(OutputError, match=r"needs at least 0.1 MB\)\.$") as caught:
            check_writable(out, needed_bytes=100_000)
        assert str(caught.value).startswith(
            f"{out}: cannot write in {folder} (No space left"
        )
        fill(folder)
        with pytest.raises(
            OutputError, match=r"\(No space left on device: 0.0 MB free\)"
        ):
            check_output(out)
        assert listing(folder) == ["filler.bin"]


def test_distinct_destinations(tmp_path):
    source = tmp_path / "in" / "a.png"
    source.parent.mkdir()
    source.write_bytes(b"png")
    out = tmp_path / "out"
    assert distinct_destinations(
        [(str(source), "a.png"), (str(tmp_path / "b.png"), "sub/a.png")], str(out)
    ) == [str(out / "a.png"), str(out / "sub" / "a.png")]
    with pytest.raises(InputError, match=r"in/a.png and .*/x/a.png would both be"):
        distinct_destinations(
            [(str(tmp_path / "x" / "a.png"), "a.png"), (str(source), "a.png")],
            str(out),
        )
    # The output folder is the input's folder, by its own path or a link.
    (tmp_path / "link").symlink_to(tmp_path / "in")
    for folder in (tmp_path / "in", tmp_path / "link"):
        with pytest.raises(InputError, match="a.png: the output would overwrite"):
            distinct_destinations([(str(source), "a.png")], str(folder))
    assert source.read_bytes() == b"png"
