"""The hooks that make a run folder's training work on several workers.

Every worker runs the same `run_training` code, so that they stay in step
(same steps, same checkpoints, same validation); only their folders differ:

- the chief (worker 0, or the `chief` task) writes the run folder;
- every other worker writes into a scratch folder of its own outside the run
  folder (`worker_run_dir`), removed when the process exits; it starts with
  a copy of the newest checkpoint, so that every worker restores the same
  one (the run folder must be readable by every worker: one machine, or
  shared storage such as NFS);
- after the restore the chief's weights, optimizer state and step are
  broadcast to the others (`sync_from_chief`), so that they start equal.
"""

import atexit
import os
import shutil
import tempfile

import numpy as np

from keras_enlca.training.run_folder import run_paths


def worker_run_dir(strategy, run_dir):
    """`run_dir` on the chief; a fresh scratch folder on the other workers.

    The scratch folder starts with a copy of the run folder's newest
    checkpoint (and config and final model), read from `run_dir`, so that
    every worker restores the same checkpoint with the same TensorFlow ops:
    under MultiWorkerMirroredStrategy creating or loading variables runs
    collectives, which must match on all workers. Then every worker's
    newest checkpoint step is compared: a worker that sees another step
    than the chief gets a one-line error (the run folder must be on storage
    every worker can read, e.g. NFS, or the same machine).
    """
    from keras_enlca.training.strategy import is_chief
    from keras_enlca.training.strategy import is_multi_worker

    if not is_multi_worker(strategy):
        return run_dir
    folder = run_dir
    if not is_chief(strategy):
        task = strategy.cluster_resolver.task_id
        folder = tempfile.mkdtemp(prefix=f"enlca-worker{task}-")
        atexit.register(shutil.rmtree, folder, True)
        _copy_newest(run_dir, folder)
    _check_same_checkpoint(strategy, folder, run_dir)
    return folder


def _newest_checkpoint(run_dir):
    from keras_enlca.training.run_checkpoint import RunCheckpoint

    # The newest *intact* one, as the restore picks it; the chief's restore
    # warns about the damaged ones it skips.
    checkpoint = RunCheckpoint(run_paths(run_dir)["checkpoints"], warn=lambda _: None)
    for step, folder, _ in checkpoint.valid_checkpoints():
        return step, folder
    return 0, None


def _copy_newest(run_dir, scratch):
    step, folder = _newest_checkpoint(run_dir)
    source, target = run_paths(run_dir), run_paths(scratch)
    if folder is not None:
        shutil.copytree(
            folder, os.path.join(target["checkpoints"], os.path.basename(folder))
        )
    for key in ("config", "model"):
        if step and os.path.isfile(source[key]):
            shutil.copy2(source[key], target[key])


def _check_same_checkpoint(strategy, folder, run_dir):
    import tensorflow as tf

    from keras_enlca.errors import InputError

    step = _newest_checkpoint(folder)[0]
    steps = (
        strategy.gather(strategy.run(lambda: tf.constant([step], tf.int64)), axis=0)
        .numpy()
        .tolist()
    )
    if len(set(steps)) > 1:
        raise InputError(
            f"the workers see different newest checkpoints in '{run_dir}' (steps "
            f"{steps}): put the run folder on storage every worker can read"
        )


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
    if model.optimizer is not None and not model.optimizer.built:
        # The chief built it to restore a checkpoint: creating variables is
        # a collective (a broadcast), so every worker creates the same ones.
        model.optimizer.build(model.trainable_variables)
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
