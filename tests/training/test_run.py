import glob
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import yaml

from keras_enlca.data import read_image
from keras_enlca.data import sample_images_dir
from keras_enlca.data import write_image
from keras_enlca.errors import InputError
from keras_enlca.training.config import config_from_dict
from keras_enlca.training.config import load_config
from keras_enlca.training.run import load_run_model
from keras_enlca.training.run import run_training
from keras_enlca.training.run_checkpoint import RunCheckpoint


def tiny_values(train_dir, validation_dir=None, **sections):
    """A run small enough for a test: 2 residual blocks, 8 filters, 12x12 LR patches."""
    values = {
        "model": {"preset": "enlcn_small_x2", "args": {"num_blocks": 2, "filters": 8}},
        "data": {"train": {"dir": str(train_dir)}, "patch_size": 12, "batch_size": 2},
        "schedule": {"epochs": 2, "steps_per_epoch": 3, "decay_milestones": [1]},
        "contrastive": {"warmup_steps": 2},
        "runtime": {"checkpoint_every": 2},
    }
    if validation_dir is not None:
        values["data"]["validation"] = {"dir": str(validation_dir)}
    for section, update in sections.items():
        values.setdefault(section, {}).update(update)
    return values


@pytest.fixture(scope="module")
def image_dirs(tmp_path_factory):
    """Training: 4 bundled photos; validation: a 48x48 crop of the fifth."""
    root = tmp_path_factory.mktemp("images")
    train, valid = root / "train", root / "valid"
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        image = read_image(os.path.join(sample_images_dir(), f"{name}.png"))
        write_image(str(train / f"{name}.png"), image[:96, :96])
    hubble = read_image(os.path.join(sample_images_dir(), "hubble.png"))
    write_image(str(valid / "hubble.png"), hubble[60:108, 60:108])
    return train, valid


RESUME_SECTIONS = {
    "schedule": {"epochs": 4, "steps_per_epoch": 5},
    "runtime": {"checkpoint_every": 3},
}


@pytest.fixture(scope="module")
def straight_run(image_dirs, tmp_path_factory):
    """The config of the kill/resume test, run without interruption."""
    train, valid = image_dirs
    config_path = tmp_path_factory.mktemp("straight") / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(tiny_values(train, valid, **RESUME_SECTIONS)))
    result = run_training(
        load_config(config_path), config_path.parent / "run", log=lambda line: None
    )
    state = RunCheckpoint(config_path.parent / "run" / "checkpoints").latest_state()
    return config_path, result, state


def _lines():
    lines = []
    return lines, lines.append


