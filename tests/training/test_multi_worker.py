"""Two real `enlca train` worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy).

Every test starts its workers on free ports with bounded timeouts
(`ENLCA_WORKER_TIMEOUT`, `Popen.wait(timeout=...)`) and kills them in a
`finally`, so nothing outlives a failing test.
"""

import glob
import json
import os
import signal
import sys
import time

import numpy as np
import pytest
import yaml

from keras_enlca.data import read_image
from keras_enlca.data import sample_images_dir
from keras_enlca.data import write_image
from keras_enlca.training.config import config_from_dict
from keras_enlca.training.run import run_training

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multi_worker_launch import free_ports  # noqa: E402
from multi_worker_launch import start_workers  # noqa: E402
from multi_worker_launch import stop_workers  # noqa: E402

pytestmark = pytest.mark.slow

WAIT = 400  # seconds a whole two-worker run may take on a busy 2-core machine
# float32 sums in another order (two replicas of batch 1 vs one batch of 2)
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-5


def run_values(train_dir, **schedule):
    """`enlcn_small_x2` cut down: 2 blocks, 8 filters, 12x12 LR patches, batch 2."""
    return {
        "model": {"preset": "enlcn_small_x2", "args": {"num_blocks": 2, "filters": 8}},
        "data": {"train": {"dir": str(train_dir)}, "patch_size": 12, "batch_size": 2},
        "schedule": {
            "epochs": 4,
            "steps_per_epoch": 1,
            "decay_milestones": [2],
            **schedule,
        },
        "contrastive": {"warmup_steps": 1},
        "runtime": {"checkpoint_every": 2},
    }


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mw_images")
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        image = read_image(os.path.join(sample_images_dir(), f"{name}.png"))
        write_image(str(root / f"{name}.png"), image[:96, :96])
    return root


def launch(tmp, values, run_dir, tag):
    """Start two workers on `values`; return (processes, out_dir, scratch TMPDIR)."""
    out = tmp / tag
    scratch = tmp / f"{tag}_tmp"
    out.mkdir()
    scratch.mkdir()
    config_path = out / "config.yaml"
    config_path.write_text(yaml.safe_dump(values))
    os.environ["TMPDIR"], previous = str(scratch), os.environ.get("TMPDIR")
    try:
        processes = start_workers(
            str(config_path), str(run_dir), str(out), free_ports(2), timeout=120
        )
    finally:
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous
    return processes, out, scratch


def wait_all(processes, timeout=WAIT):
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            process.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        stop_workers(processes)
    return [process.returncode for process in processes]


def history_of(out, index):
    for line in (out / f"worker{index}.log").read_text().splitlines():
        if line.startswith("history "):
            return json.loads(line[len("history ") :])
    raise AssertionError((out / f"worker{index}.log").read_text()[-3000:])


@pytest.fixture(scope="module")
def cluster_run(train_dir, tmp_path_factory):
    """One two-worker run of 4 one-step epochs."""
    tmp = tmp_path_factory.mktemp("mw_run")
    run_dir = tmp / "run"
    processes, out, scratch = launch(tmp, run_values(train_dir), run_dir, "two")
    codes = wait_all(processes)
    return {"codes": codes, "out": out, "run_dir": run_dir, "scratch": scratch}


@pytest.fixture(scope="module")
def single_run(train_dir, tmp_path_factory):
    """The same run in this process on one device (Keras `fit`)."""
    import keras

    run_dir = tmp_path_factory.mktemp("mw_single") / "run"
    config = config_from_dict(
        run_values(train_dir), overrides=["runtime.strategy=one_device"]
    )
    result = run_training(config, run_dir, log=lambda line: None)
    model = keras.models.load_model(result.model_path, compile=False)
    return result.history, model.get_weights(), run_dir


