import keras
from keras import ops

from keras_enlca.models.reference_adam import ReferenceAdam
from keras_enlca.models.registry import attention_layers_of
from keras_enlca.utils.backend_dispatch import scale_loss_for_replicas

# The in-graph Y-PSNR of `val_psnr`, the `PSNR` metric and (in NumPy) `enlca
# score`: `y_channel_psnr(y_true, y_pred, shave)` per image.
from keras_enlca.utils.tensor_metrics import psnr_per_image as y_channel_psnr

DEFAULT_CONTRASTIVE_WEIGHT = 1e-3
# ENLCA reference: `loss += 0.001 * comparative` once `scheduler.last_epoch >
# 100`, i.e. after 101 epochs of 1000 iterations.
DEFAULT_CONTRASTIVE_WARMUP_STEPS = 101_000


def reference_adam(
    learning_rate=1e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs
):
    """Adam as in the reference trainers: `torch.optim.Adam`'s update.

    Betas (0.9, 0.999), epsilon 1e-8 outside the bias correction of `v`, as
    `torch.optim.Adam` steps; Keras' own `Adam` puts epsilon inside it (and
    defaults to 1e-7). See `ReferenceAdam`. The one place the package builds
    an Adam: `compile()`'s default, `training.reference_optimizer` and the
    optimizer of `enlca train` (whose config may set the betas and epsilon).

    Args:
        learning_rate: a float or a `keras.optimizers.schedules` schedule
            (e.g. `keras_enlca.training.StepDecay`).
        beta_1: first-moment decay.
        beta_2: second-moment decay.
        epsilon: added to the bias-corrected `sqrt(v)`.
        **kwargs: other `keras.optimizers.Optimizer` arguments, e.g.
            `clipvalue` (the EDSR trainers' `--gclip`, off by default).

    Example:

    ```python
    model.compile(optimizer=keras_enlca.models.reference_adam(2e-4))
    ```
    """
    return ReferenceAdam(
        learning_rate=learning_rate,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        **kwargs,
    )


def enlca_layers(model):
    """All ENLCA layers inside `model`, in model order (the registry's
    attention layers of kind `"ENLCA"`)."""
    return attention_layers_of(model, "ENLCA")


def contrastive_layers(model):
    """The ENLCA layers of `model` that add a contrastive loss."""
    return [layer for layer in enlca_layers(model) if layer.contrastive is not None]


