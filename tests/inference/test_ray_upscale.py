"""`enlca upscale --ray` on a real two-node Ray cluster on this host.

One cluster (a head and a second node process, 1 CPU each, in a network
namespace whose only interface is the loopback) serves the
module and is torn down after it, whatever happens (`LocalRayCluster`).
The model is the committed tiny A2N `.tflite` (LiteRT: no TensorFlow in the
workers). The commands run as subprocesses, as a user runs them.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.data import write_image
from keras_enlca.inference.upscale_job import FAILURES_NAME
from keras_enlca.inference.upscale_job import MANIFEST_NAME
from tests.inference.ray_cluster import LocalRayCluster
from tests.inference.ray_cluster import worker_pids

pytest.importorskip("ray.data")
# Ray puts a second node on the host's network address, not on 127.0.0.1:
# these tests run only inside a network namespace of their own, whose one
# interface is the loopback (.ci/run runs them so).
pytestmark = pytest.mark.skipif(
    os.environ.get("ENLCA_TEST_NETNS") != "1",
    reason="needs an isolated network namespace: "
    "sh tests/inference/in_network_namespace.sh python -m pytest " + __file__,
)

MODEL = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "runtime", "data", "a2n_tiny_x2.tflite"
)
ENLCA = os.path.join(os.path.dirname(sys.executable), "enlca")
# Seconds any one command may take here (a job starts its workers first).
COMMAND_TIMEOUT_S = 180
# The job's Ray Data actors carry this in their process title.
ACTOR_TITLE = "MapWorker(MapBatches(RayUpscaleWorker))"


@pytest.fixture(scope="module")
def cluster():
    with LocalRayCluster(cpus_per_node=1) as running:
        yield running


def enlca(cluster, *args, **kwargs):
    return subprocess.run(
        [ENLCA, *map(str, args)],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        **kwargs,
    )


def make_images(folder, count, corrupt=False):
    """`count` crops of mixed sizes (PNG, JPEG, BMP); returns their names."""
    photo = read_image(sample_image_paths()[3])
    names = []
    for i in range(count):
        name = f"im{i:02d}{('.png', '.jpg', '.bmp')[i % 3]}"
        write_image(folder / name, photo[: 12 + 5 * i, : 16 + 9 * (i % 4)])
        names.append(name)
    if corrupt:
        (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return names


def outputs_of(folder):
    """Every file in the output folder, hidden ones included (no temporaries)."""
    return sorted(os.listdir(folder))


def single_process(tmp_path, folder, names):
    """The same images through the default single-process `enlca upscale`."""
    out = tmp_path / "single"
    result = subprocess.run(
        [ENLCA, "upscale", MODEL, *[folder / n for n in names], "-o", out],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr
    return out


def test_a_folder_with_a_corrupt_image(cluster, tmp_path):
    folder = tmp_path / "photos"
    names = make_images(folder, 19, corrupt=True)
    out = tmp_path / "out"
    result = enlca(
        cluster, "upscale", MODEL, folder, "-o", out, f"--ray={cluster.address}"
    )
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"Error: Upscaled 19 of 20 images x2 into {out} (19 new at "
        f"{last.split(' new at ')[1].split(' images/s')[0]} images/s on 2 Ray "
        f"workers); 1 failed, listed in {out / FAILURES_NAME}"
    )
    assert "Traceback" not in result.stderr
    # Every good image once, nothing else but the manifest and failure list.
    assert outputs_of(out) == sorted([*names, MANIFEST_NAME, FAILURES_NAME])
    manifest = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(manifest) == 19
    failures = (out / FAILURES_NAME).read_text().splitlines()
    assert len(failures) == 1
    assert failures[0].startswith(f"{folder / 'broken.png'}\tCannot read image ")
    # Byte-identical to the single-process path.
    single = single_process(tmp_path, folder, names)
    for name in names:
        assert (out / name).read_bytes() == (single / name).read_bytes(), name


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_job(cluster, tmp_path):
    folder = tmp_path / "photos"
    names = make_images(folder, 24)
    out = tmp_path / "out"
    command = [ENLCA, "upscale", MODEL, folder, "-o", out, f"--ray={cluster.address}"]
    job = subprocess.Popen(
        command,
        env=cluster.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stopped = []
    try:
        # At the first output, freeze the workers that run (the second one
        # may still be starting): the first holds its queued images, so the
        # job is held mid-way whatever this machine's speed.
        def first_output():
            path = out / MANIFEST_NAME
            return os.path.exists(path) and path.stat().st_size

        wait_for(first_output, COMMAND_TIMEOUT_S, "the first output")
        actors = worker_pids(cluster.sessions, ACTOR_TITLE)
        for pid in actors:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        time.sleep(1.0)  # what was being written lands
        done = len((out / MANIFEST_NAME).read_text().splitlines())
        assert 1 <= done < len(names) and job.poll() is None
        os.kill(actors[0], signal.SIGKILL)  # by its id, from the test
        for pid in actors[1:]:
            os.kill(pid, signal.SIGCONT)
        stopped.clear()
        stdout, stderr = job.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode == 0, stderr
    assert (
        stdout.strip()
        .splitlines()[-1]
        .startswith(f"Upscaled 24 of 24 images x2 into {out} (24 new at ")
    )
    # Exactly once: each output written and recorded once, no temporary left.
    assert outputs_of(out) == sorted([*names, MANIFEST_NAME])
    manifest = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(manifest) == len(names) == len(set(manifest))
    single = single_process(tmp_path, folder, names)
    for name in names:
        assert (out / name).read_bytes() == (single / name).read_bytes(), name
    # The same command again: nothing to do, nothing rewritten, no Ray job.
    before = {n: os.stat(out / n).st_mtime_ns for n in names}
    again = enlca(cluster, *command[1:])
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (
        f"Upscaled 24 of 24 images into {out} (24 complete from an earlier run)"
    )
    assert {n: os.stat(out / n).st_mtime_ns for n in names} == before
    assert len((out / MANIFEST_NAME).read_text().splitlines()) == len(names)


def test_a_model_the_workers_cannot_read(cluster, tmp_path):
    folder = tmp_path / "photos"
    make_images(folder, 2)
    broken = tmp_path / "x2.tflite"
    broken.write_bytes(open(MODEL, "rb").read()[:6000])
    result = enlca(
        cluster,
        "upscale",
        broken,
        folder,
        "-o",
        tmp_path / "out",
        f"--ray={cluster.address}",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: a worker on ")
    assert lines[0].endswith(
        f"cannot open the model: {broken}: not a complete TFLite model (6000 "
        "bytes; the file is truncated or damaged)."
    )
    assert sorted(os.listdir(tmp_path / "out")) == []
