"""The hooks that make a run folder's training work on several workers.

Every worker runs the same `run_training` code, so that they stay in step
(same steps, same checkpoints, same validation); only their folders differ:

- the chief (worker 0, or the `chief` task) writes the run folder;
- every other worker writes into a scratch folder of its own outside the run
  folder (`worker_run_dir`), removed when the process exits;
- after the chief has restored the newest checkpoint, its weights, optimizer
  state and step are broadcast to the others (`sync_from_chief`): a resume
  needs the run folder on the chief only, not a shared file system.
"""

import atexit
import shutil
import tempfile

import numpy as np


def worker_run_dir(strategy, run_dir):
    """`run_dir` on the chief; a fresh scratch folder on the other workers."""
    from keras_enlca.training.strategy import is_chief

    if is_chief(strategy):
        return run_dir
    task = strategy.cluster_resolver.task_id
    scratch = tempfile.mkdtemp(prefix=f"enlca-worker{task}-")
    atexit.register(shutil.rmtree, scratch, True)
    return scratch


def sync_from_chief(strategy, model, checkpoint, step):
    """Give every worker the chief's variables and step; return the step.

    One all-reduce of all model and optimizer variables (float64 holds
    float32 values and step counters exactly), in which only the chief
    contributes. `checkpoint` (a `RunCheckpoint`) gets the step, so a
    worker does not save it again at once.
    """
    import tensorflow as tf

    from keras_enlca.training.strategy import is_multi_worker

    if not is_multi_worker(strategy):
        return step
    variables, seen = [], set()
    extra = model.optimizer.variables if model.optimizer is not None else []
    for variable in list(model.weights) + list(extra):
        if id(variable) not in seen:
            seen.add(id(variable))
            variables.append(variable)
    parts = [np.asarray([step], np.float64)]
    parts += [np.ravel(np.asarray(v.numpy(), np.float64)) for v in variables]
    flat = tf.constant(np.concatenate(parts))

    def from_first_replica():
        # Replica 0 lives on the chief (worker 0 or the `chief` task).
        context = tf.distribute.get_replica_context()
        keep = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float64)
        return context.all_reduce("SUM", flat * keep)

    total = strategy.experimental_local_results(strategy.run(from_first_replica))
    total = total[0].numpy()
    offset = 1
    for variable in variables:
        size = int(np.prod(variable.shape))
        value = total[offset : offset + size].reshape(variable.shape)
        variable.assign(value.astype(variable.dtype))
        offset += size
    step = int(round(total[0]))
    checkpoint.step = step
    checkpoint.saved_step = step
    return step
