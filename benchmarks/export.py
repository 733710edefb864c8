"""TFLite and ONNX size, LiteRT / ONNX Runtime latency and PSNR drop.

For the small presets of ENLCN, NLSN and A2N (`--presets edsr_small_x2`
adds the attention-free baseline), every TFLite variant of `enlca export` is measured:

- size of the `.tflite` file;
- latency of one 256x256 LR input in the LiteRT interpreter
  (`ai_edge_litert`, `--threads` threads, median of `--repeats` runs after
  two warm-up runs, the variants of a network timed interleaved so that
  other load on the machine hits them alike) on this CPU;
- PSNR-Y (MATLAB convention, scale pixels shaved) against the HR images,
  LR made with MATLAB bicubic, and its drop against the float32 TFLite
  model; also the PSNR-Y between the variant's output and float32's.

Variants: `none` (float32), `float16`, `dynamic`, `int8` (the default:
attention arithmetic, the image ends and the residual adds in float,
sigmoid inputs clamped, activation ranges by least error, everything else
int8), `int8_minmax`
(the same with `--ranges minmax`: TFLite's min/max ranges),
`int8_integer_residuals` (the same with `float_residual_adds=False`: the
residual stream rounded to int8 after every block, as before), `int16x8`
(int16 activations, int8 weights; NLSN with a fixed `--size` tile),
`int8_full` (`--float-ops none`: the attention quantised too; it may fail
at run time, which is reported), `int8_npu` (`--quantize int8-full`: every
op integer, uint8 pixel I/O) and, on request, `int8_auto` (`--max-drop
0.1`: the float layers chosen by measured drop). The table ends with the
speed ratios float32/int8 and float32/int16x8 of each model (> 1: the
integer model is faster).

ONNX rows (`onnx`, `onnx_float16`: `enlca export --format onnx`, dynamic
height and width) run in ONNX Runtime's CPU provider with the same
`--threads`, timed interleaved with the LiteRT variants; `vs Keras` is
their PSNR-Y against the Keras model's output (100 dB = identical).

Real weights: the authors' A2N x3 (`--a2n-x3 PATH.keras`, or the
`ENLCA_A2N_X3` environment variable; by default converted once from
`../shared/reference/weights/aan_x3.pt` beside the repository when that
file and PyTorch are there, skipped otherwise). Converged small models:
`--converged DIR` (or `ENLCA_CONVERGED`) with `DIR/<preset>/model.keras`
from `enlca train --out DIR/<preset>` runs (3,000+ steps); each present
one adds a row group named `<preset>@converged`, absent ones are skipped.

The networks need trained weights for the quantisation numbers to mean
anything. Pass `--model PRESET=PATH.keras` for checkpoints you have;
otherwise each preset is trained for `--train-steps` steps on the bundled
sample photos (cached in `--work-dir`, so a rerun reuses them). HR test
images default to the bundled photos (`--hr DIR` for others, e.g. Set5).

Run by hand (not a test):

    # table + benchmarks/results/export.json
    python benchmarks/export.py
    python benchmarks/export.py --presets enlcn_small_x2 --train-steps 200
"""

import argparse
import json
import os
import sys
import tempfile
import time

PRESETS = ("enlcn_small_x2", "nlsn_small_x2", "a2n_small_x2")
VARIANTS = (
    "none",
    "float16",
    "dynamic",
    "int8_minmax",
    "int8_integer_residuals",
    "int8",
    "int16x8",
    "int8_full",
    "onnx",
    "onnx_float16",
    "int8_npu",
)
CALIBRATED = ("int8", "int16x8", "int8-full")
# Variants exported with a `--quantize` other than their name's prefix.
QUANTIZE_OF = {"int8_npu": "int8-full"}
SHARED_A2N_X3 = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "..",
    "..",
    "shared",
    "reference",
    "weights",
    "aan_x3.pt",
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--presets",
        nargs="*",
        default=list(PRESETS),
        help="Small presets trained briefly here (none: only the real "
        "and converged models).",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PRESET=PATH",
        help="Use this trained .keras model for PRESET.",
    )
    parser.add_argument(
        "--train-steps",
        type=int,
        default=400,
        help="Training steps for presets without --model.",
    )
    parser.add_argument(
        "--work-dir",
        default=os.path.join(tempfile.gettempdir(), "enlca-export-benchmark"),
        help="Trained models and exported files (kept for reruns).",
    )
    parser.add_argument("--hr", default=None, help="Folder of HR test images.")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--size", type=int, default=256, help="LR side for latency.")
    parser.add_argument("--calibration-crops", type=int, default=64)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument(
        "--a2n-x3",
        default=os.environ.get("ENLCA_A2N_X3"),
        help="The authors' A2N x3 as .keras (default: converted from the "
        "shared weights when present; 'none' to skip it).",
    )
    parser.add_argument(
        "--converged",
        default=os.environ.get("ENLCA_CONVERGED"),
        help="Folder of converged runs: DIR/<preset>/model.keras.",
    )
    parser.add_argument(
        "--out", default=os.path.join("benchmarks", "results", "export.json")
    )
    return parser.parse_args(argv)