@keras.saving.register_keras_serializable(package="keras_enlca")
class SuperResolutionModel(keras.Model):
    """Base class of the super-resolution networks, with the training recipe.

    A functional `keras.Model` whose `compute_loss` (the loss of the JAX,
    PyTorch and TensorFlow trainers alike; no backend-specific `train_step`)
    is the L1 reconstruction loss plus, for networks with ENLCA layers,
    `contrastive_weight` times the mean over those layers of their
    contrastive loss, switched on after `contrastive_warmup_steps` training
    steps (reference: `L1 + 0.001 * mean(losses)` after 101 epochs of 1000
    iterations; the paper says 150 epochs). The steps are counted by a
    model-owned counter, set from `optimizer.iterations` when `fit` starts.
    The contrastive losses are the `add_loss` values of the forward pass
    (every `add_loss` value of the network is taken as one); they are
    computed (and reported) during the warm-up too, but do not reach the
    gradient.

    Reported metrics: `loss` (the optimised total), `l1` and, when the network
    has ENLCA layers, `contrastive` (the raw mean of the layers' losses,
    before weighting). Evaluation reports `loss`, `l1` and `psnr`: the mean
    over images of the Y-channel PSNR (MATLAB convention, 8-bit quantised,
    `scale` pixels shaved). Under `tf.distribute` the reported values are
    the global-batch values, not divided by the number of replicas. Metrics
    passed to `compile(metrics=...)` are added; sample weights are ignored.

    A plain `keras.Model` holding ENLCA layers gets their losses through
    Keras' own `compute_loss` at weight 1 and from the first step: wrap the
    same graph in `SuperResolutionModel(inputs, outputs, scale=...)` for
    the reference weighting.

    The networks of this package (`EDSR`, `NLSN`, `ENLCN`, `A2N`) subclass
    it; a custom functional network can use it directly.

    Args:
        inputs: the `keras.Input` of the functional graph, a float32
            `(batch, height, width, 3)` RGB image in [0, 1].
        outputs: the output tensor, float32 RGB in [0, 1] of size
            `scale * (height, width)`.
        name: optional str. The model name.
        scale: int (keyword). The upscaling factor.
        **kwargs: other keyword arguments passed to `keras.Model`, e.g.
            `trainable`.

    Call arguments:
        inputs: a float32 `(batch, height, width, 3)` RGB tensor in [0, 1].
        training: bool. ENLCA layers add their contrastive loss in training.

    Example:

    ```python
    model = keras_enlca.models.from_preset("enlcn_small_x2")
    model.compile(
        optimizer=keras_enlca.models.reference_adam(1e-4),
        contrastive_weight=1e-3,
        contrastive_warmup_steps=2_000,
    )
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

    # The signature keeps Keras' functional `(inputs, outputs, name)` form so
    # that a directly used `SuperResolutionModel` serialises its graph;
    # `scale` is a required keyword argument.
    def __init__(self, inputs, outputs, name=None, **kwargs):
        if "scale" not in kwargs:
            raise TypeError("SuperResolutionModel needs the `scale` argument.")
        scale = kwargs.pop("scale")
        dtype = kwargs.pop("dtype", None)
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)
        self.scale = int(scale)
        self.contrastive_weight = DEFAULT_CONTRASTIVE_WEIGHT
        self.contrastive_warmup_steps = DEFAULT_CONTRASTIVE_WARMUP_STEPS
        self.l1_tracker = keras.metrics.Mean(name="l1")
        self.contrastive_tracker = keras.metrics.Mean(name="contrastive")
        self.psnr_tracker = keras.metrics.Mean(name="psnr")
        # Counts contrastive training steps for the warm-up: a model variable,
        # because JAX's trainer threads model state through its stateless
        # steps but purges optimizer variables (`iterations`) within an epoch.
        self._contrastive_step = keras.Variable(
            0,
            dtype="int32",
            trainable=False,
            name="contrastive_step",
            aggregation="only_first_replica",
        )

    @property
    def contrastive_layers(self):
        """The ENLCA layers whose contrastive losses enter the training loss."""
        return contrastive_layers(self)

    def compile(
        self,
        optimizer=None,
        loss=None,
        contrastive_weight=DEFAULT_CONTRASTIVE_WEIGHT,
        contrastive_warmup_steps=DEFAULT_CONTRASTIVE_WARMUP_STEPS,
        **kwargs,
    ):
        """Configure training.

        Args:
            optimizer: a `keras.optimizers.Optimizer` or its name. Defaults to
                the reference Adam: learning rate 1e-4, betas (0.9, 0.999),
                epsilon 1e-8 (Keras' own default epsilon is 1e-7).
            loss: must be `None`; the reconstruction loss is always L1.
            contrastive_weight: float. The weight λ of the mean contrastive
                loss of the ENLCA layers (reference 1e-3). 0 disables it.
            contrastive_warmup_steps: int. Training steps (counted from
                `optimizer.iterations`) of L1-only training before the
                contrastive term is added. The reference uses 101 epochs of
                1000 iterations (101_000), the paper 150 epochs; convert
                epochs with `epochs * steps_per_epoch`.
            **kwargs: other arguments of `keras.Model.compile`, e.g.
                `jit_compile`, `steps_per_execution`, `metrics`.
        """
        if loss is not None:
            raise ValueError(
                "SuperResolutionModel trains with L1 (+ the ENLCA contrastive "
                f"loss) and takes no `loss` argument. Received: loss={loss}"
            )
        if contrastive_weight < 0:
            raise ValueError(
                "`contrastive_weight` must be >= 0. Received: "
                f"contrastive_weight={contrastive_weight}"
            )
        if contrastive_warmup_steps < 0:
            raise ValueError(
                "`contrastive_warmup_steps` must be >= 0. Received: "
                f"contrastive_warmup_steps={contrastive_warmup_steps}"
            )
        if optimizer is None:
            optimizer = reference_adam()
        self.contrastive_weight = float(contrastive_weight)
        self.contrastive_warmup_steps = int(contrastive_warmup_steps)
        super().compile(optimizer=optimizer, loss=None, **kwargs)

    def get_compile_config(self):
        config = super().get_compile_config()
        if config:
            config = dict(config)
            config.pop("loss", None)
            config.pop("loss_weights", None)
            config["contrastive_weight"] = self.contrastive_weight
            config["contrastive_warmup_steps"] = self.contrastive_warmup_steps
        return config

    def compile_from_config(self, config):
        config = dict(keras.saving.deserialize_keras_object(config))
        config.pop("loss", None)
        config.pop("loss_weights", None)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    def fit(self, *args, **kwargs):
        # The warm-up counter follows the optimizer, also after a resume or
        # for a model saved before the counter existed.
        if getattr(self, "optimizer", None) is not None and self.optimizer.built:
            self._contrastive_step.assign(ops.cast(self.optimizer.iterations, "int32"))
        return super().fit(*args, **kwargs)

    def _l1(self, y, y_pred):
        y = ops.cast(y, "float32")
        y_pred = ops.cast(y_pred, "float32")
        return ops.mean(ops.abs(y_pred - y))

    def _contrastive_mean(self):
        """Mean over ENLCA layers of their raw losses of the last call.

        Read from the model's `losses`, the one place every backend shows
        `add_loss` values of a training call (under JAX's stateless call
        the layers' own `losses` stay empty). Every loss added in a call of
        a `SuperResolutionModel` is taken as an ENLCA contrastive loss.
        """
        losses = self.losses
        if not losses or not self.contrastive_layers:
            return None
        total = ops.sum(ops.stack([ops.cast(v, "float32") for v in losses]))
        return total / len(self.contrastive_layers)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """L1 plus, after the warm-up, `contrastive_weight` x mean contrastive.

        The one loss path of all three backends' trainers. The returned loss
        is scaled by `1 / replicas` under `tf.distribute` (as Keras' own
        compiled losses are); trackers get the unscaled values.
        """
        batch_size = ops.shape(y_pred)[0]
        l1 = self._l1(y, y_pred)
        self.l1_tracker.update_state(l1, sample_weight=batch_size)
        loss = l1
        contrastive = self._contrastive_mean() if training else None
        self._reports_contrastive = contrastive is not None
        if contrastive is not None:
            self.contrastive_tracker.update_state(contrastive, sample_weight=batch_size)
            if self.contrastive_weight > 0:
                step = self._contrastive_step
                active = ops.cast(
                    ops.greater_equal(step, self.contrastive_warmup_steps), "float32"
                )
                loss = l1 + active * self.contrastive_weight * contrastive
                step.assign(step + 1)
        if not training:
            self.psnr_tracker.update_state(y_channel_psnr(y, y_pred, self.scale))
        self._reports_psnr = not training
        return scale_loss_for_replicas(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = {"loss": self._loss_tracker.result(), "l1": self.l1_tracker.result()}
        if getattr(self, "_reports_contrastive", False):
            logs["contrastive"] = self.contrastive_tracker.result()
        if getattr(self, "_reports_psnr", False):
            logs["psnr"] = self.psnr_tracker.result()
        if self._compile_metrics is not None:
            self._compile_metrics.update_state(y, y_pred)
            logs.update(self._compile_metrics.result())
        return logs

    def save_own_variables(self, store):
        # The warm-up counter is training state, not part of the network:
        # `.keras` files keep the weights of the network only.
        pass

    def load_own_variables(self, store):
        pass

    def get_config(self):
        if type(self) is SuperResolutionModel:
            config = super().get_config()
        else:
            config = {"name": self.name, "trainable": self.trainable}
            if self.dtype_policy is not None:
                config["dtype"] = keras.dtype_policies.serialize(self.dtype_policy)
        config["scale"] = self.scale
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if cls is SuperResolutionModel:
            # A custom functional graph.
            return super().from_config(config, custom_objects=custom_objects)
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
