"""A non-chief worker's scratch folder starts from the chief's checkpoint."""

import os

from keras_enlca.training import multi_worker
from keras_enlca.training.run_folder import run_paths
from tests.training.test_run_checkpoint import _damage
from tests.training.test_run_checkpoint import _train_to


def test_scratch_copy_takes_the_newest_intact_checkpoint(tmp_path):
    run_dir, scratch = tmp_path / "run", tmp_path / "scratch"
    checkpoints = run_paths(run_dir)["checkpoints"]
    _train_to(checkpoints, 6)
    _damage(os.path.join(checkpoints, "step-000000006", "state.json"), "truncate")

    # The chief's restore falls back to step 5: the copy must hold step 5 too,
    # or the workers would restore different checkpoints.
    assert multi_worker._newest_checkpoint(run_dir)[0] == 5
    multi_worker._copy_newest(run_dir, scratch)
    copied = os.listdir(run_paths(scratch)["checkpoints"])
    assert copied == ["step-000000005"]
    assert multi_worker._newest_checkpoint(scratch)[0] == 5
