"""The documentation's pictures, drawn by the project from the bundled photos.

Run by the docs build (`docs/scripts/hooks.py`, before MkDocs collects the
pages) or by hand: `python docs/scripts/figures.py OUT_DIR`. It trains one
tiny ×2 network on the five bundled photos for `TRAIN_STEPS` steps (about a
minute on two CPU cores) and draws with it:

- `attention.png`: the ENLCA paper's Figure 1 for that network's NLA, NLSA
  and ENLCA layers (`keras_enlca.visualization.attention_figure`);
- `comparison.png`: LR / bicubic / SR / HR crops of a held-out photo
  (`keras_enlca.evaluation.comparison_figure`);
- `tiled.png`: a photo upscaled in overlapping tiles
  (`keras_enlca.evaluation.upscale_tiled`), before and after.

`figures.json` records what was used (steps, seconds, PSNR, sizes): the
captions of the pages quote it. Nothing here is hand-made or pasted.
"""

import json
import os
import shutil
import sys
import tempfile
import time

SCALE = 2
TRAIN_STEPS = 120
PATCH = 24
BATCH = 8
HELD_OUT = "chelsea.png"
ATTENTION_PHOTO = "astronaut.png"
# NLA is quadratic: the map is drawn on a 96x96 crop (9216 positions)
ATTENTION_CROP = (96, 8, 96, 96)  # (x, y, width, height) in the photo: the face
ATTENTION_POINT = (40, 44)  # (x, y) in the crop
TILED_PHOTO = "rocket.png"
TILE = 48
OVERLAP = 8
FIGURES = ("attention.png", "comparison.png", "tiled.png")


def figure_model(seed=0):
    """A ×2 network with one NLA, one NLSA and one ENLCA layer (32 features)."""
    import keras

    from keras_enlca import layers
    from keras_enlca import models

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(32, 3, padding="same", name="head")(inputs)
    x = layers.NonLocalAttention(reduction=2, name="nla")(x)
    x = layers.ResidualBlock(32, name="block_1")(x)
    x = layers.NonLocalSparseAttention(n_hashes=2, chunk_size=144, name="nlsa")(x)
    x = layers.ResidualBlock(32, name="block_2")(x)
    x = layers.ENLCA(reduction=4, contrastive=None, name="enlca")(x)
    x = layers.Upsampler(SCALE, 32, name="upsample")(x)
    x = keras.layers.Conv2D(3, 3, padding="same", name="tail")(x)
    skip = layers.ResizeUpsampling(SCALE, interpolation="bilinear", name="skip")(inputs)
    outputs = keras.layers.Add(name="add")([x, skip])
    return models.SuperResolutionModel(inputs, outputs, scale=SCALE, name="figures")


def train(model, photos_dir, train_names):
    from keras_enlca import data
    from keras_enlca import training

    folder = tempfile.mkdtemp(prefix="enlca-figures-")
    for name in train_names:
        shutil.copy(os.path.join(photos_dir, name), folder)
    dataset = data.training_dataset(
        folder,
        SCALE,
        patch_size=PATCH,
        batch_size=BATCH,
        seed=1,
    )
    model.compile(optimizer=training.reference_optimizer(5e-4), contrastive_weight=0)
    start = time.perf_counter()
    history = model.fit(dataset, steps_per_epoch=TRAIN_STEPS, epochs=1, verbose=0)
    shutil.rmtree(folder)
    return time.perf_counter() - start, float(history.history["loss"][-1])


