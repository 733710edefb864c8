"""One-line errors of `enlca train --strategy multi_worker` (real processes)."""

import json
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from multi_worker_launch import free_ports  # noqa: E402
from multi_worker_launch import tf_config  # noqa: E402

ENLCA = os.path.join(os.path.dirname(sys.executable), "enlca")


def train(tmp_path, tf_config_text, *options, timeout=120, worker_timeout=60):
    env = dict(
        os.environ,
        TF_CONFIG=tf_config_text,
        TF_CPP_MIN_LOG_LEVEL="3",
        ENLCA_WORKER_TIMEOUT=str(worker_timeout),
    )
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    from keras_enlca.data import read_image
    from keras_enlca.data import sample_images_dir
    from keras_enlca.data import write_image

    image = read_image(os.path.join(sample_images_dir(), "astronaut.png"))
    write_image(str(data / "a.png"), image[:48, :48])
    command = [
        ENLCA,
        "train",
        "--preset",
        "edsr_small_x2",
        "--data",
        str(data),
        "--patch-size",
        "8",
        "--batch-size",
        "2",
        "--total-steps",
        "1",
        "--strategy",
        "multi_worker",
        "--out",
        str(tmp_path / "run"),
        *options,
    ]
    start = time.monotonic()
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout
    )
    return done, time.monotonic() - start


def error_lines(done):
    return [line for line in done.stderr.splitlines() if line.startswith("Error")]


def test_malformed_tf_config(tmp_path):
    done, _ = train(
        tmp_path,
        '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": '
        '{"type": "worker", "index": 3}}',
    )
    assert done.returncode == 1
    assert error_lines(done) == [
        "Error: TF_CONFIG: task.index 3 is out of range: "
        "cluster.worker has 1 address(es)"
    ]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_unreachable_peer_at_start_up(tmp_path):
    ports = free_ports(2)
    done, seconds = train(tmp_path, tf_config(ports, 0), worker_timeout=8)
    assert done.returncode in (-15, -9)  # ended by the watchdog
    lines = error_lines(done)
    assert len(lines) == 1 and "did not all join within 8 s" in lines[0], done.stderr
    assert f"127.0.0.1:{ports[1]}" in lines[0] and "ENLCA_WORKER_TIMEOUT" in lines[0]
    assert seconds < 100
    assert not (tmp_path / "run").exists()


def test_xla_with_collectives_on_cpu(tmp_path):
    one = json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{free_ports(1)[0]}"]},
            "task": {"type": "worker", "index": 0},
        }
    )
    done, _ = train(tmp_path, one, "--xla")
    assert done.returncode == 1
    lines = error_lines(done)
    assert (
        len(lines) == 1
        and "cannot be used with strategy 'multi_worker' on CPU" in lines[0]
    )
    assert "Traceback" not in done.stderr
