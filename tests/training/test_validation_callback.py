import numpy as np
import pytest

from keras_enlca.data import SRDataset
from keras_enlca.data import write_image
from keras_enlca.evaluation import psnr
from keras_enlca.evaluation import ssim
from keras_enlca.training.run_checkpoint import RunCheckpoint
from keras_enlca.training.validation_callback import ValidationCallback
from tests.training.tiny_models import fit
from tests.training.tiny_models import tiny_sr_model


@pytest.fixture
def validation_sets(tmp_path, rng):
    """Two HR folders (LR made on load): 2 images and 1 image of 24x24."""
    for name, count in (("a", 2), ("b", 1)):
        for k in range(count):
            image = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
            write_image(tmp_path / name / f"{k}.png", image)
    return [SRDataset.from_hr_folder(tmp_path / name, 2) for name in ("a", "b")]


def independent_scores(model, datasets, scale):
    """Mean Y-PSNR/SSIM over every image: plain `predict`, rounding, NumPy metrics."""
    psnrs, ssims = [], []
    for dataset in datasets:
        for _, lr, hr in dataset:
            sr = model.predict(lr[None].astype(np.float32) / 255, verbose=0)[0]
            sr = np.clip(np.round(sr * 255), 0, 255).astype(np.uint8)
            psnrs.append(psnr(sr, hr, shave=scale))
            ssims.append(ssim(sr, hr, shave=scale))
    return np.mean(psnrs), np.mean(ssims)


def test_scores_chosen_epochs_as_an_independent_evaluation(validation_sets):
    model = tiny_sr_model()
    callback = ValidationCallback(validation_sets, scale=2, every_n_epochs=2)
    history = fit(model, epochs=2, steps_per_epoch=3, callbacks=[callback])
    # Epoch 1 is not scored, epoch 2 is (with the weights fit ends with).
    assert len(history.history["loss"]) == 2
    assert len(history.history["val_psnr"]) == len(history.history["val_ssim"]) == 1
    expected_psnr, expected_ssim = independent_scores(model, validation_sets, 2)
    # The mean over the 3 images, not the mean of the 2 dataset means.
    assert history.history["val_psnr"][0] == pytest.approx(expected_psnr, abs=1e-9)
    assert history.history["val_ssim"][0] == pytest.approx(expected_ssim, abs=1e-9)
    assert 0 < expected_psnr < 40 and 0 < expected_ssim < 1
    assert callback.validate(model) == {
        "val_psnr": history.history["val_psnr"][0],
        "val_ssim": history.history["val_ssim"][0],
    }


def test_with_a_checkpoint_only_complete_epochs_and_always_the_last(
    validation_sets, tmp_path
):
    model = tiny_sr_model()
    checkpoint = RunCheckpoint(tmp_path / "checkpoints", every_n_steps=100)
    callback = ValidationCallback(
        validation_sets[1],
        scale=2,
        every_n_epochs=5,
        checkpoint=checkpoint,
        steps_per_epoch=2,
        total_steps=5,
    )
    callbacks = [callback, checkpoint]
    # Epochs 1 and 2 of 5: neither is a multiple of 5 nor the last.
    history = fit(model, epochs=2, steps_per_epoch=2, callbacks=callbacks)
    assert checkpoint.step == 4 and "val_psnr" not in history.history
    # The short last epoch (1 step) reaches total_steps: scored.
    history = fit(
        model, initial_epoch=2, epochs=3, steps_per_epoch=1, callbacks=callbacks
    )
    assert checkpoint.step == 5
    assert history.history["val_psnr"] == [callback.validate(model)["val_psnr"]]

    # An epoch stopped after 1 of its 3 steps is not scored, even at a
    # multiple of every_n_epochs.
    model = tiny_sr_model()
    checkpoint = RunCheckpoint(tmp_path / "stopped", every_n_steps=100)
    callback = ValidationCallback(
        validation_sets,
        scale=2,
        checkpoint=checkpoint,
        steps_per_epoch=3,
        total_steps=6,
    )
    checkpoint.request_stop("test")
    history = fit(model, epochs=1, steps_per_epoch=3, callbacks=[callback, checkpoint])
    assert checkpoint.step == 1 and checkpoint.stop_reason == "test"
    assert "val_psnr" not in history.history


def test_arguments_are_checked_and_kept(validation_sets):
    with pytest.raises(ValueError, match="`every_n_epochs` must be >= 1"):
        ValidationCallback(validation_sets, 2, every_n_epochs=0)
    with pytest.raises(ValueError, match="`steps_per_epoch` and `total_steps`"):
        ValidationCallback(validation_sets, 2, checkpoint=object(), total_steps=4)
    callback = ValidationCallback(validation_sets[0], 2, every_n_epochs=3)
    assert callback.datasets == [validation_sets[0]]
    assert (callback.scale, callback.every_n_epochs, callback.checkpoint) == (
        2,
        3,
        None,
    )
