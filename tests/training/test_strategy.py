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
    assert strategy.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU")) == 2
    assert get_strategy(strategy) is strategy
    # One instance per device list (a second one breaks eager all-reduces).
    assert get_strategy("mirrored") is strategy
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert get_strategy("mirrored", devices=devices) is strategy


def test_unknown_strategy():
    with pytest.raises(InputError, match="'tpu'"):
        get_strategy("tpu")
