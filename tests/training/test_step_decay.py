import keras
import numpy as np

from keras_enlca.training import StepDecay
from keras_enlca.training import reference_optimizer


def test_reference_milestones():
    schedule = StepDecay(1e-4, milestones=(200, 400, 600, 800), steps_per_epoch=1000)
    steps = [0, 199_999, 200_000, 399_999, 400_000, 600_000, 800_000, 999_999]
    values = [float(schedule(step)) for step in steps]
    np.testing.assert_allclose(
        values, [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 1.25e-5, 6.25e-6, 6.25e-6], rtol=1e-6
    )


def test_a2n_step_lr():
    schedule = StepDecay(5e-4, milestones=range(200, 2000, 200), steps_per_epoch=10)
    np.testing.assert_allclose(float(schedule(1999)), 5e-4)
    np.testing.assert_allclose(float(schedule(2000)), 2.5e-4)
    np.testing.assert_allclose(float(schedule(19_999)), 5e-4 * 0.5**9, rtol=1e-6)


def test_serialization_and_optimizer():
    schedule = StepDecay(2e-4, milestones=(2, 4), steps_per_epoch=5, gamma=0.1)
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert restored.get_config() == schedule.get_config()
    optimizer = reference_optimizer(1e-4, milestones=(1,), steps_per_epoch=3)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.9, 0.999, 1e-8)
    optimizer.build([keras.Variable(np.zeros(2, "float32"))])
    np.testing.assert_allclose(float(optimizer.learning_rate), 1e-4)
    optimizer.iterations.assign(3)
    np.testing.assert_allclose(float(optimizer.learning_rate), 5e-5)
