import keras
import tensorflow as tf
from keras import ops

# `keras.losses.Loss` hides these helpers; they are what Keras' own
# TensorFlow `train_step` uses to keep gradients right under `tf.distribute`.
from keras.src.losses.loss import scale_loss_for_distribution

from keras_enlca.models.registry import attention_layers_of

# The in-graph Y-PSNR of `val_psnr`, the `PSNR` metric and (in NumPy) `enlca
# score`: `y_channel_psnr(y_true, y_pred, shave)` per image.
from keras_enlca.utils.tensor_metrics import psnr_per_image as y_channel_psnr

DEFAULT_CONTRASTIVE_WEIGHT = 1e-3
# ENLCA reference: `loss += 0.001 * comparative` once `scheduler.last_epoch >
# 100`, i.e. after 101 epochs of 1000 iterations.
DEFAULT_CONTRASTIVE_WARMUP_STEPS = 101_000


def reference_adam(learning_rate=1e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """Adam as in the reference trainers: betas (0.9, 0.999), eps 1e-8.

    The one place the package builds an Adam (Keras' default epsilon is
    1e-7): `compile()`'s default, `training.reference_optimizer` and the
    optimizer of `enlca train` (whose config may set the betas and epsilon).

    Args:
        learning_rate: a float or a `keras.optimizers.schedules` schedule
            (e.g. `keras_enlca.training.StepDecay`).
        beta_1: first-moment decay.
        beta_2: second-moment decay.
        epsilon: added to the denominator.

    Example:

    ```python
    model.compile(optimizer=keras_enlca.models.reference_adam(2e-4))
    ```
    """
    return keras.optimizers.Adam(
        learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon
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

    A functional `keras.Model` whose `train_step` minimises the L1
    reconstruction loss plus, for networks with ENLCA layers,
    `contrastive_weight` times the mean over those layers of their
    contrastive loss, switched on once `optimizer.iterations` reaches
    `contrastive_warmup_steps` (reference: `L1 + 0.001 * mean(losses)` after
    101 epochs of 1000 iterations; the paper says 150 epochs). The
    contrastive losses are read from each ENLCA layer's `losses` right after
    the forward pass; they are computed (and reported) during the warm-up
    too, but do not reach the gradient.

    Reported metrics: `loss` (the optimised total), `l1` and, when the network
    has ENLCA layers, `contrastive` (the raw mean of the layers' losses,
    before weighting). `test_step` reports `loss`, `l1` and `psnr`: the mean
    over images of the Y-channel PSNR (MATLAB convention, 8-bit quantised,
    `scale` pixels shaved). Under `tf.distribute` the reported values are
    the global-batch values, not divided by the number of replicas. Metrics
    passed to `compile(metrics=...)` are added; sample weights are ignored.

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
            contrastive_warmup_steps: int. Training steps (counted by
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

    def _contrastive_loss(self):
        """Mean over ENLCA layers of their (raw) losses of the last call."""
        values = []
        for layer in self.contrastive_layers:
            layer_losses = layer.losses
            if layer_losses:
                values.append(
                    ops.sum(ops.stack([ops.cast(v, "float32") for v in layer_losses]))
                )
        if not values:
            return None
        return ops.mean(ops.stack(values))

    def _l1(self, y, y_pred):
        y = ops.cast(y, "float32")
        y_pred = ops.cast(y_pred, "float32")
        return ops.mean(ops.abs(y_pred - y))

    def train_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        batch_size = ops.shape(x)[0]
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            l1 = self._l1(y, y_pred)
            contrastive = self._contrastive_loss()
            if contrastive is not None and self.contrastive_weight > 0:
                active = self.optimizer.iterations >= self.contrastive_warmup_steps
                loss = tf.cond(
                    active,
                    lambda: l1 + self.contrastive_weight * contrastive,
                    lambda: l1,
                )
            else:
                loss = l1
            # Gradients are summed over replicas: scale each replica's loss
            # by 1 / replicas, then by the mixed-precision loss scale.
            scaled_loss = self.optimizer.scale_loss(scale_loss_for_distribution(loss))
        trainable_weights = self.trainable_weights
        gradients = tape.gradient(scaled_loss, trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, trainable_weights))

        # Trackers get the true per-replica values weighted by the local
        # batch size; their cross-replica aggregation gives the global mean.
        self._loss_tracker.update_state(loss, sample_weight=batch_size)
        self.l1_tracker.update_state(l1, sample_weight=batch_size)
        logs = {"loss": self._loss_tracker.result(), "l1": self.l1_tracker.result()}
        if contrastive is not None:
            self.contrastive_tracker.update_state(contrastive, sample_weight=batch_size)
            logs["contrastive"] = self.contrastive_tracker.result()
        logs.update(self._compiled_metrics_logs(y, y_pred))
        return logs

    def _compiled_metrics_logs(self, y, y_pred):
        if self._compile_metrics is None:
            return {}
        self._compile_metrics.update_state(y, y_pred)
        return self._compile_metrics.result()

    def test_step(self, data):
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        batch_size = ops.shape(x)[0]
        y_pred = self(x, training=False)
        l1 = self._l1(y, y_pred)
        self._loss_tracker.update_state(l1, sample_weight=batch_size)
        self.l1_tracker.update_state(l1, sample_weight=batch_size)
        self.psnr_tracker.update_state(y_channel_psnr(y, y_pred, self.scale))
        logs = {
            "loss": self._loss_tracker.result(),
            "l1": self.l1_tracker.result(),
            "psnr": self.psnr_tracker.result(),
        }
        logs.update(self._compiled_metrics_logs(y, y_pred))
        return logs

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
