import os

from keras_enlca.data import read_image
from keras_enlca.data import sample_image_paths
from keras_enlca.data import sample_images_dir


def test_bundled_photos_are_small_rgb_and_licensed():
    folder = sample_images_dir()
    paths = sample_image_paths()
    assert len(paths) == 5 and all(os.path.isfile(p) for p in paths)
    assert sorted(n for n in os.listdir(folder) if n.endswith(".png")) == sorted(
        os.path.basename(p) for p in paths
    )
    total = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
    assert total < 1_000_000
    licence = open(os.path.join(folder, "LICENSE.txt"), encoding="utf-8").read()
    for path in paths:
        image = read_image(path)
        assert image.shape[2] == 3 and max(image.shape[:2]) == 252
        # Every side divides by 2, 3 and 4: usable at any scale without cropping.
        assert image.shape[0] % 12 == 0 and image.shape[1] % 12 == 0
        # Real photographs, not flat test patterns.
        assert image.std() > 20
        assert os.path.basename(path) in licence
    assert "public domain" in licence and "CC0" in licence
