"""Choosing a `tf.distribute` strategy."""

import os
import subprocess
import sys

import keras
import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.training.config import STRATEGIES
from keras_enlca.training.keras_distribution import keras_distribution

# One MirroredStrategy per device list and process: a second instance over
# the same devices can reuse the first one's collective-op keys, and its
# eager all-reduces (`run_eagerly=True`) then fail with a shape mismatch.
_MIRRORED = {}
# The one MultiWorkerMirroredStrategy of the process (collectives are set up
# once, before any TensorFlow op runs).
_MULTI_WORKER = []

WORKER_TIMEOUT_ENV = "ENLCA_WORKER_TIMEOUT"
DEFAULT_WORKER_TIMEOUT = 300
# argv: pid, seconds, message. Ends the process unless stdin closes first.
_WATCHDOG = """
import os, select, signal, sys
pid, seconds, message = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
if not select.select([sys.stdin], [], [], seconds)[0]:
    sys.stderr.write(message + "\\n")
    sys.stderr.flush()
    os.kill(pid, signal.SIGTERM)
    if not select.select([sys.stdin], [], [], 2)[0]:
        os.kill(pid, signal.SIGKILL)  # TensorFlow's wait ignores SIGTERM
"""


def worker_timeout():
    """Seconds to wait for the other workers (`ENLCA_WORKER_TIMEOUT`, default 300)."""
    value = os.environ.get(WORKER_TIMEOUT_ENV, str(DEFAULT_WORKER_TIMEOUT))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if seconds <= 0:
        raise InputError(
            f"{WORKER_TIMEOUT_ENV} must be a positive number of seconds, got {value!r}"
        )
    return seconds


def _multi_worker():
    """Create (once) the MultiWorkerMirroredStrategy of `TF_CONFIG` or Slurm.

    Creating it blocks until every worker has joined; TensorFlow has no
    timeout for that wait, so a watchdog process prints one line on stderr
    and ends the process (SIGTERM, then SIGKILL) when the cluster is not up within
    `worker_timeout()` seconds. Collectives get the same timeout; a worker
    that dies later is noticed by the coordination service's heartbeats
    (about 10 s) and the others fail with `UnavailableError`.
    """
    from keras_enlca.training.cluster_config import cluster_resolver

    if _MULTI_WORKER:
        return _MULTI_WORKER[0]
    resolver = cluster_resolver()
    timeout = worker_timeout()
    peers = ", ".join(
        address
        for job in resolver.cluster_spec().jobs
        for address in resolver.cluster_spec().job_tasks(job)
    )
    # TensorFlow's wait for the cluster holds the interpreter: the watchdog
    # is a separate process, stopped by closing its stdin.
    message = (
        f"Error: the workers ({peers}) did not all join within {timeout:g} s "
        f"(set {WORKER_TIMEOUT_ENV} to wait longer)"
    )
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout), message],
        stdin=subprocess.PIPE,
    )

    def stop_watchdog():
        watchdog.stdin.close()
        watchdog.wait()

    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=resolver, communication_options=options
        )
        # A barrier: every worker is up and the collectives work.
        strategy.reduce("SUM", strategy.run(lambda: tf.ones([])), axis=None).numpy()
    except RuntimeError as error:
        stop_watchdog()
        raise InputError(
            "strategy 'multi_worker' must be created before TensorFlow runs any "
            f"operation in this process ({str(error).splitlines()[0]})"
        ) from None
    except tf.errors.OpError as error:
        stop_watchdog()
        task = f"{resolver.task_type}:{resolver.task_id}"
        raise InputError(
            f"multi-worker start-up failed on {task} ({peers}): "
            f"{error.message.splitlines()[0]}"
        ) from None
    stop_watchdog()
    _MULTI_WORKER.append(strategy)
    return strategy


def is_multi_worker(strategy):
    """True for a `MultiWorkerMirroredStrategy` (several processes)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy):
    """True unless `strategy` is multi-worker and this process is not its chief."""
    if not is_multi_worker(strategy):
        return True
    return bool(strategy.extended.should_checkpoint)


def check_jit_compile(strategy, jit_compile):
    """Refuse XLA with multi-worker collectives on CPU (unimplemented in TF)."""
    if (
        jit_compile
        and is_multi_worker(strategy)
        and not tf.config.list_logical_devices("GPU")
    ):
        raise InputError(
            "runtime.jit_compile (--xla) cannot be used with strategy 'multi_worker' "
            "on CPU: TensorFlow has no XLA collectives there; use --no-xla"
        )


def _mirrored(devices):
    devices = tuple(devices)
    if devices not in _MIRRORED:
        _MIRRORED[devices] = tf.distribute.MirroredStrategy(list(devices))
    return _MIRRORED[devices]


def get_strategy(strategy="auto", devices=None):
    """Return the `tf.distribute.Strategy` to build and train a model in.

    `"auto"` gives a `MirroredStrategy` over all visible GPUs when there is
    more than one, and the default (single-device) strategy otherwise.
    `"mirrored"` always mirrors, over `devices` if given, else over the
    visible GPUs, else over the logical CPUs (useful for tests with several
    logical CPU devices). `"one_device"` is the default strategy. Mirrored
    strategies are created once per device list and reused.

    `"multi_worker"` is a `MultiWorkerMirroredStrategy` over the cluster of
    `TF_CONFIG` or of the Slurm job step (`srun`); create it before anything
    else runs TensorFlow ops. `"auto"` picks it when such a cluster (more
    than one worker) is configured.

    Build and compile the model inside `strategy.scope()`; `fit` then splits
    each global batch over the replicas. Keras 3 `fit` fails under
    `MultiWorkerMirroredStrategy` (keras issue 20585): train with
    `keras_enlca.training.DistributedTrainer`, which `enlca train` uses.

    Under the JAX and PyTorch backends this returns a `KerasDistribution`
    (`keras.distribution.DataParallel` over JAX's local devices for `"auto"`
    and `"mirrored"`); `"multi_worker"` is TensorFlow's.

    Args:
        strategy: `"auto"`, `"one_device"`, `"mirrored"`, `"multi_worker"`
            or a `tf.distribute.Strategy` (returned as is).
        devices: optional list of device names for `"mirrored"`, e.g.
            `["/gpu:0", "/gpu:1"]`.

    Returns:
        A `tf.distribute.Strategy`.

    Example:

    ```python
    strategy = keras_enlca.training.get_strategy()
    with strategy.scope():
        model = keras_enlca.models.from_preset("enlcn_small_x2")
        model.compile()
    model.fit(dataset, epochs=10)
    ```
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if keras.backend.backend() != "tensorflow" and strategy in STRATEGIES:
        return keras_distribution(strategy)
    if strategy not in STRATEGIES:
        raise InputError(
            f"Unknown strategy '{strategy}'. Use one of: {', '.join(STRATEGIES)}."
        )
    if strategy == "multi_worker":
        return _multi_worker()
    if strategy == "auto" and (_MULTI_WORKER or _cluster_configured()):
        return _multi_worker()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if strategy == "one_device":
        return tf.distribute.get_strategy()
    if strategy == "auto":
        if len(gpus) > 1:
            return _mirrored(gpus)
        return tf.distribute.get_strategy()
    if devices is None:
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    return _mirrored(devices)


def _cluster_configured():
    from keras_enlca.training.cluster_config import cluster_configured

    return cluster_configured()
