import keras
from keras import ops


def _one_minus_power(beta, step, dtype):
    """`1 - beta ** step` without float32 cancellation.

    `1 - 0.999 ** 1` in float32 is off by 1.3e-5 relative (0.999 is not a
    float32); torch computes its bias corrections in Python doubles. As
    `-expm1(step * log1p(-(1 - beta)))` with `1 - beta` taken in double,
    float32 keeps it to ~1e-7.
    """
    return -ops.expm1(step * ops.log1p(ops.cast(-(1.0 - beta), dtype)))


@keras.saving.register_keras_serializable(package="keras_enlca")
class ReferenceAdam(keras.optimizers.Adam):
    """Adam with `torch.optim.Adam`'s update, on every Keras backend.

    The reference trainers use `torch.optim.Adam`, which steps

        `w -= lr / (1 - beta_1^t) * m / (sqrt(v) / sqrt(1 - beta_2^t) + eps)`.

    Keras' `Adam` folds the bias correction of `v` into the learning rate
    and steps `w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m /
    (sqrt(v) + eps)`, which is torch's update with `eps / sqrt(1 - beta_2^t)`
    in place of `eps` (3.2e-7 instead of 1e-8 at step 1, and 3.2x at step
    10): weights trained on the reference's batches drifted from torch's by
    2.08 x lr after three steps. This class keeps Keras' `Adam` in every
    other respect (moments, `learning_rate` schedules, `clipnorm`,
    `clipvalue`, `global_clipnorm`, EMA, loss scaling, saving) and replaces
    only the update; `amsgrad` is not supported (the reference does not
    use it).

    Args:
        learning_rate: float or `keras.optimizers.schedules` schedule.
        beta_1: float. First-moment decay (reference 0.9).
        beta_2: float. Second-moment decay (reference 0.999).
        epsilon: float. Added to the bias-corrected `sqrt(v)`, as torch
            does (reference 1e-8).
        **kwargs: other `keras.optimizers.Optimizer` arguments (`clipvalue`
            is torch's `clip_grad_value_`, the EDSR trainers' `--gclip`).

    Example:

    ```python
    optimizer = keras_enlca.models.ReferenceAdam(1e-4)
    model.compile(optimizer=optimizer)
    ```

    Reference:
        - [PyTorch `torch.optim.Adam`](https://pytorch.org/docs/stable/generated/torch.optim.Adam.html)
        - [Kingma and Ba, Adam: A Method for Stochastic Optimization,
          ICLR 2015](https://arxiv.org/abs/1412.6980)
    """

    def __init__(
        self, learning_rate=1e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8, **kwargs
    ):
        if kwargs.get("amsgrad"):
            raise ValueError("ReferenceAdam does not support `amsgrad=True`.")
        kwargs.pop("amsgrad", None)
        kwargs.setdefault("name", "reference_adam")
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            **kwargs,
        )

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        correction_1 = _one_minus_power(self.beta_1, step, dtype)
        correction_2 = _one_minus_power(self.beta_2, step, dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(
            v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2)
        )
        denominator = ops.add(
            ops.divide(ops.sqrt(v), ops.sqrt(correction_2)), self.epsilon
        )
        self.assign_sub(
            variable, ops.divide(ops.multiply(m, lr / correction_1), denominator)
        )

    def get_config(self):
        config = super().get_config()
        config.pop("amsgrad", None)
        return config
