import csv
import json
import os

import pytest

from keras_enlca.training.history_files import HISTORY_KEY
from keras_enlca.training.history_files import HistoryFiles
from keras_enlca.training.history_files import write_history
from keras_enlca.training.run_checkpoint import RunCheckpoint
from keras_enlca.training.training_logger import TrainingLogger
from tests.training.tiny_models import fit
from tests.training.tiny_models import tiny_sr_model


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def history_files(tmp_path, checkpoint, steps_per_epoch=2, total_steps=6):
    return HistoryFiles(
        checkpoint,
        tmp_path / "history.json",
        tmp_path / "history.csv",
        steps_per_epoch,
        total_steps,
    )


def test_written_after_every_complete_epoch(tmp_path):
    model = tiny_sr_model()
    checkpoint = RunCheckpoint(tmp_path / "checkpoints", every_n_steps=100)
    files = history_files(tmp_path, checkpoint)
    logger = TrainingLogger(checkpoint, 2, 6, 1e-3, log=lambda line: None)
    callbacks = [logger, checkpoint, files]
    fit(model, epochs=2, steps_per_epoch=2, callbacks=callbacks)
    rows = checkpoint.state[HISTORY_KEY]
    assert [r["step"] for r in rows] == [2, 4] and files.rows is rows
    assert json.loads((tmp_path / "history.json").read_text()) == rows
    table = read_csv(tmp_path / "history.csv")
    assert table[0] == ["epoch", "step", "loss", "learning_rate", "steps", "seconds"]
    assert [[float(v) for v in line] for line in table[1:]] == [
        [r[k] for k in table[0]] for r in rows
    ]
    # A stopped epoch (1 of 2 steps) writes nothing.
    before = (tmp_path / "history.json").read_text()
    os.remove(tmp_path / "history.csv")
    checkpoint.request_stop("test")
    fit(model, initial_epoch=2, epochs=3, steps_per_epoch=2, callbacks=callbacks)
    assert checkpoint.step == 5 and (tmp_path / "history.json").read_text() == before
    assert not (tmp_path / "history.csv").exists()


def test_cut_back_keeps_the_rows_up_to_the_resumed_step(tmp_path):
    checkpoint = RunCheckpoint(tmp_path / "checkpoints")
    files = history_files(tmp_path, checkpoint)
    # Nothing kept and no files yet: nothing is written.
    files.cut_back(0)
    assert checkpoint.state[HISTORY_KEY] == [] and os.listdir(tmp_path) == []
    checkpoint.state[HISTORY_KEY] = [
        {"epoch": 1, "step": 2, "loss": 0.5},
        {"epoch": 2, "step": 4, "loss": 0.25, "val_psnr": 30.5},
        {"epoch": 3, "step": 6, "loss": 0.125},
    ]
    files.cut_back(4)
    kept = [
        {"epoch": 1, "step": 2, "loss": 0.5},
        {"epoch": 2, "step": 4, "loss": 0.25, "val_psnr": 30.5},
    ]
    assert checkpoint.state[HISTORY_KEY] == kept
    assert json.loads((tmp_path / "history.json").read_text()) == kept
    # The columns of every row; a row without one leaves its cell empty.
    assert read_csv(tmp_path / "history.csv") == [
        ["epoch", "step", "loss", "val_psnr"],
        ["1", "2", "0.5", ""],
        ["2", "4", "0.25", "30.5"],
    ]
    # Back to the start: the files exist, so they are emptied.
    files.cut_back(0)
    assert json.loads((tmp_path / "history.json").read_text()) == []
    assert read_csv(tmp_path / "history.csv") == [[]]


def test_written_atomically(tmp_path):
    json_path, csv_path = tmp_path / "history.json", tmp_path / "history.csv"
    rows = [{"epoch": 1, "step": 2, "loss": 0.5}]
    write_history(rows, json_path, csv_path)
    # A write that fails half-way (the second row cannot be encoded) leaves
    # the previous files whole and no temporary behind.
    with pytest.raises(TypeError):
        write_history(
            rows + [{"epoch": 2, "step": 4, "loss": object()}], json_path, csv_path
        )
    assert json.loads(json_path.read_text()) == rows
    assert read_csv(csv_path) == [["epoch", "step", "loss"], ["1", "2", "0.5"]]
    assert sorted(os.listdir(tmp_path)) == ["history.csv", "history.json"]
