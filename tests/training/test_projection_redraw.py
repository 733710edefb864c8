import keras
import numpy as np
import pytest

from keras_enlca.models import ENLCN
from keras_enlca.training import ProjectionRedraw
from keras_enlca.training import enlca_layers
from tests.models import common


def tiny_enlcn():
    return ENLCN(scale=2, num_blocks=2, filters=8, attention_every=1)


def compiled(model):
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    return model


def redraw_steps(callback, model, steps):
    """Steps before which `callback` redraws, driving optimizer.iterations."""
    redrawn = []
    callback.set_model(model)
    callback.on_train_begin()
    for step in steps:
        model.optimizer.iterations.assign(step)
        count = callback.redraw_count
        callback.on_train_batch_begin(0)
        if callback.redraw_count > count:
            redrawn.append(step)
    return redrawn


def test_changes_every_projection_matrix_and_nothing_else():
    model = compiled(tiny_enlcn())
    layers = enlca_layers(model)
    assert [layer.name for layer in layers] == ["body_0", "body_2", "body_4"]
    projections = {id(layer.projection_matrix) for layer in layers}
    before = [w.numpy().copy() for w in model.weights]
    optimizer_before = [v.numpy().copy() for v in model.optimizer.variables]

    callback = ProjectionRedraw(every_n_steps=640)
    callback.set_model(model)
    model.optimizer.iterations.assign(640)
    optimizer_before[0] = model.optimizer.iterations.numpy()
    callback.on_train_batch_begin(0)

    assert callback.redraw_count == 1
    changed = 0
    for weight, old in zip(model.weights, before):
        if id(weight) in projections:
            assert np.abs(weight.numpy() - old).min() > 0
            # Still a block-orthogonal Gaussian matrix (128 x 2).
            assert weight.shape == (128, 2)
            changed += 1
        else:
            np.testing.assert_array_equal(weight.numpy(), old)
    assert changed == 3
    for variable, old in zip(model.optimizer.variables, optimizer_before):
        np.testing.assert_array_equal(variable.numpy(), old)
    # Independent draws per layer.
    matrices = [layer.projection_matrix.numpy() for layer in layers]
    assert not np.allclose(matrices[0], matrices[1])


def test_reference_schedule_is_every_641st_step():
    """ProjectionUpdater(640): new matrices from steps 640, 1281, 1922 on."""
    model = compiled(tiny_enlcn())
    callback = ProjectionRedraw(every_n_steps=640)
    assert redraw_steps(callback, model, range(2000)) == [640, 1281, 1922]
    # Resumed at step 1000: same schedule, derived from the step counter.
    assert redraw_steps(ProjectionRedraw(640), model, range(1000, 2000)) == [1281, 1922]
    # steps_per_execution > 1: a redraw step between two calls is not missed.
    assert redraw_steps(ProjectionRedraw(640), model, range(0, 2000, 100)) == [
        700,
        1300,
    ]


def test_every_epoch_and_seed():
    model_a = compiled(tiny_enlcn())
    model_b = compiled(tiny_enlcn())
    callbacks = []
    for model in (model_a, model_b):
        callback = ProjectionRedraw(every_n_steps=None, every_epoch=True, seed=3)
        callback.set_model(model)
        callback.on_epoch_begin(0)
        assert callback.redraw_count == 0
        callback.on_epoch_begin(1)
        callback.on_train_batch_begin(0)
        assert callback.redraw_count == 1
        callbacks.append(callback)
    for a, b in zip(enlca_layers(model_a), enlca_layers(model_b)):
        np.testing.assert_array_equal(
            a.projection_matrix.numpy(), b.projection_matrix.numpy()
        )


def test_redraw_during_fit_under_mirrored_strategy():
    lr_images, hr_images = common.synthetic_pairs(4, 12, 2)
    with common.mirrored_strategy().scope():
        model = ENLCN(scale=2, num_blocks=1, filters=8, attention_every=1)
        model.compile(run_eagerly=True)
    before = [
        layer.projection_matrix.numpy().copy() for layer in model.attention_layers
    ]
    callback = ProjectionRedraw(every_n_steps=1, seed=0)
    model.fit(
        lr_images, hr_images, batch_size=2, epochs=1, verbose=0, callbacks=[callback]
    )
    # Steps 0 and 1: a redraw before step 1 only.
    assert callback.redraw_count == 1
    for layer, old in zip(model.attention_layers, before):
        replicas = layer.projection_matrix.value.values
        assert len(replicas) == 2
        np.testing.assert_array_equal(replicas[0].numpy(), replicas[1].numpy())
        assert not np.allclose(replicas[0].numpy(), old)


def test_invalid_interval():
    with pytest.raises(ValueError, match="every_n_steps"):
        ProjectionRedraw(every_n_steps=0)
