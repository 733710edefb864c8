"""Images/s of `enlca upscale --ray` (1 and 2 workers) against one process.

One run, on this machine, over the same images and model:

- `single, T threads`: the default single-process path (`open_runner` +
  `upscale_file`, what `enlca upscale --threads T` runs), the model
  opened once (its load time is given apart);
- `ray, W x T`: `upscale_with_ray` on a new local Ray instance
  (`address="local"`) with W workers of T threads each. Its columns:
  `start s` (starting Ray and planning the workers), `first s` (from then
  to the first finished image: the workers' start and model load), `wall s`
  (everything, the start included), `images/s` (all images over the wall
  time) and `steady images/s` (all images over the workers' working
  window, from the first batch's start to the last batch's end on the
  workers: what a long job gets, without the start-up).

The model defaults to the untrained `a2n_small_x2` preset exported to a
float32 `.tflite` (cached in `--work-dir`; needs TensorFlow once); pass
`--model PATH.tflite` for another. Images: `--images` crops of `--size`
LR pixels from the bundled photos.

Run by hand (not a test):

    python benchmarks/ray_upscale.py   # table + benchmarks/results/ray_upscale.json
    python benchmarks/ray_upscale.py --images 32 --size 128
"""

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def default_model(work_dir):
    """The untrained a2n_small_x2 as a float32 .tflite (exported once)."""
    path = os.path.join(work_dir, "a2n_small_x2.tflite")
    if not os.path.exists(path):
        import keras

        from keras_enlca.export.tflite import export_tflite
        from keras_enlca.models import from_preset

        keras.utils.set_random_seed(0)
        export_tflite(from_preset("a2n_small_x2"), path, quantize="none")
    return path


def make_images(folder, count, size):
    from keras_enlca.data import read_image
    from keras_enlca.data import sample_image_paths
    from keras_enlca.data import write_image

    photos = [read_image(p) for p in sample_image_paths()]
    for i in range(count):
        photo = photos[i % len(photos)]
        y = (i * 13) % max(1, photo.shape[0] - size)
        x = (i * 29) % max(1, photo.shape[1] - size)
        write_image(
            os.path.join(folder, f"im{i:03d}.png"), photo[y : y + size, x : x + size]
        )
    return sorted(os.listdir(folder))


def single_process(model, folder, names, out, threads):
    from keras_enlca.inference.loader import open_runner
    from keras_enlca.inference.upscale_files import upscale_file

    started = time.perf_counter()
    runner = open_runner(model, num_threads=threads)
    loaded = time.perf_counter()
    for name in names:
        upscale_file(runner, os.path.join(folder, name), os.path.join(out, name))
    done = time.perf_counter()
    return {
        "config": f"single, {threads} thread{'s' if threads > 1 else ''}",
        "load_s": loaded - started,
        "wall_s": done - started,
        "images_per_s": len(names) / (done - loaded),
        "steady_images_per_s": len(names) / (done - loaded),
    }


def on_ray(model, folder, names, out, workers, threads):
    from keras_enlca.inference.ray_upscale import upscale_with_ray

    started = time.perf_counter()
    report = upscale_with_ray(
        model,
        [folder],
        out,
        address="local",
        num_workers=workers,
        threads_per_worker=threads,
    )
    wall = time.perf_counter() - started
    assert report["written"] == len(names) and not report["failed"], report
    first, last = report["work_window"]
    steady = len(names) / (last - first)
    return {
        "config": f"ray, {workers} x {threads}",
        "start_s": report["startup_s"],
        "first_s": report["first_result_s"],
        "wall_s": wall,
        "images_per_s": len(names) / wall,
        "steady_images_per_s": steady,
    }


def main(argv=None):
    # Ray 2.60 starts a local instance with token authentication and would
    # write a token to ~/.ray/auth_token; a token of this run's own instead.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument(
        "--work-dir", default=os.path.join(tempfile.gettempdir(), "enlca-bench-ray")
    )
    parser.add_argument(
        "--json", default=os.path.join(HERE, "results", "ray_upscale.json")
    )
    args = parser.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    model = args.model or default_model(args.work_dir)
    folder = os.path.join(args.work_dir, "images")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    names = make_images(folder, args.images, args.size)
    load_before = os.getloadavg()[0]
    rows = []
    runs = [
        lambda out: single_process(model, folder, names, out, 1),
        lambda out: single_process(model, folder, names, out, 2),
        lambda out: on_ray(model, folder, names, out, 1, 1),
        lambda out: on_ray(model, folder, names, out, 2, 1),
        lambda out: on_ray(model, folder, names, out, 1, 2),
    ]
    outputs = []
    for index, run in enumerate(runs):
        out = os.path.join(args.work_dir, f"out{index}")
        shutil.rmtree(out, ignore_errors=True)
        rows.append(run(out))
        outputs.append(out)
        print(rows[-1], file=sys.stderr, flush=True)
    identical = all(
        open(os.path.join(outputs[0], n), "rb").read()
        == open(os.path.join(o, n), "rb").read()
        for o in outputs[1:]
        for n in names
    )
    header = (
        f"{'config':<20}{'start s':>9}{'first s':>9}{'wall s':>9}{'images/s':>10}"
        f"{'steady images/s':>17}"
    )
    print(
        f"{args.images} images of {args.size}x{args.size} LR, "
        f"{os.path.basename(model)}, {os.cpu_count()} CPUs; outputs byte-identical "
        f"across runs: {identical}; 1-min load average {load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after (other users of the machine)"
    )
    print(header)
    base = rows[0]["steady_images_per_s"]
    for row in rows:
        start = row.get("start_s", row.get("load_s", 0.0))
        first = row.get("first_s", 0.0)
        print(
            f"{row['config']:<20}{start:>9.2f}{first:>9.2f}{row['wall_s']:>9.2f}"
            f"{row['images_per_s']:>10.2f}{row['steady_images_per_s']:>11.2f} "
            f"({row['steady_images_per_s'] / base:.2f}x)"
        )
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(
            {
                "images": args.images,
                "size": args.size,
                "model": os.path.basename(model),
                "cpus": os.cpu_count(),
                "identical": identical,
                "load_average": [load_before, os.getloadavg()[0]],
                "rows": rows,
            },
            f,
            indent=2,
        )


if __name__ == "__main__":
    main()
