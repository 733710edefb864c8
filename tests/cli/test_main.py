"""The `enlca` group: a fast `--help`, and TensorFlow's start-up kept quiet."""

import json
import os
import subprocess
import sys


def run_python(code, **env):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ENLCA_DEBUG", "TF_CPP_MIN_LOG_LEVEL")
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )


def test_help_and_version_import_only_click():
    for flag in ("--help", "--version"):
        done = run_python(
            "import json, sys\n"
            "from keras_enlca.cli.main import cli\n"
            f"cli.main(args=[{flag!r}], prog_name='enlca', standalone_mode=False)\n"
            "heavy = sorted(m for m in ('numpy', 'PIL', 'tensorflow', 'keras',"
            " 'ai_edge_litert') if m in sys.modules)\n"
            "print(json.dumps(heavy))\n"
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1]) == []
        assert done.stderr == ""


def test_tensorflow_loads_without_start_up_lines():
    code = (
        "from keras_enlca.cli.main import quiet_tensorflow\n"
        "quiet_tensorflow()\n"
        "import keras\n"
        "import tensorflow as tf\n"
        "print(tf.constant(2.0).numpy() * 3)\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines() == ["6.0"]
    assert done.stderr == ""


def test_a_failing_tensorflow_command_prints_one_line(tmp_path):
    model = tmp_path / "broken.keras"
    model.write_bytes(b"not a zip archive")
    done = subprocess.run(
        [sys.executable, "-m", "keras_enlca.cli.main", "info", str(model)],
        capture_output=True,
        text=True,
        timeout=300,
        env={
            k: v
            for k, v in os.environ.items()
            if k not in ("ENLCA_DEBUG", "TF_CPP_MIN_LOG_LEVEL")
        },
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("Error: ") and str(model) in lines[0]