def train(preset, steps, path):
    """A briefly trained small preset on the bundled photos (cached at `path`)."""
    import keras

    from keras_enlca.data import sample_images_dir
    from keras_enlca.data import training_dataset
    from keras_enlca.models import from_preset
    from keras_enlca.models import get_recipe

    recipe = get_recipe(preset)
    keras.utils.set_random_seed(1)
    model = from_preset(preset)
    model.compile(
        optimizer=keras.optimizers.Adam(recipe["schedule.learning_rate"]),
        contrastive_weight=recipe["contrastive.weight"],
        contrastive_warmup_steps=0,
    )
    dataset = training_dataset(
        sample_images_dir(),
        scale=model.scale,
        patch_size=recipe["data.patch_size"],
        batch_size=recipe["data.batch_size"],
        seed=1,
    )
    start = time.time()
    history = model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
    print(
        f"  trained {preset} for {steps} steps in {time.time() - start:.0f} s "
        f"(final L1 {history.history['l1'][-1]:.4f})",
        flush=True,
    )
    model.save(path)
    return path


def latency_image(size):
    import numpy as np

    from keras_enlca.data import read_image
    from keras_enlca.data import sample_image_paths

    photo = read_image(sample_image_paths()[0]).astype(np.float32) / 255
    pad = (
        (0, max(size - photo.shape[0], 0)),
        (0, max(size - photo.shape[1], 0)),
        (0, 0),
    )
    return np.pad(photo, pad, mode="symmetric")[None, :size, :size]


def latencies(runners, size, repeats):
    """Median seconds per call of each runner, timed interleaved.

    One call of each runner in turn, `repeats` rounds after two warm-up
    rounds, so that load from other processes hits all variants alike.
    """
    import numpy as np

    image = latency_image(size)
    times = {name: [] for name in runners}
    for round_ in range(repeats + 2):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner(image)
            if round_ >= 2:
                times[name].append(time.perf_counter() - start)
    return {name: float(np.median(values)) for name, values in times.items()}


