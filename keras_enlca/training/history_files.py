"""The per-epoch history of a training run as JSON and CSV files."""

import csv
import json
import os

import keras

from keras_enlca.training.run_epochs import epoch_complete
from keras_enlca.utils.atomic import atomic_path

# Where the history rows live in `RunCheckpoint.state` (saved with each
# checkpoint, so that a resumed run continues its history).
HISTORY_KEY = "history"


def write_history(rows, json_path, csv_path):
    """Write `rows` (dicts) to `json_path` and `csv_path`, each atomically.

    The CSV columns are the keys of all rows in order of first appearance;
    a row without a column leaves its cell empty.
    """
    with atomic_path(json_path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    columns = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    with atomic_path(csv_path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


class HistoryFiles(keras.callbacks.Callback):
    """Writes a run's history rows to `history.json` and `history.csv`.

    The rows are `checkpoint.state["history"]` (appended by
    `TrainingLogger`, saved with every checkpoint). At the end of every
    complete epoch both files are rewritten (each to a temporary name, then
    renamed), so that a killed run never leaves a half-written file. Place
    it after the `RunCheckpoint`: the files are written once the epoch's
    checkpoint is saved, and never list a step no checkpoint holds.

    On resume, `cut_back(step)` drops the rows after the restored step:
    an epoch's row is kept in the state before its checkpoint is written,
    and a run stopped between the two (killed, disk full) must not keep a
    row for a step it will train again.

    Args:
        checkpoint: the run's `RunCheckpoint` (its `step` counts the
            finished steps, its `state` holds the rows).
        json_path: path of the JSON file (a list of row objects).
        csv_path: path of the CSV file (a header, one line per row).
        steps_per_epoch: int. The run's epoch length.
        total_steps: int. The run's length in steps.

    Example:

    ```python
    checkpoint = RunCheckpoint("run/checkpoints")
    files = HistoryFiles(checkpoint, "run/history.json", "run/history.csv", 1000, 10000)
    files.cut_back(checkpoint.restore(model))
    callbacks = [TrainingLogger(checkpoint, 1000, 10000, 1e-4), checkpoint, files]
    ```
    """

    def __init__(self, checkpoint, json_path, csv_path, steps_per_epoch, total_steps):
        super().__init__()
        self.checkpoint = checkpoint
        self.json_path = os.fspath(json_path)
        self.csv_path = os.fspath(csv_path)
        self.steps_per_epoch = int(steps_per_epoch)
        self.total_steps = int(total_steps)

    @property
    def rows(self):
        """The history rows kept in the checkpoint's state."""
        return self.checkpoint.state.get(HISTORY_KEY, [])

    def write(self):
        """Write the rows to both files now."""
        write_history(self.rows, self.json_path, self.csv_path)

    def cut_back(self, step):
        """Keep the rows up to `step` (in the state and in the files).

        The files are rewritten when a row is kept or they exist already.
        """
        rows = [row for row in self.rows if row["step"] <= step]
        self.checkpoint.state[HISTORY_KEY] = rows
        if rows or os.path.exists(self.json_path):
            self.write()

    def on_epoch_end(self, epoch, logs=None):
        if epoch_complete(self.checkpoint.step, self.steps_per_epoch, self.total_steps):
            self.write()
