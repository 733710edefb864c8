"""The small photographs bundled with the package (demo, examples, tests)."""

import os

SAMPLE_IMAGE_NAMES = ("astronaut", "chelsea", "coffee", "hubble", "rocket")


def sample_images_dir():
    """Folder of the bundled sample photos (5 PNGs, public domain / CC0).

    `LICENSE.txt` in the folder names the source and licence of each.

    Example:

    ```python
    from keras_enlca.data import sample_images_dir, read_image

    astronaut = read_image(os.path.join(sample_images_dir(), "astronaut.png"))
    ```
    """
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample_images")


def sample_image_paths():
    """Paths of the bundled sample photos, sorted by name."""
    folder = sample_images_dir()
    return [os.path.join(folder, f"{name}.png") for name in SAMPLE_IMAGE_NAMES]