def main(out_dir):
    from keras_enlca import data
    from keras_enlca import evaluation
    from keras_enlca import visualization

    os.makedirs(out_dir, exist_ok=True)
    photos = data.sample_images_dir()
    names = sorted(n for n in os.listdir(photos) if n.endswith(".png"))
    model = figure_model()
    seconds, loss = train(model, photos, [n for n in names if n != HELD_OUT])
    record = {"train_steps": TRAIN_STEPS, "train_seconds": round(seconds, 1)}
    record.update({"patch": PATCH, "batch": BATCH, "scale": SCALE, "loss": loss})

    x, y, w, h = ATTENTION_CROP
    image = data.read_image(os.path.join(photos, ATTENTION_PHOTO))[y : y + h, x : x + w]
    maps = visualization.attention_map(model, image, ATTENTION_POINT)
    figure = visualization.attention_figure(image, maps, columns=5)
    data.write_image(os.path.join(out_dir, "attention.png"), figure)
    record["attention"] = {"photo": ATTENTION_PHOTO, "crop": ATTENTION_CROP}
    record["attention"]["point"] = ATTENTION_POINT
    summaries = [m.summary() for m in maps]
    record["attention"]["layers"] = [m["layer"] for m in summaries]
    # nats; log(HW) is a uniform row
    record["attention"]["entropy"] = {
        m["layer"]: round(m["entropy"], 2) for m in summaries
    }
    record["attention"]["uniform_entropy"] = round(summaries[0]["uniform_entropy"], 2)

    lr, hr = data.bicubic_downscale(
        data.read_image(os.path.join(photos, HELD_OUT)), SCALE
    )
    bicubic = data.bicubic_upscale(lr, SCALE)
    # tiles keep the NLA layer's (HW x HW) matrix small
    predict = evaluation.predict_fn(model)
    sr = evaluation.upscale_image(predict, lr, SCALE, tile=TILE, overlap=OVERLAP)
    scores = {
        "psnr": evaluation.psnr(sr, hr, SCALE),
        "ssim": evaluation.ssim(sr, hr, SCALE),
        "bicubic_psnr": evaluation.psnr(bicubic, hr, SCALE),
        "bicubic_ssim": evaluation.ssim(bicubic, hr, SCALE),
    }
    figure, crop = evaluation.comparison_figure(
        lr, bicubic, sr, hr, SCALE, name=HELD_OUT[:-4], scores=scores
    )
    data.write_image(os.path.join(out_dir, "comparison.png"), figure)
    record["comparison"] = {"photo": HELD_OUT, "crop": crop}
    record["comparison"].update({k: round(float(v), 4) for k, v in scores.items()})

    lr, _ = data.bicubic_downscale(
        data.read_image(os.path.join(photos, TILED_PHOTO)), SCALE
    )
    sr = evaluation.upscale_tiled(model, lr, SCALE, tile=TILE, overlap=OVERLAP)
    figure = tiled_figure(lr, sr)
    data.write_image(os.path.join(out_dir, "tiled.png"), figure)
    record["tiled"] = {"photo": TILED_PHOTO, "tile": TILE, "overlap": OVERLAP}
    record["tiled"].update({"lr": list(lr.shape[:2]), "sr": list(sr.shape[:2])})
    for name in FIGURES:
        shape = data.image_shape(os.path.join(out_dir, name))
        record[name] = list(shape)
    with open(os.path.join(out_dir, "figures.json"), "w") as f:
        json.dump(record, f, indent=2, default=float)
    return record


def tiled_figure(lr, sr):
    """LR (nearest ×SCALE, with the tile grid) beside the tiled SR output."""
    import numpy as np

    from keras_enlca.inference.tiling import tile_starts
    from keras_enlca.utils.image_conventions import to_uint8
    from keras_enlca.visualization import panel_grid

    grid = np.repeat(np.repeat(to_uint8(lr), SCALE, axis=0), SCALE, axis=1)
    # the tiler's own plan: where each tile starts and ends, in LR pixels
    for axis, length in enumerate(lr.shape[:2]):
        for start in tile_starts(length, min(TILE, length), OVERLAP):
            for edge in (start, start + min(TILE, length) - 1):
                index = [slice(None), slice(None)]
                index[axis] = slice(edge * SCALE, edge * SCALE + SCALE)
                grid[tuple(index)] = (255, 210, 0)
    labels = [
        f"LR x{SCALE} (nearest), tiles of {TILE} px",
        f"SR, tiled (overlap {OVERLAP})",
    ]
    return panel_grid([grid, to_uint8(sr)], labels, columns=2)


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1] if len(sys.argv) > 1 else "figures"), indent=2))
