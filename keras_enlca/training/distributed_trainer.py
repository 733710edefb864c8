import re

import keras
import numpy as np
import tensorflow as tf

from keras_enlca.errors import InputError
from keras_enlca.training.strategy import is_multi_worker


class _PeerErrors:
    """A failed collective (a dead or unreachable worker) as one `InputError` line."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        errors = (
            tf.errors.UnavailableError,
            tf.errors.DeadlineExceededError,
            tf.errors.CancelledError,
            tf.errors.AbortedError,
        )
        if kind is None or not issubclass(kind, errors):
            return False
        text = error.message.partition("unhealthy")[2] or error.message
        tasks = sorted(set(re.findall(r"/job:\w+/replica:\d+/task:\d+", text)))
        who = f" ({', '.join(tasks)})" if tasks else ""
        raise InputError(
            f"multi-worker training stopped: a worker is down or unreachable{who}; "
            "the newest checkpoint is kept: start every worker again to resume"
        ) from None


class DistributedTrainer:
    """A `fit` loop that works under every `tf.distribute` strategy.

    Keras 3 `fit` fails under `tf.distribute.MultiWorkerMirroredStrategy`
    (keras issue 20585: `_maybe_symbolic_build` reduces the PerReplica input
    batch, then `reduce_per_replica` reduces scalar logs along axis 0). This
    loop does what `fit` does on public API: a `tf.function` runs
    `strategy.run(model.train_step, ...)` `steps_per_execution` times in a
    `tf.range` loop (in place of Keras' `steps_per_execution`, which fails
    under MWMS too) and returns the logs reduced with
    `strategy.reduce("MEAN", value, axis=None)`. The step math is the
    model's own `train_step` (L1 + contrastive loss, warm-up, metrics), so
    one device, `MirroredStrategy` and several workers give the same loss
    for the same global batch.

    Keras callbacks get the calls and `params` of `fit` (`on_epoch_begin`,
    `on_train_batch_begin/end` once per execution with the index of its
    last step, `on_epoch_end`, `model.stop_training`); the metrics are reset
    at every epoch start, as in `fit`. Under several workers a stop
    (`model.stop_training`) is agreed on after every execution: when one
    worker stops (time limit, signal), every worker stops after the same
    step, and callbacks with a `request_stop(reason)` method are told first.

    The dataset is distributed with `AutoShardPolicy.DATA`: every worker
    builds the same (seeded) global batches and keeps its slice, so the
    global batch equals the one-process batch. The global batch size must
    be a multiple of the number of replicas.

    Args:
        model: a compiled `keras.Model`, built and compiled inside
            `strategy.scope()`.
        strategy: the `tf.distribute.Strategy` (default: the current one).
        steps_per_execution: int. Training steps per `tf.function` call.

    Example:

    ```python
    strategy = keras_enlca.training.get_strategy("multi_worker")
    with strategy.scope():
        model = keras_enlca.models.from_preset("enlcn_small_x2")
        model.compile()
    trainer = keras_enlca.training.DistributedTrainer(model, strategy)
    trainer.fit(dataset, epochs=10, steps_per_epoch=1000)
    ```
    """

    def __init__(self, model, strategy=None, steps_per_execution=1):
        if int(steps_per_execution) < 1:
            raise ValueError(
                "`steps_per_execution` must be >= 1. Received: "
                f"steps_per_execution={steps_per_execution}"
            )
        self.model = model
        self.strategy = strategy or tf.distribute.get_strategy()
        self.steps_per_execution = int(steps_per_execution)
        self._function = None

    def _train_function(self):
        if self._function is not None:
            return self._function
        strategy, model = self.strategy, self.model

        @tf.function
        def train(iterator, steps):
            for _ in tf.range(steps - 1):
                strategy.run(model.train_step, args=(next(iterator),))
            # The trackers hold the running means since the epoch start:
            # the last step's logs are the epoch-so-far values.
            logs = strategy.run(model.train_step, args=(next(iterator),))
            return {
                key: strategy.reduce("MEAN", value, axis=None)
                for key, value in logs.items()
            }

        self._function = train
        return train

    def _distribute(self, dataset):
        replicas = self.strategy.num_replicas_in_sync
        batch = dataset.element_spec[0].shape[0]
        if batch is not None and batch % replicas:
            raise InputError(
                f"the global batch size {batch} is not a multiple of the "
                f"{replicas} replicas"
            )
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return self.strategy.experimental_distribute_dataset(
            dataset.with_options(options)
        )

    def _agree_to_stop(self, stop):
        """True on every worker when any worker wants to stop."""
        if is_multi_worker(self.strategy):
            flag = self.strategy.run(lambda: tf.constant(int(stop), tf.int32))
            return bool(self.strategy.reduce("SUM", flag, axis=None).numpy() > 0)
        return stop

    def fit(
        self,
        dataset,
        epochs=1,
        initial_epoch=0,
        steps_per_epoch=None,
        callbacks=None,
        verbose=0,
        shuffle=False,
    ):
        """Train like `keras.Model.fit` on an infinite (repeated) dataset.

        Args:
            dataset: a `tf.data.Dataset` of `(x, y)` global batches.
            epochs: int. The index of the epoch to stop before.
            initial_epoch: int. The epoch to start at (resuming).
            steps_per_epoch: int. Steps per epoch (required).
            callbacks: list of `keras.callbacks.Callback`.
            verbose: accepted for `fit` compatibility; nothing is printed.
            shuffle: accepted for `fit` compatibility; ignored.

        Returns:
            The `keras.callbacks.History` of the call.
        """
        if steps_per_epoch is None:
            raise ValueError("`steps_per_epoch` is required")
        model = self.model
        callback_list = keras.callbacks.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=False,
            model=model,
            verbose=0,
            epochs=epochs,
            steps=steps_per_epoch,
        )
        train = self._train_function()
        iterator = iter(self._distribute(dataset))
        model.stop_training = False
        callback_list.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            step = 0
            while step < steps_per_epoch:
                count = min(self.steps_per_execution, steps_per_epoch - step)
                callback_list.on_train_batch_begin(step)
                with _PeerErrors():
                    logs = train(iterator, tf.constant(count))
                    logs = {
                        key: np.float32(value.numpy()) for key, value in logs.items()
                    }
                step += count
                callback_list.on_train_batch_end(step - 1, logs)
                stop = bool(model.stop_training)
                with _PeerErrors():
                    agreed = self._agree_to_stop(stop)
                if agreed and not stop:
                    self._stop_for_peer(callbacks or [], step - 1, logs)
                if model.stop_training:
                    break
            epoch_logs = dict(logs)
            callback_list.on_epoch_end(epoch, epoch_logs)
            logs = epoch_logs
            if model.stop_training:
                break
        callback_list.on_train_end(logs)
        return model.history

    def _stop_for_peer(self, callbacks, batch, logs):
        """Another worker stopped after this step: stop here too."""
        for callback in callbacks:
            if hasattr(callback, "request_stop"):
                callback.request_stop("a peer worker stopped")
                # Lets it act on the request for the step just finished
                # (a checkpoint saver saves it); it counts no new step.
                callback.on_train_batch_end(batch, logs)
        self.model.stop_training = True