def test_run_writes_everything_and_resumes_complete(image_dirs, straight_run):
    train, valid = image_dirs
    config_path, result, _ = straight_run
    run_dir = config_path.parent / "run"
    config = load_config(config_path)
    assert (
        result.status == "complete" and result.step == 20 and result.total_steps == 20
    )
    assert sorted(os.listdir(run_dir)) == [
        ".lock",
        "checkpoints",
        "config.yaml",
        "history.csv",
        "history.json",
        "logs",
        "model.keras",
    ]
    # The resolved config reloads to the same config.
    assert load_config(run_dir / "config.yaml").to_dict() == config.to_dict()

    history = json.loads((run_dir / "history.json").read_text())
    assert history == result.history
    assert [(r["epoch"], r["step"], r["steps"]) for r in history] == [
        (1, 5, 5),
        (2, 10, 5),
        (3, 15, 5),
        (4, 20, 5),
    ]
    # Step decay at epoch 1: lr 2e-4 (the small recipe), then 1e-4.
    assert [r["learning_rate"] for r in history] == [2e-4, 1e-4, 1e-4, 1e-4]
    # After the 2-step warm-up every step adds 1e-3 x the contrastive loss.
    for row in history[1:]:
        assert row["loss"] == pytest.approx(
            row["l1"] + 1e-3 * row["contrastive"], rel=1e-5
        )
    assert history[0]["loss"] > history[0]["l1"]  # steps 3-5 of 5 had it
    assert all(0 < r["val_psnr"] < 60 and 0 < r["val_ssim"] <= 1 for r in history)
    assert (
        (run_dir / "history.csv").read_text().splitlines()[0].startswith("epoch,step,")
    )
    assert len((run_dir / "history.csv").read_text().splitlines()) == 5
    import tensorflow as tf

    def tags(folder):
        paths = glob.glob(str(run_dir / "logs" / folder / "events.out.tfevents.*"))
        return {
            value.tag
            for path in paths
            for event in tf.compat.v1.train.summary_iterator(path)
            for value in event.summary.value
        }

    assert {
        "epoch_loss",
        "epoch_l1",
        "epoch_contrastive",
        "epoch_learning_rate",
    } <= tags("train")
    assert {"epoch_psnr", "epoch_ssim"} <= tags("validation")

    # Two checkpoints kept; the last one has every step and the history.
    checkpoint = RunCheckpoint(run_dir / "checkpoints")
    assert [s for s, _ in checkpoint.checkpoints()] == [18, 20]
    state = checkpoint.latest_state()
    assert state["optimizer_iterations"] == 20
    assert state["state"]["history"] == history

    # model.keras: float32, no optimizer, same function as the checkpoint.
    final = keras.saving.load_model(run_dir / "model.keras")
    assert (
        final.dtype_policy.name == "float32"
        and getattr(final, "optimizer", None) is None
    )
    assert final.scale == 2 and final.num_blocks == 2 and final.filters == 8
    from keras_enlca.training.run import build_model
    from keras_enlca.training.run import build_optimizer

    restored = build_model(config, "enlcn_small_x2")
    restored.compile(optimizer=build_optimizer(config))
    restored.build((None, None, None, 3))
    RunCheckpoint(run_dir / "checkpoints").restore(restored)
    x = np.random.default_rng(0).random((1, 20, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(
        final.predict(x, verbose=0), restored.predict(x, verbose=0), atol=1e-6
    )
    # The last validation scores are those of the final model.
    from keras_enlca.evaluation import evaluate

    report = evaluate(final, str(valid), scale=2)
    assert history[-1]["val_psnr"] == pytest.approx(
        report.datasets[0]["psnr"], abs=1e-4
    )
    assert history[-1]["val_ssim"] == pytest.approx(
        report.datasets[0]["ssim"], abs=1e-6
    )

    # Again: complete, nothing trained.
    lines, log = _lines()
    again = run_training(config, run_dir, log=log)
    assert again.already_complete and again.step == 20 and again.history == history
    assert "is complete: 20 of 20 steps done" in lines[0]

    # Killed after the last checkpoint but before model.keras: written now,
    # without training and without the data.
    os.remove(run_dir / "model.keras")
    moved = load_config(config_path, overrides=["data.train.dir=/nonexistent"])
    lines, log = _lines()
    again = run_training(moved, run_dir, log=log)
    assert (again.status, again.step, again.already_complete) == ("complete", 20, True)
    assert lines[-1] == f"Done: 20 steps. Model: {run_dir / 'model.keras'}"
    np.testing.assert_allclose(
        keras.saving.load_model(run_dir / "model.keras").predict(x, verbose=0),
        final.predict(x, verbose=0),
        atol=1e-6,
    )

    # More epochs: continues from step 20 to 25 with the new config saved.
    longer = load_config(config_path, overrides=["schedule.epochs=5"])
    lines, log = _lines()
    result = run_training(longer, run_dir, log=log)
    assert (result.status, result.resumed_from, result.step) == ("complete", 20, 25)
    assert (
        "Config changed since the last invocation: data.train.dir, schedule.epochs"
        in lines
    )
    assert any("epoch 5/5  step 25/25" in line and "val_psnr" in line for line in lines)
    assert [r["step"] for r in result.history] == [5, 10, 15, 20, 25]
    assert (
        RunCheckpoint(run_dir / "checkpoints").latest_state()["optimizer_iterations"]
        == 25
    )
    assert (
        yaml.safe_load((run_dir / "config.yaml").read_text())["schedule"]["epochs"] == 5
    )

    # A different network cannot resume this folder.
    other = load_config(config_path, overrides=["model.args.num_blocks=3"])
    with pytest.raises(
        InputError, match="holds a run with a different model.args.num_blocks"
    ):
        run_training(other, run_dir, log=log)


def test_sigterm_saves_and_stops_and_the_next_call_continues(image_dirs, tmp_path):
    import threading

    train, _ = image_dirs
    values = tiny_values(
        train,
        model={"preset": "edsr_small_x2", "args": {"num_blocks": 1, "filters": 8}},
        schedule={"epochs": 100, "steps_per_epoch": 5},
        runtime={"checkpoint_every": 1000},
    )
    run_dir = tmp_path / "run"
    before = signal.getsignal(signal.SIGTERM)

    def terminate_after_first_epoch():
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoints" / "step-000000005").exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=terminate_after_first_epoch)
    thread.start()
    lines, log = _lines()
    result = run_training(config_from_dict(values), run_dir, log=log)
    thread.join()
    assert (result.status, result.stop_reason, result.model_path) == (
        "interrupted",
        "SIGTERM",
        None,
    )
    assert 5 < result.step < 500
    assert any(line.startswith("SIGTERM: saving a checkpoint") for line in lines)
    assert lines[-1] == (
        f"Stopped (SIGTERM) at step {result.step} of 500; "
        "run the same command again to continue."
    )
    assert RunCheckpoint(run_dir / "checkpoints").latest_state()["step"] == result.step
    assert signal.getsignal(signal.SIGTERM) is before
    # The unfinished run's newest checkpoint as a float32 model.
    model, step = load_run_model(run_dir)
    assert step == result.step and model.dtype_policy.name == "float32"
    assert type(model).__name__ == "EDSR" and model.num_blocks == 1

    values["schedule"]["epochs"] = -(-result.step // 5) + 1
    resumed = run_training(config_from_dict(values), run_dir, log=lambda line: None)
    assert (resumed.status, resumed.resumed_from) == ("complete", result.step)
    assert resumed.step == values["schedule"]["epochs"] * 5
    assert (
        RunCheckpoint(run_dir / "checkpoints").latest_state()["optimizer_iterations"]
        == resumed.step
    )


def test_divergence_stops_without_saving_nan_weights(image_dirs, tmp_path):
    train, _ = image_dirs
    values = tiny_values(
        train,
        model={"preset": "edsr_small_x2", "args": {"num_blocks": 1, "filters": 8}},
        schedule={"learning_rate": 1e30},
        runtime={"checkpoint_every": 1},
    )
    with pytest.raises(
        InputError,
        match=r"training diverged: the loss is (nan|inf) at step 2 \(try a lower "
        r"'schedule.learning_rate'\); the checkpoint of step 1 is kept",
    ):
        run_training(config_from_dict(values), tmp_path / "run", log=lambda line: None)
    assert [
        s for s, _ in RunCheckpoint(tmp_path / "run" / "checkpoints").checkpoints()
    ] == [1]


def test_mirrored_strategy_and_mixed_precision(image_dirs, tmp_path):
    import h5py
    import tensorflow as tf

    assert len(tf.config.list_logical_devices("CPU")) == 2  # tests/conftest.py
    train, valid = image_dirs
    values = tiny_values(
        train,
        valid,
        runtime={"strategy": "mirrored", "mixed_precision": True},
        schedule={"epochs": 1},
    )
    lines, log = _lines()
    result = run_training(config_from_dict(values), tmp_path / "run", log=log)
    assert "on 2 replica(s)" in lines[0]
    assert result.step == 3
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    checkpoint = RunCheckpoint(tmp_path / "run" / "checkpoints")
    assert checkpoint.latest_state()["optimizer_iterations"] == 3
    with h5py.File(
        os.path.join(checkpoint.checkpoints()[-1][1], "model.weights.h5")
    ) as f:
        assert "optimizer/inner_optimizer" in f  # the loss-scaling optimizer
    final = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert final.dtype_policy.name == "float32"
    # Validation ran on the mirrored mixed-precision model; the float32 copy
    # scores within float16 rounding of it.
    from keras_enlca.evaluation import evaluate

    report = evaluate(final, str(valid), scale=2)
    assert result.history[0]["val_psnr"] == pytest.approx(
        report.datasets[0]["psnr"], abs=0.05
    )
    # Its checkpoints cannot continue in float32.
    values["runtime"]["mixed_precision"] = False
    values["schedule"]["epochs"] = 2
    with pytest.raises(
        InputError, match="holds a run with a different runtime.mixed_precision"
    ):
        run_training(config_from_dict(values), tmp_path / "run", log=log)


def test_input_errors(image_dirs, tmp_path):
    train, _ = image_dirs
    missing = config_from_dict(tiny_values(tmp_path / "nothing"))
    with pytest.raises(
        InputError, match="'data.train.dir': folder '.*nothing' does not exist"
    ):
        run_training(missing, tmp_path / "run", log=lambda line: None)
    paired = config_from_dict(
        tiny_values(
            train, data={"train": {"dir": str(train), "lr_dir": str(tmp_path / "lr")}}
        )
    )
    with pytest.raises(
        InputError, match="'data.train.lr_dir': folder '.*lr' does not exist"
    ):
        run_training(paired, tmp_path / "run", log=lambda line: None)
    from keras_enlca.training.run import _run_lock

    (tmp_path / "busy").mkdir()
    with _run_lock(str(tmp_path / "busy")):
        with pytest.raises(
            InputError,
            match="run folder '.*busy' is in use by another training process",
        ):
            run_training(
                config_from_dict(tiny_values(train)),
                tmp_path / "busy",
                log=lambda line: None,
            )
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(InputError, match="file is a file, not a folder"):
        run_training(
            config_from_dict(tiny_values(train)), blocked / "run", log=lambda line: None
        )


def _cli(*args):
    return [sys.executable, "-m", "keras_enlca.cli.main", "train", *args]


@pytest.mark.slow
def test_killed_run_resumes_with_the_same_number_of_steps(straight_run, tmp_path):
    """A real `enlca train` process is SIGKILLed mid-run and started again."""
    config_path = straight_run[0]
    run_dir = tmp_path / "killed"
    command = _cli("--config", str(config_path), "--out", str(run_dir))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
    )
    checkpoints = RunCheckpoint(run_dir / "checkpoints")
    deadline = time.monotonic() + 240
    try:
        # Kill between checkpoints: after step 3 is saved, before step 20.
        while time.monotonic() < deadline and process.poll() is None:
            found = [s for s, _ in checkpoints.checkpoints()]
            if found and found[-1] >= 3:
                break
            time.sleep(0.01)
        assert process.poll() is None, process.stdout.read().decode()
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    killed_at = [s for s, _ in checkpoints.checkpoints()][-1]
    assert 3 <= killed_at < 20
    assert not (run_dir / "model.keras").exists()

    second = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=240
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"Resuming {run_dir} at step {killed_at} of 20" in second.stdout
    assert "Done: 20 steps." in second.stdout

    # The same config run without interruption.
    _, reference, straight = straight_run
    resumed = checkpoints.latest_state()
    assert resumed["step"] == straight["step"] == reference.step == 20
    assert resumed["optimizer_iterations"] == straight["optimizer_iterations"] == 20
    rows = [(r["epoch"], r["step"]) for r in resumed["state"]["history"]]
    assert (
        rows
        == [(r["epoch"], r["step"]) for r in reference.history]
        == [(1, 5), (2, 10), (3, 15), (4, 20)]
    )
    # Resumed mid-epoch: that epoch's row counts only the steps run after it.
    steps = [r["steps"] for r in resumed["state"]["history"]]
    assert sum(steps) == 20 - killed_at + (killed_at // 5) * 5
    assert keras.saving.load_model(run_dir / "model.keras").scale == 2


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _debris(run_dir):
    """Temporaries of interrupted writes left in a run folder."""
    names = (
        os.listdir(run_dir / "checkpoints")
        if (run_dir / "checkpoints").is_dir()
        else []
    )
    found = [n for n in names if n.startswith(".step-")]
    found += [n for n in os.listdir(run_dir) if n.startswith((".model.", ".history."))]
    return found


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("Error")]


@pytest.fixture
def tmpfs(tmp_path):
    """A real 500 KiB file system (tmpfs), mounted under the test's folder."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=500k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.slow
def test_full_disk_stops_cleanly_and_resumes_after_space_is_freed(
    image_dirs, tmp_path, tmpfs
):
    """Checkpoints of ~150 KB fill a 500 KiB tmpfs within 90 steps."""
    train, _ = image_dirs
    config_path = tmp_path / "tiny.yaml"
    values = tiny_values(train, schedule={"epochs": 30, "steps_per_epoch": 3})
    config_path.write_text(yaml.safe_dump(values))
    run_dir = tmpfs / "run"
    command = _cli("--config", str(config_path), "--out", str(run_dir))
    first = subprocess.run(
        command, capture_output=True, text=True, env=_env(), timeout=300
    )
    assert first.returncode == 1, first.stdout + first.stderr  # not 139 (segfault)
    assert "Traceback" not in first.stderr
    errors = _error_lines(first.stderr)
    assert len(errors) == 1, first.stderr
    assert "No space left on device" in errors[0] and str(run_dir) in errors[0]
    checkpoints = RunCheckpoint(run_dir / "checkpoints")
    kept = checkpoints.latest_state()
    assert 0 < kept["step"] < 90
    # Every kept checkpoint is complete and intact; no half-written one.
    assert _debris(run_dir) == []
    history = json.loads((run_dir / "history.json").read_text())
    assert max(row["step"] for row in history) <= kept["step"]

    subprocess.run(["mount", "-o", "remount,size=4m", str(tmpfs)], check=True)
    second = subprocess.run(
        command, capture_output=True, text=True, env=_env(), timeout=300
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"Resuming {run_dir} at step {kept['step']} of 90" in second.stdout
    final = checkpoints.latest_state()
    assert final["step"] == final["optimizer_iterations"] == 90
    rows = json.loads((run_dir / "history.json").read_text())
    assert [row["step"] for row in rows] == list(range(3, 91, 3))
    assert _debris(run_dir) == []


@pytest.mark.slow
def test_many_random_kills_end_with_the_exact_steps_and_history(image_dirs, tmp_path):
    """10 SIGKILLs at random times, half of them inside a checkpoint write."""
    import random

    train, _ = image_dirs
    config_path = tmp_path / "tiny.yaml"
    values = tiny_values(
        train,
        schedule={"epochs": 8, "steps_per_epoch": 5},
        runtime={"checkpoint_every": 1},
    )
    config_path.write_text(yaml.safe_dump(values))
    run_dir = tmp_path / "run"
    command = _cli("--config", str(config_path), "--out", str(run_dir))
    checkpoints = RunCheckpoint(run_dir / "checkpoints", warn=lambda line: None)
    rng = random.Random(10)
    kills = inside_writes = 0
    for attempt in range(10):
        start = checkpoints.latest_state()
        start = start["step"] if start else 0
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env()
        )
        deadline = time.monotonic() + 120
        try:
            if attempt % 2 == 0:
                # Wait for a checkpoint write to be under way, then kill.
                while process.poll() is None and time.monotonic() < deadline:
                    if any(
                        n.startswith(".step-")
                        for n in _listdir(run_dir / "checkpoints")
                    ):
                        break
            else:
                while process.poll() is None and time.monotonic() < deadline:
                    found = checkpoints.checkpoints()
                    if found and found[-1][0] > start:
                        break
                    time.sleep(0.01)
                time.sleep(rng.uniform(0, 0.6))
            if process.poll() is not None:
                break
            process.send_signal(signal.SIGKILL)
            kills += 1
        finally:
            process.wait()
        inside_writes += any(
            n.startswith(".step-") for n in _listdir(run_dir / "checkpoints")
        )
    assert kills >= 7
    # At least one kill landed inside a write and left a temporary behind.
    assert inside_writes >= 1
    final = subprocess.run(
        command, capture_output=True, text=True, env=_env(), timeout=240
    )
    assert final.returncode == 0, final.stdout + final.stderr
    state = checkpoints.latest_state()
    assert state["step"] == state["optimizer_iterations"] == 40
    rows = json.loads((run_dir / "history.json").read_text())
    assert [(r["epoch"], r["step"]) for r in rows] == [(e, 5 * e) for e in range(1, 9)]
    assert rows == state["state"]["history"]
    assert _debris(run_dir) == []
    from keras_enlca.models import ENLCN  # registers the class for loading

    assert isinstance(keras.saving.load_model(run_dir / "model.keras"), ENLCN)


def _listdir(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []
