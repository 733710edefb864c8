"""Import the authors' PyTorch checkpoints (EDSR, NLSN, ENLCN, A2N).

PyTorch is optional (`pip install keras-enlca[torch]`) and only imported
when a checkpoint file is read.
"""

from keras_enlca.convert.checkpoint import TorchNotInstalledError
from keras_enlca.convert.checkpoint import read_checkpoint
from keras_enlca.convert.checkpoint import state_dict_to_numpy
from keras_enlca.convert.layout import ARCHITECTURES
from keras_enlca.convert.layout import check_state_dict
from keras_enlca.convert.layout import detect_architecture
from keras_enlca.convert.layout import infer_hyperparameters
from keras_enlca.convert.layout import reference_layout
from keras_enlca.convert.torch_checkpoints import build_model
from keras_enlca.convert.torch_checkpoints import convert_checkpoint
from keras_enlca.convert.torch_checkpoints import load_torch_state_dict
from keras_enlca.convert.weights import conv_kernel
from keras_enlca.convert.weights import dense_kernel
from keras_enlca.convert.weights import pixel_shuffle_conv
from keras_enlca.convert.weights import pixel_shuffle_permutation