def measure(preset, keras_path, args, hr_images):
    import numpy as np

    from keras_enlca.data import bicubic_downscale
    from keras_enlca.data import sample_image_paths
    from keras_enlca.evaluation.metrics import psnr
    from keras_enlca.export import export_model
    from keras_enlca.inference import KerasRunner
    from keras_enlca.inference import LiteRTRunner
    from keras_enlca.inference.onnx_runner import OnnxRunner

    reference = KerasRunner(keras_path)
    scale = reference.scale
    pairs = [bicubic_downscale(hr, scale) for hr in hr_images]
    keras_out = [reference(lr.astype(np.float32) / 255) for lr, _ in pairs]
    keras_psnr = float(
        np.mean([psnr(sr, hr, shave=scale) for sr, (_, hr) in zip(keras_out, pairs)])
    )
    rows = []
    runners = {}
    float_outputs = None
    calibration = os.path.dirname(sample_image_paths()[0])
    for variant in args.variants:
        onnx = variant.startswith("onnx")
        suffix = ".onnx" if onnx else ".tflite"
        out = os.path.join(
            args.work_dir, f"{preset}_{variant}{suffix}".replace("@", "_")
        )
        quantize = quantize_of(variant)
        kwargs = {}
        if onnx:
            quantize = "float16" if variant == "onnx_float16" else "none"
            kwargs = {"format": "onnx"}
        if variant == "int8_full":
            kwargs = {
                "float_ops": (),
                "float_layers": (),
                "float_image_layers": False,
                "float_residual_adds": False,
            }
        if variant == "int8_integer_residuals":  # the residual stream in int8
            kwargs = {"float_residual_adds": False}
        if variant == "int8_minmax":
            kwargs = {"range_method": "minmax"}
        if variant == "int8_auto":
            kwargs = {"max_drop": 0.1}
        if variant == "int16x8" and preset.startswith("nlsn"):
            kwargs = {"tile": (args.size, args.size)}  # see keras_enlca.export.tflite
        start = time.time()
        try:
            metadata = export_model(
                keras_path,
                out,
                quantize=quantize,
                overwrite=True,
                calibration=calibration if quantize in CALIBRATED else None,
                num_calibration_crops=args.calibration_crops,
                **kwargs,
            )
        except Exception as error:  # noqa: BLE001 - a benchmark reports and goes on
            rows.append(
                {
                    "preset": preset,
                    "variant": variant,
                    "size_bytes": 0,
                    "error": str(error).splitlines()[0],
                }
            )
            print(
                f"  {preset} {variant}: export fails: {rows[-1]['error']}", flush=True
            )
            continue
        row = {
            "preset": preset,
            "variant": variant,
            "size_bytes": os.path.getsize(out),
            "convert_s": time.time() - start,
            "keras_psnr_y": keras_psnr,
            "float_layers": metadata.get("float_layers"),
        }
        try:
            runner_class = OnnxRunner if onnx else LiteRTRunner
            runner = runner_class(out, num_threads=args.threads)
            outputs = [runner(lr.astype(np.float32) / 255) for lr, _ in pairs]
            runners[variant] = runner
        except RuntimeError as error:
            row["error"] = str(error).splitlines()[0]
            rows.append(row)
            print(
                f"  {preset} {variant}: fails at run time: {row['error']}", flush=True
            )
            continue
        row["psnr_y"] = float(
            np.mean([psnr(sr, hr, shave=scale) for sr, (_, hr) in zip(outputs, pairs)])
        )
        row["psnr_y_vs_keras"] = float(
            np.mean(
                [
                    min(psnr(sr, ref, shave=scale), 100.0)
                    for sr, ref in zip(outputs, keras_out)
                ]
            )
        )
        if variant == "none":
            float_outputs = outputs
            row["psnr_y_float32"] = row["psnr_y"]
        if float_outputs is not None:
            row["psnr_y_vs_float32"] = float(
                np.mean(
                    [
                        min(psnr(sr, ref, shave=scale), 100.0)
                        for sr, ref in zip(outputs, float_outputs)
                    ]
                )
            )
        rows.append(row)
        print(
            f"  {preset} {variant}: {row['size_bytes'] / 1e6:.2f} MB, "
            f"PSNR-Y {row['psnr_y']:.3f} dB",
            flush=True,
        )
    timed = latencies(runners, args.size, args.repeats)
    for row in rows:
        if row["variant"] in timed:
            row["latency_ms"] = 1000 * timed[row["variant"]]
    float_psnr = next(
        (r["psnr_y"] for r in rows if r["variant"] == "none" and "psnr_y" in r), None
    )
    for row in rows:
        if float_psnr is not None and "psnr_y" in row:
            row["drop_db"] = float_psnr - row["psnr_y"]
    return rows


