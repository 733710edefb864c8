"""The Ray-free parts of a resumable upscaling job: plan, manifest, lock, worker."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.data import write_image
from keras_enlca.errors import InputError
from keras_enlca.errors import OutputError
from keras_enlca.inference.job_manifest import JobManifest
from keras_enlca.inference.ray_upscale import plan_workers
from keras_enlca.inference.ray_upscale_worker import SETUP_ERROR_MARK
from keras_enlca.inference.ray_upscale_worker import RayUpscaleWorker
from keras_enlca.inference.upscale_job import LOCK_NAME
from keras_enlca.inference.upscale_job import MANIFEST_NAME
from keras_enlca.inference.upscale_job import JobLock
from keras_enlca.inference.upscale_job import file_sha256
from keras_enlca.inference.upscale_job import job_fingerprint
from keras_enlca.inference.upscale_job import plan_job
from keras_enlca.inference.upscale_job import write_failure_list

MODEL = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "runtime", "data", "a2n_tiny_x2.tflite"
)


def photo(height, width):
    return read_image(sample_image_paths()[3])[:height, :width]


def test_plan_walks_trees_and_list_files(tmp_path):
    write_image(tmp_path / "in" / "a.png", photo(10, 12))
    write_image(tmp_path / "in" / "deep" / "er" / "b.jpg", photo(9, 8))
    write_image(tmp_path / "in" / ".hidden.png", photo(9, 8))
    (tmp_path / "in" / "notes.md").write_text("not an image")
    write_image(tmp_path / "other" / "c.bmp", photo(9, 8))
    write_image(tmp_path / "d.png", photo(9, 8))
    (tmp_path / "list.txt").write_text(
        "# photos\nother/c.bmp\n\n" + str(tmp_path / "d.png") + "\n/elsewhere/e.png\n"
    )
    pairs = plan_job([tmp_path / "in", tmp_path / "list.txt"], tmp_path / "out")
    assert [relative for _, relative in pairs] == [
        "a.png",
        os.path.join("deep", "er", "b.jpg"),
        os.path.join("other", "c.bmp"),
        "d.png",
        "e.png",  # listed, outside the list's folder: its file name
    ]
    assert pairs[2][0] == str(tmp_path / "other" / "c.bmp")


def test_plan_refuses_what_would_go_wrong(tmp_path):
    write_image(tmp_path / "in" / "a.png", photo(10, 12))
    write_image(tmp_path / "in2" / "a.png", photo(10, 12))
    with pytest.raises(InputError, match=r"is inside the input folder .*in; a re-run"):
        plan_job([tmp_path / "in"], tmp_path / "in" / "out")
    with pytest.raises(InputError, match="would both be written to"):
        plan_job([tmp_path / "in", tmp_path / "in2"], tmp_path / "out")
    with pytest.raises(InputError, match="no such image file, folder or list file"):
        plan_job([tmp_path / "missing"], tmp_path / "out")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(InputError, match="the list file names no images"):
        plan_job([tmp_path / "empty.txt"], tmp_path / "out")


def test_the_manifest_checks_each_output(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"first")
    (out / "b.png").write_bytes(b"second")
    key = job_fingerprint(MODEL, tile=None, overlap=None)
    manifest = JobManifest(out, key)
    manifest.record("a.png", file_sha256(out / "a.png"))
    manifest.record("b.png", file_sha256(out / "b.png"))
    # A crash in mid-append: a torn last line.
    with open(out / MANIFEST_NAME, "a") as f:
        f.write('{"output": "c.png", "sha')
    (out / "c.png").write_bytes(b"third")
    (out / "b.png").write_bytes(b"changed")  # not what the job wrote
    again = JobManifest(out, key)
    assert [again.is_done(n) for n in ("a.png", "b.png", "c.png")] == [
        True,
        False,
        False,
    ]
    # Another model or other tiling is another job.
    other = JobManifest(out, job_fingerprint(MODEL, tile=64, overlap=None))
    assert not other.is_done("a.png")
    again.record("c.png", file_sha256(out / "c.png"))
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 4 and json.loads(lines[-1])["output"] == "c.png"
    assert JobManifest(out, key).is_done("c.png")


def test_one_job_per_output_folder(tmp_path):
    out = tmp_path / "out"
    with JobLock(out):
        assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
        with pytest.raises(OutputError, match=r"another upscaling job \(pid \d+ on"):
            JobLock(out).acquire()
    assert not (out / LOCK_NAME).exists()
    # A lock left by a process that is gone (same host) is taken over.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    )
    JobLock(out).acquire().release()
    lock = JobLock(out)
    (out / LOCK_NAME).write_text(
        json.dumps({"host": lock.owner["host"], "pid": int(dead.stdout)})
    )
    lock.acquire()
    assert json.loads((out / LOCK_NAME).read_text()) == lock.owner
    lock.release()


def test_failure_list(tmp_path):
    path = write_failure_list(
        tmp_path, [("b.png", "Cannot read\nimage b.png"), ("a.png", "broken")]
    )
    assert open(path).read() == "a.png\tbroken\nb.png\tCannot read image b.png\n"
    assert write_failure_list(tmp_path, []) is None
    assert not os.path.exists(path)


def test_the_worker_gives_the_single_process_bytes(tmp_path):
    from keras_enlca.inference.loader import open_runner
    from keras_enlca.inference.upscale_files import upscale_file

    write_image(tmp_path / "a.png", photo(30, 41))
    write_image(tmp_path / "b.jpg", photo(21, 17))
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    worker = RayUpscaleWorker(MODEL, threads=1, tile=16, overlap=4)
    rows = worker(
        {
            "source": np.array(
                [str(tmp_path / n) for n in ("a.png", "bad.png", "b.jpg")]
            ),
            "output": np.array(["a.png", "bad.png", os.path.join("sub", "b.jpg")]),
        }
    )
    assert list(rows["error"][[0, 2]]) == ["", ""]
    assert rows["error"][1].startswith("Cannot read image") and rows["data"][1] == b""
    assert list(rows["scale"]) == [2, 2, 2]
    runner = open_runner(MODEL, num_threads=2)
    for index, name in ((0, "a.png"), (2, "b.jpg")):
        upscale_file(runner, tmp_path / name, tmp_path / "single" / name, 16, 4)
        assert rows["data"][index] == (tmp_path / "single" / name).read_bytes()


def test_a_worker_that_cannot_open_the_model(tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(open(MODEL, "rb").read()[:5000])
    with pytest.raises(RuntimeError) as error:
        RayUpscaleWorker(str(broken))
    message = str(error.value)
    assert message.startswith(SETUP_ERROR_MARK + "a worker on ")
    assert f"cannot open the model: {broken}: not a complete TFLite model" in message


def node(cpus, gpus=0, alive=True):
    return {"Alive": alive, "Resources": {"CPU": cpus, "GPU": gpus}}


def test_worker_defaults_from_the_cluster():
    # A laptop (2 CPUs), two 16-core hosts (and a 0-CPU KubeRay head), a GPU box.
    assert plan_workers([node(2)], "tflite") == (1, 2, 0)
    assert plan_workers(
        [node(0), node(16), node(16), node(64, alive=False)], "tflite"
    ) == (
        8,
        4,
        0,
    )
    assert plan_workers([node(8, gpus=2)], "keras") == (2, 1, 1)
    assert plan_workers([node(8, gpus=2)], "tflite") == (2, 4, 0)
    assert plan_workers([node(2)], "tflite", num_workers=2, threads=1) == (2, 1, 0)
    with pytest.raises(
        InputError, match=r"--num-workers 3: the cluster \(CPUs per node: 2\) fits 2"
    ):
        plan_workers([node(2)], "tflite", num_workers=3, threads=1)
    with pytest.raises(InputError, match="--threads-per-worker 4: no node has"):
        plan_workers([node(2), node(3)], "tflite", threads=4)


def test_a_jobs_temporaries_are_removed_whatever_their_age(tmp_path):
    from keras_enlca.inference.upscale_job import remove_job_temporaries
    from keras_enlca.utils.atomic import atomic_path

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(out / "sub" / "a.b.png") as tmp:
            open(tmp, "wb").write(b"half")
            left = tmp
            os.link(tmp, tmp + ".keep")  # what a killed write leaves
            raise KeyboardInterrupt
    os.rename(left + ".keep", left)
    (out / "sub" / ".other.abcdefgh.tmp.png").write_bytes(b"not ours")
    (out / "sub" / "c.png").write_bytes(b"a user's file")
    removed = remove_job_temporaries(out, [os.path.join("sub", "a.b.png"), "x.png"])
    assert removed == [left]
    assert sorted(os.listdir(out / "sub")) == [".other.abcdefgh.tmp.png", "c.png"]
