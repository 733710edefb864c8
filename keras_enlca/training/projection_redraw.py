import keras
import numpy as np

from keras_enlca.models.sr_model import enlca_layers


@keras.saving.register_keras_serializable(package="keras_enlca")
class ProjectionRedraw(keras.callbacks.Callback):
    """Redraw the random projection matrices of every ENLCA layer.

    Calls `redraw_projection()` on all ENLCA layers of the model (each gets
    an independent draw) and touches nothing else.

    Step mode reproduces the reference's `ProjectionUpdater(
    feature_redraw_interval=640)`: its counter redraws when it has reached
    640 and resets without counting that call, so a new matrix is used from
    every 641st training iteration on. Here the schedule is derived from
    `optimizer.iterations`: a redraw happens before global step `s`
    (0-based) when `(s + 1) % (every_n_steps + 1) == 0`, so it is also right
    after a resumed run. The paper redraws once per epoch instead
    (`every_epoch=True`, before every epoch but the first).

    Args:
        every_n_steps: int or None. The reference's redraw interval (640).
            None disables step redraws.
        every_epoch: bool. Redraw at the start of every epoch but the first.
        seed: optional int. With a seed, the draw for a given step (or epoch)
            and layer is reproducible; without, draws come from NumPy's
            global state.

    Example:

    ```python
    model.fit(
        dataset,
        epochs=10,
        callbacks=[
            keras_enlca.training.ProjectionRedraw(every_n_steps=640),
        ],
    )
    ```

    Reference:
    - [Xia et al., Efficient Non-Local Contrastive Attention for Image
      Super-Resolution, AAAI 2022](https://arxiv.org/abs/2201.03794)
    """

    def __init__(self, every_n_steps=640, every_epoch=False, seed=None):
        super().__init__()
        if every_n_steps is not None and int(every_n_steps) < 1:
            raise ValueError(
                f"`every_n_steps` must be >= 1 or None. Received: {every_n_steps}"
            )
        self.every_n_steps = None if every_n_steps is None else int(every_n_steps)
        self.every_epoch = bool(every_epoch)
        self.seed = seed
        self.redraw_count = 0
        self._last_step = None

    def redraw(self, key=(0, 0)):
        """Redraw every ENLCA projection now; returns the number of layers.

        `key` (non-negative ints) selects the draw when a `seed` is set.
        """
        layers = enlca_layers(self.model)
        for index, layer in enumerate(layers):
            seed = None
            if self.seed is not None:
                seed = int(
                    np.random.SeedSequence([self.seed, *key, index]).generate_state(1)[
                        0
                    ]
                    % (2**31 - 1)
                )
            layer.redraw_projection(seed=seed)
        self.redraw_count += 1
        return len(layers)

    def _step(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_begin(self, logs=None):
        self._last_step = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.every_n_steps is None:
            return
        step = self._step()
        period = self.every_n_steps + 1
        if self._last_step is None:
            due = (step + 1) % period == 0
        else:
            # With `steps_per_execution > 1` several steps pass between
            # calls: redraw if a redraw step lies in (last, step].
            due = (step + 1) // period > (self._last_step + 1) // period
        self._last_step = step
        if due:
            self.redraw(key=(0, step))

    def on_epoch_begin(self, epoch, logs=None):
        if self.every_epoch and epoch > 0:
            self.redraw(key=(1, epoch))

    def get_config(self):
        return {
            "every_n_steps": self.every_n_steps,
            "every_epoch": self.every_epoch,
            "seed": self.seed,
        }
