"""Where the workers of a multi-worker run are: TF_CONFIG or a Slurm job step.

`MultiWorkerMirroredStrategy` reads the cluster from a cluster resolver.
This module checks the environment first, so that a malformed `TF_CONFIG`
gives a one-line `InputError` naming the bad part instead of a TensorFlow
traceback (or a hang on a wrong address), and tells `get_strategy("auto")`
whether a cluster is configured at all. Nothing here imports TensorFlow at
module level or runs a TensorFlow op.
"""

import json
import os
import re
import shutil

TF_CONFIG = "TF_CONFIG"
# Jobs of a MultiWorkerMirroredStrategy cluster (every one trains).
TRAINING_JOBS = ("chief", "worker")
# Slurm: the first port of the workers on each node (one port per task).
SLURM_PORT_BASE = 8888
SLURM_PORT_ENV = "ENLCA_SLURM_PORT_BASE"

_ADDRESS = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):(\d{1,5})$")


def _error(message):
    from keras_enlca.errors import InputError

    return InputError(f"{TF_CONFIG}: {message}")


def parse_tf_config(text):
    """Check a `TF_CONFIG` string; return `(cluster, task_type, task_index)`.

    `cluster` maps job names to lists of `host:port` addresses. Raises an
    `InputError` (one line, starting with `TF_CONFIG:`) for bad JSON, a
    missing or malformed `cluster` or `task`, a task index out of range, a
    bad address, a duplicated address, or parameter-server jobs (which
    `MultiWorkerMirroredStrategy` does not use).

    Example:

    ```python
    parse_tf_config(
        '{"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]},'
        ' "task": {"type": "worker", "index": 1}}'
    )
    # ({'worker': ['10.0.0.1:2222', '10.0.0.2:2222']}, 'worker', 1)
    ```
    """
    try:
        config = json.loads(text)
    except ValueError as error:
        raise _error(f"not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise _error("must be a JSON object with 'cluster' and 'task'")
    cluster = config.get("cluster")
    task = config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise _error("'cluster' is missing or not an object of job: [host:port, ...]")
    if not isinstance(task, dict):
        raise _error(
            '\'task\' is missing or not an object like {"type": "worker", "index": 0}'
        )
    seen = set()
    for job, addresses in cluster.items():
        if job not in TRAINING_JOBS + ("evaluator",):
            raise _error(
                f"job '{job}' is not supported (multi-worker training uses "
                f"{' and '.join(TRAINING_JOBS)} jobs)"
            )
        if (
            isinstance(addresses, str)
            or not isinstance(addresses, list)
            or not addresses
        ):
            raise _error(
                f"cluster.{job} must be a non-empty list of 'host:port' strings"
            )
        for address in addresses:
            match = _ADDRESS.match(address) if isinstance(address, str) else None
            if match is None or not 0 < int(match.group(2)) < 65536:
                raise _error(
                    f"cluster.{job}: bad address {address!r} (want 'host:port')"
                )
            if address in seen:
                raise _error(f"address {address} appears twice in 'cluster'")
            seen.add(address)
    if len(cluster.get("chief", [])) > 1:
        raise _error("cluster.chief must hold exactly one address")
    task_type = task.get("type")
    index = task.get("index", 0)
    if task_type not in cluster:
        raise _error(
            f"task.type {task_type!r} is not a job of 'cluster' ({', '.join(cluster)})"
        )
    if isinstance(index, bool) or not isinstance(index, int):
        raise _error(f"task.index must be an integer, got {index!r}")
    if not 0 <= index < len(cluster[task_type]):
        raise _error(
            f"task.index {index} is out of range: cluster.{task_type} has "
            f"{len(cluster[task_type])} address(es)"
        )
    return cluster, task_type, index


def tf_config_workers():
    """The number of training tasks in `TF_CONFIG` (0 when it is not set)."""
    text = os.environ.get(TF_CONFIG, "").strip()
    if not text:
        return 0
    cluster, _, _ = parse_tf_config(text)
    return sum(len(cluster.get(job, [])) for job in TRAINING_JOBS)


def slurm_tasks():
    """The number of tasks of the current Slurm job step (0 outside `srun`)."""
    if "SLURM_PROCID" not in os.environ:
        return 0
    try:
        return int(os.environ.get("SLURM_STEP_NUM_TASKS", "0"))
    except ValueError:
        return 0


def cluster_configured():
    """True when `TF_CONFIG` lists several workers or `srun` started several tasks."""
    return tf_config_workers() > 1 or slurm_tasks() > 1


def cluster_resolver():
    """The cluster resolver of the environment, checked.

    `TF_CONFIG` (validated by `parse_tf_config`) wins; otherwise a Slurm job
    step started by `srun` (ports from `ENLCA_SLURM_PORT_BASE`, default
    8888, one per task on a node). Raises an `InputError` when neither
    describes a cluster.
    """
    import tensorflow as tf

    from keras_enlca.errors import InputError

    resolvers = tf.distribute.cluster_resolver
    if os.environ.get(TF_CONFIG, "").strip():
        tf_config_workers()  # validates
        return resolvers.TFConfigClusterResolver()
    if slurm_tasks() >= 1:
        try:
            port_base = int(os.environ.get(SLURM_PORT_ENV, SLURM_PORT_BASE))
        except ValueError:
            raise InputError(
                f"{SLURM_PORT_ENV} must be a port number, got "
                f"{os.environ[SLURM_PORT_ENV]!r}"
            ) from None
        gpus_per_node = gpus_per_task = None
        if (
            "CUDA_VISIBLE_DEVICES" not in os.environ
            and shutil.which("nvidia-smi") is None
        ):
            # A CPU node: the resolver would call the missing nvidia-smi, and
            # it needs a non-zero "GPU" per task (the CUDA_VISIBLE_DEVICES it
            # then sets is ignored without GPUs).
            gpus_per_node, gpus_per_task = max(slurm_tasks(), 1), 1
        try:
            return resolvers.SlurmClusterResolver(
                port_base=port_base,
                gpus_per_node=gpus_per_node,
                gpus_per_task=gpus_per_task,
            )
        except (RuntimeError, ValueError, KeyError) as error:
            raise InputError(f"Slurm allocation: {error}") from None
    raise InputError(
        "strategy 'multi_worker' needs a cluster: set TF_CONFIG on every worker "
        "or start the workers with srun (see the README, 'Several machines')"
    )
