import keras
from keras import ops

from keras_enlca.models.sr_model import reference_adam


@keras.saving.register_keras_serializable(package="keras_enlca")
class StepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Multi-step learning-rate decay counted in epochs of fixed length.

    `lr(step) = initial_learning_rate * gamma ** n`, where `n` is the number
    of `milestones` (in epochs) that are `<= step // steps_per_epoch`. This
    is PyTorch's `MultiStepLR` stepped once per epoch, as in the reference
    trainers: with milestones 200-400-600-800 the rate halves from the 201st
    epoch on. An "epoch" is `steps_per_epoch` optimizer steps (reference:
    `--test_every 1000`). A2N's `StepLR(200, 0.5)` is
    `milestones=range(200, epochs, 200)`. As a schedule (not a callback) it
    follows `optimizer.iterations`, so it is right after a resume.

    Args:
        initial_learning_rate: float. The rate before the first milestone.
        milestones: sequence of ints. Epochs at which the rate is multiplied
            by `gamma`.
        steps_per_epoch: int. Optimizer steps per epoch.
        gamma: float. The decay factor.

    Example:

    ```python
    schedule = keras_enlca.training.StepDecay(
        1e-4, milestones=(200, 400, 600, 800), steps_per_epoch=1000
    )
    optimizer = keras_enlca.models.reference_adam(schedule)
    ```
    """

    def __init__(
        self,
        initial_learning_rate=1e-4,
        milestones=(200, 400, 600, 800),
        steps_per_epoch=1000,
        gamma=0.5,
    ):
        if int(steps_per_epoch) < 1:
            raise ValueError(
                f"`steps_per_epoch` must be >= 1. Received: {steps_per_epoch}"
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.milestones = tuple(sorted(int(m) for m in milestones))
        self.steps_per_epoch = int(steps_per_epoch)
        self.gamma = float(gamma)

    def __call__(self, step):
        # int32: JAX has no int64 by default (2**31 steps are plenty).
        epoch = ops.floor_divide(ops.cast(step, "int32"), self.steps_per_epoch)
        if not self.milestones:
            return ops.convert_to_tensor(self.initial_learning_rate, "float32")
        passed = ops.sum(
            ops.cast(
                ops.greater_equal(
                    epoch, ops.convert_to_tensor(self.milestones, "int32")
                ),
                "float32",
            )
        )
        return self.initial_learning_rate * ops.power(
            ops.convert_to_tensor(self.gamma, "float32"), passed
        )

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "milestones": list(self.milestones),
            "steps_per_epoch": self.steps_per_epoch,
            "gamma": self.gamma,
        }


def reference_optimizer(
    learning_rate=1e-4,
    milestones=(200, 400, 600, 800),
    steps_per_epoch=1000,
    gamma=0.5,
):
    """Adam with the reference settings and step decay.

    Adam betas (0.9, 0.999), epsilon 1e-8 (Keras' default is 1e-7), no
    weight decay, learning rate `StepDecay(learning_rate, milestones,
    steps_per_epoch, gamma)`.

    Example:

    ```python
    model.compile(optimizer=keras_enlca.training.reference_optimizer(1e-4))
    ```
    """
    return reference_adam(StepDecay(learning_rate, milestones, steps_per_epoch, gamma))
