"""Training: callbacks, learning-rate schedule, distribution strategy."""

from keras_enlca.training.callbacks import reference_callbacks
from keras_enlca.training.projection_redraw import ProjectionRedraw
from keras_enlca.training.projection_redraw import enlca_layers
from keras_enlca.training.step_decay import StepDecay
from keras_enlca.training.step_decay import reference_optimizer
from keras_enlca.training.strategy import get_strategy