def quantize_of(variant):
    """The `--quantize` of a benchmark variant (`int8_minmax` -> `int8`)."""
    if variant in QUANTIZE_OF:
        return QUANTIZE_OF[variant]
    return "int8" if variant.startswith("int8") else variant


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    import numpy as np
    import tensorflow as tf

    from keras_enlca.data import list_images
    from keras_enlca.data import read_image
    from keras_enlca.data import sample_image_paths

    given = dict(item.split("=", 1) for item in args.model)
    hr_paths = list_images(args.hr) if args.hr else sample_image_paths()
    hr_images = [read_image(p) for p in hr_paths]
    results = []
    for preset in args.presets:
        path = given.get(preset) or os.path.join(args.work_dir, f"{preset}.keras")
        if not os.path.exists(path):
            train(preset, args.train_steps, path)
        results.extend(measure(preset, path, args, hr_images))
    for name, path in real_models(args):
        results.extend(measure(name, path, args, hr_images))

    print()
    print(
        f"LiteRT / ONNX Runtime {args.threads} thread(s), {args.size}x{args.size} LR "
        "input; PSNR-Y on "
        f"{len(hr_images)} images ({'bundled photos' if not args.hr else args.hr})"
    )
    header = (
        f"{'model':<16} {'variant':<10} {'size MB':>8} {'ms':>7} {'PSNR-Y':>8} "
        f"{'drop dB':>8} {'vs fp32':>8} {'vs Keras':>8}"
    )
    header = header.replace("model           ", f"{'model':<24}")
    print(header)
    print("-" * len(header))
    for row in results:
        if "error" in row:
            print(
                f"{row['preset']:<24} {row['variant']:<10} "
                f"{row['size_bytes'] / 1e6:>8.2f}   fails: {row['error'][:70]}"
            )
            continue
        print(
            f"{row['preset']:<24} {row['variant']:<10} {row['size_bytes'] / 1e6:>8.2f} "
            f"{row['latency_ms']:>7.1f} {row['psnr_y']:>8.3f} "
            f"{row.get('drop_db', 0):>8.3f} "
            f"{row.get('psnr_y_vs_float32', float('nan')):>8.2f} "
            f"{row.get('psnr_y_vs_keras', float('nan')):>8.2f}"
        )
    print()
    print("Speed ratio (float32 ms / integer ms; > 1 = the integer model is faster)")
    for preset in dict.fromkeys(row["preset"] for row in results):
        ms = {
            row["variant"]: row.get("latency_ms")
            for row in results
            if row["preset"] == preset
        }
        ratios = {
            v: ms["none"] / ms[v]
            for v in ("int8", "int16x8", "int8_npu")
            if ms.get("none") and ms.get(v)
        }
        for row in results:
            if row["preset"] == preset and row["variant"] in ratios:
                row["speedup_vs_float32"] = ratios[row["variant"]]
        print(
            f"  {preset:<24} " + "  ".join(f"{v} {r:.2f}x" for v, r in ratios.items())
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(
            {
                "threads": args.threads,
                "latency_input": [args.size, args.size],
                "hr_images": [os.path.basename(p) for p in hr_paths],
                "tensorflow": tf.__version__,
                "onnxruntime": _version("onnxruntime"),
                "tf2onnx": _version("tf2onnx"),
                "cpu": _cpu_name(),
                "numpy": np.__version__,
                "results": results,
            },
            f,
            indent=2,
        )
    print(f"\nWrote {args.out}")


def real_models(args):
    """`[(name, .keras path)]`: the authors' A2N x3 and the converged runs found."""
    found = []
    a2n = args.a2n_x3
    if a2n == "none":
        a2n = None
    elif a2n is None and not os.path.isfile(SHARED_A2N_X3):
        print("  A2N x3: no shared weights; skipped")
    if a2n is None and args.a2n_x3 != "none" and os.path.isfile(SHARED_A2N_X3):
        a2n = os.path.join(args.work_dir, "a2n_x3_authors.keras")
        if not os.path.exists(a2n):
            try:
                from keras_enlca.convert import convert_checkpoint
            except ImportError:
                a2n = None
            else:
                try:
                    convert_checkpoint(SHARED_A2N_X3, arch="a2n", scale=3, output=a2n)
                except Exception as error:  # noqa: BLE001 - e.g. no PyTorch: skip
                    print(
                        f"  A2N x3: cannot convert the shared weights ({error}); "
                        "skipped"
                    )
                    a2n = None
    if a2n and os.path.exists(a2n):
        found.append(("a2n_x3@authors", a2n))
    elif args.a2n_x3 and args.a2n_x3 != "none":
        print(f"  A2N x3: {args.a2n_x3} not found; skipped")
    if args.converged:
        for preset in PRESETS:
            path = os.path.join(args.converged, preset, "model.keras")
            if os.path.exists(path):
                found.append((f"{preset}@converged", path))
            else:
                print(f"  {preset}: no converged run at {path}; skipped")
    return found


def _version(package):
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


if __name__ == "__main__":
    sys.exit(main())
