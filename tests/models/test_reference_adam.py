"""`ReferenceAdam` steps as `torch.optim.Adam`, on every backend.

Runs in each column of the backend matrix. The reference formulation is
torch itself where installed (it is in CI), else the same formula in NumPy.
"""

import keras
import numpy as np
import pytest

from keras_enlca.models import ReferenceAdam
from keras_enlca.models import reference_adam

LEARNING_RATE = 1e-4
STEPS = 3


def _problem():
    rng = np.random.default_rng(0)
    # Zero start: the weights are the summed updates (~3e-4), whose float32
    # spacing (~3e-11) resolves a 1e-6 x lr (1e-10) tolerance.
    weights = np.zeros((4, 5), "float32")
    # Gradients of very different magnitudes: eps matters for the small ones.
    scales = np.array([1e-9, 1e-7, 1e-5, 1e-2, 1.0], "float32")
    gradients = [
        (rng.normal(size=(4, 5)) * scales).astype("float32") for _ in range(STEPS)
    ]
    return weights, gradients


def _torch_adam(weights, gradients, **kwargs):
    # float64: torch's own float32 rounding differs from the exact update
    # by ~1e-5 x lr; the formula is the reference, not the rounding.
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.tensor(weights, dtype=torch.float64))
    optimizer = torch.optim.Adam([param], lr=LEARNING_RATE, **kwargs)
    for gradient in gradients:
        param.grad = torch.tensor(gradient, dtype=torch.float64)
        optimizer.step()
    return param.detach().numpy()


def _numpy_torch_formula(weights, gradients, beta_1=0.9, beta_2=0.999, eps=1e-8):
    w = weights.astype("float64")
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(gradients, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        denominator = np.sqrt(v) / np.sqrt(1 - beta_2**t) + eps
        w = w - LEARNING_RATE / (1 - beta_1**t) * m / denominator
    return w


def _keras_steps(optimizer, weights, gradients):
    variable = keras.Variable(weights)
    for gradient in gradients:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(gradient), variable)])
    return keras.ops.convert_to_numpy(variable)


def test_three_steps_match_torch_adam_within_1e6_lr():
    weights, gradients = _problem()
    ours = _keras_steps(reference_adam(LEARNING_RATE), weights, gradients)
    formula = _numpy_torch_formula(weights, gradients)
    np.testing.assert_allclose(ours, formula, rtol=0, atol=1e-6 * LEARNING_RATE)
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    torch_result = _torch_adam(weights, gradients, eps=1e-8)
    np.testing.assert_allclose(ours, torch_result, rtol=0, atol=1e-6 * LEARNING_RATE)


def test_keras_adam_differs_from_torch_where_eps_matters():
    # The reason for ReferenceAdam: Keras' eps sits inside the bias
    # correction, which moves weights with gradients near eps by ~lr.
    weights, gradients = _problem()
    keras_adam = keras.optimizers.Adam(LEARNING_RATE, epsilon=1e-8)
    theirs = _keras_steps(keras_adam, weights, gradients)
    formula = _numpy_torch_formula(weights, gradients)
    assert np.max(np.abs(theirs - formula)) > 0.1 * LEARNING_RATE


def test_step_decay_schedule_and_clipping_as_torch():
    from keras_enlca.training.step_decay import StepDecay

    weights, gradients = _problem()
    gradients = [g * 100 for g in gradients]
    # Milestone after the first "epoch" of two steps: lr halves at step 3.
    schedule = StepDecay(LEARNING_RATE, milestones=(1,), steps_per_epoch=2)
    ours = _keras_steps(
        ReferenceAdam(schedule, clipvalue=0.5), weights, [g for g in gradients]
    )
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.tensor(weights, dtype=torch.float64))
    optimizer = torch.optim.Adam([param], lr=LEARNING_RATE, eps=1e-8)
    decay = torch.optim.lr_scheduler.MultiStepLR(optimizer, [2], gamma=0.5)
    for gradient in gradients:
        param.grad = torch.tensor(gradient, dtype=torch.float64)
        torch.nn.utils.clip_grad_value_([param], 0.5)
        optimizer.step()
        decay.step()
    np.testing.assert_allclose(
        ours, param.detach().numpy(), rtol=0, atol=1e-6 * LEARNING_RATE
    )


def test_serialises_and_rejects_amsgrad():
    optimizer = reference_adam(2e-4, clipvalue=1.0)
    config = keras.optimizers.serialize(optimizer)
    restored = keras.optimizers.deserialize(config)
    assert type(restored) is ReferenceAdam
    assert restored.get_config()["epsilon"] == 1e-8
    assert restored.get_config()["clipvalue"] == 1.0
    with pytest.raises(ValueError, match="amsgrad"):
        ReferenceAdam(amsgrad=True)
