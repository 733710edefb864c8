"""A synthetic image with a repeated patch, and attention models set by hand.

The image has vertical gray stripes (a periodic texture, two gray levels)
and a red 4x4 patch repeated at three known places. The layers' embeddings
are set so that the score of two pixels grows with the similarity of their
colours, so a query inside one red patch should attend to all three.
"""

import keras
import numpy as np

from keras_enlca.layers import EfficientNonLocalContrastiveAttention
from keras_enlca.layers import NonLocalAttention
from keras_enlca.layers import NonLocalSparseAttention

SIZE = 32
PATCH = 4
PATCH_CORNERS = ((4, 4), (20, 8), (12, 24))  # (x, y) of the top-left pixels
QUERY = (21, 9)  # inside the second patch
GAIN = 10.0


def repeated_texture():
    """`(image, mask)`: float32 `(32, 32, 3)` image, bool mask of the patches."""
    columns = np.arange(SIZE)
    gray = np.where(columns % 4 < 2, 0.3, 0.7).astype("float32")
    image = np.repeat(np.tile(gray, (SIZE, 1))[..., None], 3, axis=-1)
    mask = np.zeros((SIZE, SIZE), bool)
    for x, y in PATCH_CORNERS:
        image[y : y + PATCH, x : x + PATCH] = (1.0, 0.0, 0.0)
        mask[y : y + PATCH, x : x + PATCH] = True
    return image, mask


def _centred(conv, size=1):
    """`GAIN * (colour - 0.5)` as a conv (centre tap only for a 3x3)."""
    kernel = np.zeros((size, size, 3, 3), "float32")
    kernel[size // 2, size // 2] = GAIN * np.eye(3)
    conv.set_weights([kernel, np.full(3, -0.5 * GAIN, "float32")])


def hand_set_model(kind):
    """A model `RGB -> attention layer` with colour-similarity embeddings."""
    inputs = keras.Input((None, None, 3))
    if kind == "NLA":
        layer = NonLocalAttention(reduction=1, name="attention")
    elif kind == "ENLCA":
        layer = EfficientNonLocalContrastiveAttention(
            reduction=1,
            num_random_features=256,
            projection_sign_correction=True,
            contrastive=None,
            projection_seed=0,
            name="attention",
        )
    else:
        layer = NonLocalSparseAttention(
            reduction=1, chunk_size=64, n_hashes=2, name="attention"
        )
    model = keras.Model(inputs, layer(inputs), name=f"hand_set_{kind.lower()}")
    if kind == "NLSA":
        _centred(layer.match_embedding, 3)
        # Rotations that put red, light gray and dark gray in three buckets.
        rotations = np.zeros(layer.rotations.shape, "float32")
        rotations[:, :, 0] = np.array([1.0, -1.0, -1.0])[:, None]
        rotations[:, :, 1] = 1.0
        layer.rotations.assign(rotations)
    else:
        _centred(layer.query_embedding)
        _centred(layer.key_embedding)
    return model
