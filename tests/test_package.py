"""`import keras_enlca` is lazy and leaves the host process alone."""

import json
import os
import subprocess
import sys

import pytest

import keras_enlca


def run_python(code, **env):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")
    }
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_is_lazy_and_leaves_the_environment_alone():
    result = run_python(
        "import json, os, sys\n"
        "before = dict(os.environ)\n"
        "import keras_enlca\n"
        "version = keras_enlca.__version__\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'numpy',"
        " 'keras_enlca.layers') if m in sys.modules)\n"
        "print(json.dumps({'heavy': heavy, 'env_same': dict(os.environ) == before,"
        " 'version': version}))\n"
    )
    assert result == {
        "heavy": [],
        "env_same": True,
        "version": keras_enlca.version.__version__,
    }


def test_runtime_parts_import_without_tensorflow():
    result = run_python(
        "import json, sys\n"
        "from keras_enlca.inference import LiteRTRunner, ModelRunner, model_info\n"
        "from keras_enlca.evaluation import TiledUpscaler, psnr, score_folders\n"
        "from keras_enlca.data import read_image, write_image\n"
        "print(json.dumps({'tf': 'tensorflow' in sys.modules,"
        " 'keras': 'keras' in sys.modules, 'info': callable(model_info)}))\n"
    )
    assert result == {"tf": False, "keras": False, "info": True}


def test_subpackages_load_on_first_use():
    result = run_python(
        "import json, os, sys\n"
        # Keras imports JAX where installed, and JAX sets TF_CPP_MIN_LOG_LEVEL.
        "import keras\n"
        "before = dict(os.environ)\n"
        "import keras_enlca\n"
        "names = keras_enlca.models.list_presets()\n"
        "changed = sorted(k for k in os.environ"
        " if os.environ.get(k) != before.get(k))\n"
        "print(json.dumps({'presets': len(names), 'changed': changed,"
        " 'layers': 'keras_enlca.layers' in sys.modules,"
        " 'dir': 'training' in dir(keras_enlca)}))\n"
    )
    assert result["presets"] == len(keras_enlca.models.list_presets()) > 0
    assert result["layers"] and result["dir"]
    # TensorFlow itself may set variables when it loads; the package sets none.
    assert "KERAS_BACKEND" not in result["changed"]
    assert "TF_CPP_MIN_LOG_LEVEL" not in result["changed"]


def test_export_model_stays_the_function_after_its_module_loads():
    import keras_enlca.export.export_model  # noqa: F401 - binds the submodule name
    from keras_enlca.export import export_model
    from keras_enlca.inference import model_info

    assert callable(export_model) and export_model.__name__ == "export_model"
    assert callable(model_info) and model_info.__name__ == "model_info"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        getattr(keras_enlca, "no_such_thing")  # noqa: B009 - the lookup is the test
    with pytest.raises(AttributeError, match="no_such_thing"):
        getattr(keras_enlca.export, "no_such_thing")  # noqa: B009
