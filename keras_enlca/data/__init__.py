"""Image I/O, MATLAB bicubic resizing, SR datasets and `tf.data` pipelines.

Nothing here imports TensorFlow at import time (the pipelines import it when
called), so reading, resizing and scoring images stays light.
"""

from keras_enlca.data.bicubic import bicubic_downscale
from keras_enlca.data.bicubic import bicubic_upscale
from keras_enlca.data.bicubic import imresize
from keras_enlca.data.bicubic import modcrop
from keras_enlca.data.bicubic import resize_weights
from keras_enlca.data.datasets import DATASET_SCALES
from keras_enlca.data.datasets import PUBLISHED_SCALES
from keras_enlca.data.datasets import SRDataset
from keras_enlca.data.datasets import check_scale
from keras_enlca.data.datasets import open_dataset
from keras_enlca.data.datasets import open_datasets
from keras_enlca.data.io import IMAGE_EXTENSIONS
from keras_enlca.data.io import image_shape
from keras_enlca.data.io import list_images
from keras_enlca.data.io import read_image
from keras_enlca.data.io import to_uint8
from keras_enlca.data.io import write_image
from keras_enlca.data.matching import match_files
from keras_enlca.data.pipeline import evaluation_dataset
from keras_enlca.data.pipeline import training_dataset
from keras_enlca.data.sample_images import sample_image_paths
from keras_enlca.data.sample_images import sample_images_dir
