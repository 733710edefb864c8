import json

import pytest
import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.training import get_strategy


def test_auto_is_one_device_without_gpus():
    assert tf.config.list_logical_devices("GPU") == []
    strategy = get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert strategy is tf.distribute.get_strategy()


def test_mirrored_over_logical_cpus():
    strategy = get_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert (
        strategy.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU")) == 2
    )
    assert get_strategy(strategy) is strategy
    # One instance per device list (a second one breaks eager all-reduces).
    assert get_strategy("mirrored") is strategy
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert get_strategy("mirrored", devices=devices) is strategy


def test_unknown_strategy():
    with pytest.raises(InputError, match="'tpu'"):
        get_strategy("tpu")


def test_multi_worker_after_tensorflow_started(monkeypatch):
    # This process has run TensorFlow ops: collectives can no longer be set up.
    tf.constant(1.0) + 1
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {
                "cluster": {"worker": ["127.0.0.1:1"]},
                "task": {"type": "worker", "index": 0},
            }
        ),
    )
    with pytest.raises(InputError) as info:
        get_strategy("multi_worker")
    assert "must be created before TensorFlow runs any operation" in str(info.value)
    assert "\n" not in str(info.value)


def test_multi_worker_needs_a_cluster(monkeypatch):
    for name in ("TF_CONFIG", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match="needs a cluster: set TF_CONFIG"):
        get_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(InputError, match="^TF_CONFIG: 'cluster' is missing"):
        get_strategy("auto")
