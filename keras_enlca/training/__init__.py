"""Training: callbacks, learning-rate schedule, distribution strategy."""

from keras_enlca.training.callbacks import reference_callbacks
from keras_enlca.training.projection_redraw import ProjectionRedraw
from keras_enlca.models.sr_model import enlca_layers
from keras_enlca.training.step_decay import StepDecay
from keras_enlca.training.step_decay import reference_optimizer
from keras_enlca.training.strategy import get_strategy
from keras_enlca.training.config import TrainConfig
from keras_enlca.training.config import load_config
from keras_enlca.training.run import RunResult
from keras_enlca.training.run import load_run_model
from keras_enlca.training.run import run_training
from keras_enlca.training.run_checkpoint import RunCheckpoint
