"""Super-resolution networks: EDSR, NLSN, ENLCN, A2N, their presets and the
registry of network families."""

# `families` registers the built-in networks.
from keras_enlca.models import families
from keras_enlca.models.a2n import A2N
from keras_enlca.models.edsr import EDSR
from keras_enlca.models.edsr_graph import attention_body_indices
from keras_enlca.models.enlcn import ENLCN
from keras_enlca.models.network_family import NetworkFamily
from keras_enlca.models.nlsn import NLSN
from keras_enlca.models.parameter_count import count_parameters
from keras_enlca.models.parameter_count import count_weights
from keras_enlca.models.presets import PRESETS
from keras_enlca.models.presets import RECIPES
from keras_enlca.models.presets import from_preset
from keras_enlca.models.presets import get_recipe
from keras_enlca.models.presets import list_presets
from keras_enlca.models.presets import preset_config
from keras_enlca.models.reference_adam import ReferenceAdam
from keras_enlca.models.registry import family_names
from keras_enlca.models.registry import family_of
from keras_enlca.models.registry import get_family
from keras_enlca.models.registry import register_family
from keras_enlca.models.registry import unregister_family
from keras_enlca.models.sr_model import SuperResolutionModel
from keras_enlca.models.sr_model import enlca_layers
from keras_enlca.models.sr_model import reference_adam
from keras_enlca.models.sr_model import y_channel_psnr
