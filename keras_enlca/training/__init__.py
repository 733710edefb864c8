"""Training: callbacks, learning-rate schedule, distribution strategy."""

from keras_enlca.utils.lazy_exports import lazy_exports

# public name -> the module that defines it (loaded on first use)
EXPORTS = {
    "reference_callbacks": "callbacks",
    "ValidationCallback": "validation_callback",
    "TrainingLogger": "training_logger",
    "HistoryFiles": "history_files",
    "ProjectionRedraw": "projection_redraw",
    "enlca_layers": "keras_enlca.models.sr_model",
    "StepDecay": "step_decay",
    "reference_optimizer": "step_decay",
    "get_strategy": "strategy",
    "DistributedTrainer": "distributed_trainer",
    "TrainConfig": "config",
    "load_config": "config",
    "RunResult": "run",
    "load_run_model": "run",
    "run_training": "run",
    "RunCheckpoint": "run_checkpoint",
}

__all__ = sorted(EXPORTS)

lazy_exports(__name__, EXPORTS)
