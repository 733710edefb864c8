"""The layout of a run folder: the files and folders `run_training` writes.

Shared by the run itself (`run.py`), the multi-worker scratch copies
(`multi_worker.py`) and `enlca train` (which resumes from `config.yaml`).
"""

import os

CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
HISTORY_JSON = "history.json"
HISTORY_CSV = "history.csv"
MODEL_FILE = "model.keras"
LOCK_FILE = ".lock"


def run_paths(run_dir):
    """The files and folders of a run folder, by name."""
    run_dir = os.fspath(run_dir)
    return {
        "config": os.path.join(run_dir, CONFIG_FILE),
        "checkpoints": os.path.join(run_dir, CHECKPOINT_DIR),
        "logs": os.path.join(run_dir, LOG_DIR),
        "history_json": os.path.join(run_dir, HISTORY_JSON),
        "history_csv": os.path.join(run_dir, HISTORY_CSV),
        "model": os.path.join(run_dir, MODEL_FILE),
    }
