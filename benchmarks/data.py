"""Training input throughput against the training step of a small ENLCN.

The input pipeline must never be what a training run waits for. This script
measures, on this machine:

1. patches per second that `keras_enlca.data.training_dataset` delivers
   (aligned random crops, 8 dihedral transforms, float32 batches), after a
   warm-up, with nothing else running;
2. the training step time of `enlcn_small_x2` (`model.fit` on a batch held
   in memory), hence the patches per second the model consumes;
3. the step time of `model.fit` fed by the pipeline itself, which should
   equal (2) when the pipeline keeps up.

It prints a table and, with `--json`, writes the figures. Not a test.

Usage:
    python benchmarks/data.py                     # synthetic DIV2K-like images
    python benchmarks/data.py --data DIV2K --scale 2 --json data.json
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def synthetic_div2k(folder, count, scale):
    """HR folder of `count` ~1000x670 photos (bundled samples, upscaled x4)."""
    from keras_enlca.data import bicubic_upscale
    from keras_enlca.data import read_image
    from keras_enlca.data import sample_image_paths
    from keras_enlca.data import write_image

    paths = sample_image_paths()
    for k in range(count):
        image = bicubic_upscale(read_image(paths[k % len(paths)]), 4)
        if k >= len(paths):
            image = image[:, ::-1]
        write_image(os.path.join(folder, f"{k + 1:04d}.png"), image)
    return folder


def pipeline_throughput(data, scale, patch_size, batch_size, batches, seed=1):
    from keras_enlca.data import training_dataset

    start = time.perf_counter()
    dataset = training_dataset(
        data, scale, patch_size=patch_size, batch_size=batch_size, seed=seed
    )
    iterator = iter(dataset)
    next(iterator)
    setup = time.perf_counter() - start
    for _ in range(20):  # warm-up (autotune, prefetch)
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        lr, hr = next(iterator)
    elapsed = time.perf_counter() - start
    return dataset, setup, batches * batch_size / elapsed


def step_time(model, inputs, steps):
    """Seconds per `fit` step (after a warm-up epoch)."""
    model.fit(inputs, steps_per_epoch=3, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(inputs, steps_per_epoch=steps, epochs=1, verbose=0)
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=None, help="dataset folder (default: synthetic)"
    )
    parser.add_argument("--preset", default="enlcn_small_x2")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--patch-size", type=int, default=48, help="LR patch size")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--batches", type=int, default=200, help="batches timed for the pipeline"
    )
    parser.add_argument("--steps", type=int, default=10, help="training steps timed")
    parser.add_argument("--images", type=int, default=16, help="synthetic images")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf

    import keras_enlca
    from keras_enlca.models import from_preset
    from keras_enlca.models import reference_adam

    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or synthetic_div2k(
            os.path.join(tmp, "hr"), args.images, args.scale
        )
        dataset, setup, patches_per_second = pipeline_throughput(
            data, args.scale, args.patch_size, args.batch_size, args.batches
        )

        model = from_preset(args.preset)
        model.compile(optimizer=reference_adam())
        hr_size = args.patch_size * args.scale
        rng = np.random.default_rng(0)
        fixed = tf.data.Dataset.from_tensors(
            (
                rng.random(
                    (args.batch_size, args.patch_size, args.patch_size, 3), np.float32
                ),
                rng.random((args.batch_size, hr_size, hr_size, 3), np.float32),
            )
        ).repeat()
        model_step = step_time(model, fixed, args.steps)
        fed_step = step_time(model, dataset, args.steps)

    consumed = args.batch_size / model_step
    figures = {
        "machine": {
            "cpus": os.cpu_count(),
            "tensorflow": tf.__version__,
            "keras_enlca": keras_enlca.__version__,
        },
        "data": args.data or f"synthetic: {args.images} images of ~1000x670 (HR)",
        "scale": args.scale,
        "lr_patch_size": args.patch_size,
        "batch_size": args.batch_size,
        "pipeline_setup_seconds": setup,
        "pipeline_patches_per_second": patches_per_second,
        "model": args.preset,
        "train_step_seconds": model_step,
        "model_patches_per_second": consumed,
        "train_step_seconds_fed_by_pipeline": fed_step,
        "pipeline_to_model_ratio": patches_per_second / consumed,
    }
    rows = [
        (
            "input pipeline",
            f"{patches_per_second:,.0f} patches/s",
            f"(setup {setup:.1f} s: decode + cache)",
        ),
        (
            f"{args.preset} train step",
            f"{model_step * 1000:,.0f} ms",
            f"= {consumed:,.1f} patches/s",
        ),
        ("train step fed by the pipeline", f"{fed_step * 1000:,.0f} ms", ""),
        (
            "pipeline / model",
            f"{figures['pipeline_to_model_ratio']:,.0f}x",
            "(target >= 3x)",
        ),
    ]
    print(
        f"x{args.scale}, LR patch {args.patch_size}, batch {args.batch_size}, "
        f"{os.cpu_count()} CPUs, TF {tf.__version__}"
    )
    for name, value, note in rows:
        print(f"  {name:<32} {value:>18}  {note}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)
            f.write("\n")
    return 0 if figures["pipeline_to_model_ratio"] >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
