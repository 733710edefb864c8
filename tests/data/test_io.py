import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from PIL import ImageOps

from keras_enlca.data.io import apply_exif_orientation
from keras_enlca.data.io import image_shape
from keras_enlca.data.io import list_images
from keras_enlca.data.io import read_image
from keras_enlca.data.io import to_uint8
from keras_enlca.data.io import write_image
from keras_enlca.errors import InputError


@pytest.fixture
def rgb(rng):
    return rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)


def _write_png16(path, array):
    with open(path, "wb") as f:
        f.write(tf.io.encode_png(array).numpy())


def test_rgb_png_round_trip(tmp_path, rgb):
    path = write_image(tmp_path / "a.png", rgb)
    out = read_image(path)
    assert out.dtype == np.uint8 and out.shape == (7, 5, 3)
    np.testing.assert_array_equal(out, rgb)


def test_grayscale_is_replicated(tmp_path, rgb):
    gray = rgb[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = read_image(tmp_path / "g.png")
    np.testing.assert_array_equal(out, np.stack([gray] * 3, axis=-1))


def test_one_bit_image(tmp_path):
    bits = np.zeros((4, 6), bool)
    bits[1, 2] = True
    Image.fromarray(bits).save(tmp_path / "b.png")
    out = read_image(tmp_path / "b.png")
    assert out[1, 2].tolist() == [255, 255, 255]
    assert out.sum() == 3 * 255


def test_alpha_is_dropped(tmp_path, rgb, rng):
    alpha = rng.integers(0, 256, (7, 5, 1), dtype=np.uint8)
    Image.fromarray(np.concatenate([rgb, alpha], -1), "RGBA").save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgb)
    la = np.concatenate([rgb[..., :1], alpha], -1)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(
        read_image(tmp_path / "la.png"), np.repeat(rgb[..., :1], 3, -1)
    )


def test_palette_images(tmp_path, rgb):
    image = Image.fromarray(rgb).quantize(colors=16)
    image.save(tmp_path / "p.png")
    expected = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(read_image(tmp_path / "p.png"), expected)
    # With a transparent palette entry the colours are still the palette's.
    image.info["transparency"] = 0
    image.save(tmp_path / "pt.png", transparency=0)
    np.testing.assert_array_equal(read_image(tmp_path / "pt.png"), expected)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_png_scaled_with_rounding(tmp_path, rng, channels):
    values = rng.integers(0, 65536, (6, 9, channels), dtype=np.uint16)
    # Exact 8-bit levels (v * 257) and the rounding boundary around them.
    values[0, 0, 0], values[0, 1, 0], values[0, 2, 0] = 128, 129, 65535
    _write_png16(tmp_path / "w.png", values)
    out = read_image(tmp_path / "w.png")
    expected = np.floor(values.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    if channels in (1, 2):
        expected = np.repeat(expected[..., :1], 3, -1)
    else:
        expected = expected[..., :3]
    np.testing.assert_array_equal(out, expected)
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 1 and out[0, 2, 0] == 255


def test_16bit_png_of_8bit_data_is_exact(tmp_path, rgb):
    _write_png16(tmp_path / "w.png", rgb.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_image(tmp_path / "w.png"), rgb)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation, rng):
    base = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    image = Image.fromarray(base)
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as opened:
        expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
    out = read_image(tmp_path / "o.png")
    np.testing.assert_array_equal(out, expected)
    assert image_shape(tmp_path / "o.png") == out.shape[:2]


def test_exif_orientation_jpeg(tmp_path):
    # A photo taken with the camera rotated: stored 8x16, shown 16x8.
    base = np.zeros((8, 16, 3), np.uint8)
    base[:, :8] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(base).save(tmp_path / "photo.jpg", exif=exif, quality=100)
    out = read_image(tmp_path / "photo.jpg")
    assert out.shape == (16, 8, 3)
    # After a clockwise turn the white (left) half is on top.
    assert out[:7].mean() > 240 and out[9:].mean() < 15


def test_apply_exif_orientation_is_inverse_of_camera_rotation():
    a = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(apply_exif_orientation(a, 6), np.rot90(a, -1))
    np.testing.assert_array_equal(apply_exif_orientation(a, 8), np.rot90(a, 1))
    np.testing.assert_array_equal(apply_exif_orientation(a, 1), a)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(InputError, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_corrupt_and_truncated_files_name_them(tmp_path, rgb):
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="junk.png"):
        read_image(tmp_path / "junk.png")
    write_image(tmp_path / "big.png", np.tile(rgb, (40, 40, 1)))
    data = (tmp_path / "big.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cut.png"):
        read_image(tmp_path / "cut.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="empty.jpg"):
        read_image(tmp_path / "empty.jpg")
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)


def test_corrupt_16bit_png_names_it(tmp_path, rng):
    _write_png16(
        tmp_path / "w.png", rng.integers(0, 65536, (40, 40, 3), dtype=np.uint16)
    )
    data = (tmp_path / "w.png").read_bytes()
    (tmp_path / "w16cut.png").write_bytes(data[:-200])
    with pytest.raises(InputError, match="w16cut.png"):
        read_image(tmp_path / "w16cut.png")


def test_write_formats_from_extension(tmp_path, rgb):
    for ext, fmt in (
        (".png", "PNG"),
        (".jpg", "JPEG"),
        (".bmp", "BMP"),
        (".tif", "TIFF"),
    ):
        path = write_image(tmp_path / f"x{ext}", rgb)
        with Image.open(path) as image:
            assert image.format == fmt
    np.testing.assert_array_equal(read_image(tmp_path / "x.bmp"), rgb)
    with pytest.raises(InputError, match="extension"):
        write_image(tmp_path / "x.xyz", rgb)
    with pytest.raises(InputError, match="shape"):
        write_image(tmp_path / "y.png", np.zeros((4, 4, 2), np.uint8))


def test_write_is_atomic_and_leaves_no_temporary(tmp_path, rgb, monkeypatch):
    write_image(tmp_path / "sub" / "a.png", rgb)
    assert sorted(os.listdir(tmp_path / "sub")) == ["a.png"]

    def failing_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "sub" / "a.png", rgb[::-1])
    with pytest.raises(OSError):
        write_image(tmp_path / "sub" / "b.png", rgb)
    monkeypatch.undo()
    # The old file is intact, no half file and no temporary were left.
    assert sorted(os.listdir(tmp_path / "sub")) == ["a.png"]
    np.testing.assert_array_equal(read_image(tmp_path / "sub" / "a.png"), rgb)


def test_float_images_are_quantised(tmp_path):
    values = np.array([[[-0.1, 0.0, 0.5 / 255], [1.5 / 255, 0.5, 1.2]]], np.float32)
    np.testing.assert_array_equal(to_uint8(values), [[[0, 0, 1], [2, 128, 255]]])
    write_image(tmp_path / "f.png", values[None])  # a batch of one is accepted
    np.testing.assert_array_equal(
        read_image(tmp_path / "f.png"), [[[0, 0, 1], [2, 128, 255]]]
    )


def test_list_images(tmp_path, rgb):
    for name in ("b.png", "a.JPG", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()
    assert [os.path.basename(p) for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    with pytest.raises(InputError, match="not found"):
        list_images(tmp_path / "missing")