def test_two_workers_match_one_process(cluster_run, single_run):
    out = cluster_run["out"]
    assert cluster_run["codes"] == [0, 0], (out / "worker0.log").read_text()[-3000:]
    chief, worker = history_of(out, 0), history_of(out, 1)
    history, weights, _ = single_run
    assert [row["step"] for row in chief] == [1, 2, 3, 4]
    for key in ("loss", "l1", "contrastive"):
        expected = [row[key] for row in history]
        np.testing.assert_allclose(
            [row[key] for row in chief], expected, rtol=LOSS_RTOL
        )
        assert [row[key] for row in worker] == [row[key] for row in chief]
    # The contrastive term is on after the 1-step warm-up: it is in the loss.
    assert chief[-1]["loss"] > chief[-1]["l1"]
    w0 = np.load(out / "weights0.npz")
    w1 = np.load(out / "weights1.npz")
    assert len(w0.files) == len(weights) > 10
    for name, expected in zip(
        sorted(w0.files, key=lambda n: int(n.split("_")[1])), weights
    ):
        np.testing.assert_array_equal(w0[name], w1[name])  # bit-identical workers
        np.testing.assert_allclose(w0[name], expected, atol=WEIGHT_ATOL)


def run_files(run_dir):
    """Relative paths of the files of a run folder (TensorBoard files by folder)."""
    files = []
    for root, _, names in os.walk(run_dir):
        for name in names:
            path = os.path.relpath(os.path.join(root, name), run_dir)
            files.append(
                os.path.dirname(path) + "/<events>" if "tfevents" in name else path
            )
    return sorted(files)


def test_only_the_chief_writes(cluster_run, single_run):
    run_dir = cluster_run["run_dir"]
    files = run_files(run_dir)
    # Exactly what a one-process run writes: one TensorBoard file, the
    # checkpoints of one writer, no worker files.
    assert files == run_files(single_run[2])
    assert files.count("logs/train/<events>") == 1
    assert {"config.yaml", "history.json", "model.keras"} <= set(files)
    assert sorted({f.split("/")[1] for f in files if f.startswith("checkpoints/")}) == [
        "step-000000003",
        "step-000000004",
    ]
    # The other worker's scratch folder (in its TMPDIR) is gone.
    assert os.listdir(cluster_run["scratch"]) == []
    for index in (0, 1):
        text = (cluster_run["out"] / f"worker{index}.log").read_text()
        for bad in ("unable to lock", "in use by another", "aborted", "Traceback"):
            assert bad not in text
    chief_log = (cluster_run["out"] / "worker0.log").read_text()
    assert f"in {run_dir} on 2 replica(s)" in chief_log


def test_kill_a_worker_then_resume(train_dir, tmp_path):
    values = run_values(train_dir, epochs=None, total_steps=60, steps_per_epoch=20)
    values["runtime"]["checkpoint_every"] = 5
    run_dir = tmp_path / "run"
    processes, out, _ = launch(tmp_path, values, run_dir, "first")
    try:
        deadline = time.monotonic() + WAIT
        while not glob.glob(str(run_dir / "checkpoints" / "step-*" / "state.json")):
            assert time.monotonic() < deadline and processes[0].poll() is None, (
                out / "worker0.log"
            ).read_text()[-3000:]
            time.sleep(0.1)
        os.kill(processes[1].pid, signal.SIGKILL)
        killed = time.monotonic()
        processes[0].wait(timeout=120)
        detected = time.monotonic() - killed
    finally:
        stop_workers(processes)
    chief_log = (out / "worker0.log").read_text()
    assert processes[0].returncode == 1, chief_log[-3000:]
    errors = [line for line in chief_log.splitlines() if line.startswith("Error: ")]
    assert errors and "a worker is down or unreachable" in errors[-1]
    assert "start every worker again to resume" in errors[-1]
    assert detected < 120
    saved = sorted(glob.glob(str(run_dir / "checkpoints" / "step-*" / "state.json")))
    newest = json.loads(open(saved[-1]).read())["step"]
    assert 0 < newest < 60

    processes, out, _ = launch(tmp_path, values, run_dir, "second")
    codes = wait_all(processes)
    chief_log = (out / "worker0.log").read_text()
    assert codes == [0, 0], chief_log[-3000:]
    assert f"Resuming {run_dir} at step {newest} of 60" in chief_log
    assert f"at step {newest} of 60" in (out / "worker1.log").read_text()
    final = sorted(glob.glob(str(run_dir / "checkpoints" / "step-*" / "state.json")))[
        -1
    ]
    state = json.loads(open(final).read())
    assert state["step"] == state["optimizer_iterations"] == 60
    rows = history_of(out, 0)
    assert [row["step"] for row in rows] == [20, 40, 60]
    w0, w1 = np.load(out / "weights0.npz"), np.load(out / "weights1.npz")
    for name in w0.files:
        np.testing.assert_array_equal(w0[name], w1[name])
