"""`import keras_enlca` registers the package's Keras classes, lazily.

Plain `keras.saving.load_model` (safe_mode=True) loads what the library
saves, in a fresh process that imports nothing else; the import itself stays
free of Keras until Keras is imported.
"""

import os
import pathlib
import re
import subprocess
import sys

import pytest

import keras_enlca

PACKAGE = pathlib.Path(keras_enlca.__file__).parent
ROOT = PACKAGE.parent


def _python(code, **env):
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_every_serializable_module_is_registered_on_import():
    defining = set()
    for path in PACKAGE.rglob("*.py"):
        if "@keras.saving.register_keras_serializable" in path.read_text():
            parts = path.relative_to(ROOT).with_suffix("").parts
            defining.add(".".join(parts))
    listed = set(keras_enlca.SERIALIZABLE_MODULES)
    # `keras_enlca.models` imports its modules and the layers.
    covered = {
        m
        for m in defining
        if m in listed
        or m.startswith("keras_enlca.models.")
        or m.startswith("keras_enlca.layers.")
    }
    assert covered == defining, defining - covered


def test_no_private_keras_imports():
    offenders = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+keras\.src\b", path.read_text(), re.M)
    ]
    assert offenders == []


def test_import_does_not_import_keras():
    modules = _python(
        "import sys, keras_enlca; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') "
        "if m in sys.modules))"
    )
    assert modules == "[]"


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_fresh_process_loads_network_with_reference_optimizer(tmp_path):
    import keras
    import numpy as np

    from keras_enlca.training import reference_optimizer

    model = keras_enlca.models.from_preset("enlcn_small_x2", num_blocks=1, filters=16)
    model.compile(
        optimizer=reference_optimizer(2e-4, milestones=(2,), steps_per_epoch=1)
    )
    x = np.random.default_rng(0).random((2, 12, 12, 3), dtype=np.float32)
    model.fit(x, x.repeat(2, 1).repeat(2, 2), batch_size=2, epochs=1, verbose=0)
    path = tmp_path / "enlcn.keras"
    model.save(path)
    expected = float(np.sum(keras.ops.convert_to_numpy(model(x))))
    np.save(tmp_path / "x.npy", x)
    load = (
        f"m = keras.saving.load_model({str(path)!r}, safe_mode=True); "
        f"import numpy as np; x = np.load({str(tmp_path / 'x.npy')!r}); "
        "print(type(m).__name__, type(m.optimizer).__name__, "
        "type(m.optimizer.learning_rate).__name__ if hasattr(m.optimizer, "
        "'_learning_rate') else '', "
        "float(np.sum(keras.ops.convert_to_numpy(m(x)))))"
    )
    for order in ("import keras, keras_enlca; ", "import keras_enlca, keras; "):
        for backend in ("tensorflow", "jax"):
            line = _python(order + load, KERAS_BACKEND=backend).split()
            assert line[:2] == ["ENLCN", "ReferenceAdam"], line
            assert abs(float(line[-1]) - expected) <= 1e-5 * abs(expected)
    schedule = _python(
        f"import keras, keras_enlca; m = keras.saving.load_model({str(path)!r}); "
        "print(type(m.optimizer._learning_rate).__name__)"
    )
    assert schedule == "StepDecay"
