"""`enlca demo`: train, evaluate, export and upscale on the bundled photos.

Everything the library does, end to end, on a fresh machine with no
downloads: a small ENLCN is trained on four of the bundled sample photos
(through the same resumable run as `enlca train`), scored against bicubic on
the fifth (MATLAB-convention Y-PSNR/SSIM), exported to TFLite, and the
TFLite model, run by the LiteRT interpreter, upscales the held-out image.
"""

import json
import os
import shutil
import time

import click

from keras_enlca.errors import InputError
from keras_enlca.inference.metadata import QUANTIZATIONS
from keras_enlca.utils.atomic import atomic_path

HOLDOUT = "astronaut"
PRESET = "enlcn_small_x2"


def demo_config(train_dir, test_dir, steps, minutes, quick):
    """The training config of the demo (a plain dict, see `enlca train`)."""
    if quick:
        # A tiny network and a few steps: the whole pipeline in seconds.
        model = {"preset": PRESET, "args": {"num_blocks": 2, "filters": 16}}
        data = {"patch_size": 16, "batch_size": 4}
        steps_per_epoch = max(1, steps // 2)
        learning_rate = 5e-4
    else:
        model = {"preset": PRESET}
        data = {"patch_size": 24, "batch_size": 8}
        steps_per_epoch = 50
        learning_rate = 5e-4
    epochs = max(1, -(-steps // steps_per_epoch))
    milestones = sorted(
        {m for m in (int(epochs * 0.6), int(epochs * 0.8)) if 0 < m < epochs}
    )
    return {
        "model": model,
        "data": {
            "train": {"type": "folder", "dir": train_dir},
            "validation": {"dir": test_dir},
            **data,
        },
        "schedule": {
            "epochs": None,
            "total_steps": steps,
            "steps_per_epoch": steps_per_epoch,
            "learning_rate": learning_rate,
            "decay_milestones": milestones,
        },
        # L1 alone for the first half, then L1 + 1e-3 x contrastive.
        "contrastive": {"warmup_epochs": None, "warmup_steps": steps // 2},
        "runtime": {
            "checkpoint_every": steps_per_epoch,
            "validate_every": max(1, epochs // 4),
            "time_limit_minutes": minutes,
        },
    }


def _prepare_data(out_dir, holdout, scale):
    """Copy the bundled photos: all but `holdout` to train, `holdout` to test."""
    from keras_enlca.data import bicubic_downscale
    from keras_enlca.data import read_image
    from keras_enlca.data import sample_image_paths
    from keras_enlca.data import write_image

    paths = {os.path.splitext(os.path.basename(p))[0]: p for p in sample_image_paths()}
    if holdout not in paths:
        raise InputError(
            f"--holdout {holdout}: not a bundled photo (one of {', '.join(paths)})"
        )
    train_dir = os.path.join(out_dir, "data", "train")
    test_dir = os.path.join(out_dir, "data", "test")
    lr_dir = os.path.join(out_dir, "data", f"test_lr_x{scale}")
    expected = os.path.basename(paths[holdout])
    if os.path.isdir(test_dir) and os.listdir(test_dir) not in ([], [expected]):
        used = ", ".join(os.path.splitext(n)[0] for n in sorted(os.listdir(test_dir)))
        raise InputError(
            f"--out {out_dir}: holds a demo run with --holdout {used}; "
            "use another --out for another held-out photo"
        )
    for name, path in paths.items():
        folder = test_dir if name == holdout else train_dir
        target = os.path.join(folder, os.path.basename(path))
        if not os.path.isfile(target):
            os.makedirs(folder, exist_ok=True)
            with atomic_path(target) as tmp:
                shutil.copyfile(path, tmp)
    hr_path = os.path.join(test_dir, os.path.basename(paths[holdout]))
    lr, hr = bicubic_downscale(read_image(hr_path), scale)
    lr_path = os.path.join(lr_dir, os.path.basename(hr_path))
    write_image(lr_path, lr)
    return train_dir, test_dir, hr_path, lr_path, lr


def _row(label, psnr, ssim):
    return f"  {label:<34} {psnr:>8.2f} {ssim:>8.4f}"


def run_demo(
    out_dir,
    steps,
    minutes,
    quick=False,
    quantize="float16",
    holdout=HOLDOUT,
    log=click.echo,
):
    """Train, evaluate, export and upscale; returns the results dict."""
    from keras_enlca.data import bicubic_upscale
    from keras_enlca.data import write_image
    from keras_enlca.data.datasets import SRDataset
    from keras_enlca.evaluation import evaluate
    from keras_enlca.inference.upscale_files import upscale_file

    started = time.monotonic()
    out_dir = os.fspath(out_dir)
    scale = int(PRESET[-1])
    _make_out_dir(out_dir)
    train_dir, test_dir, hr_path, lr_path, lr = _prepare_data(out_dir, holdout, scale)
    name = os.path.basename(hr_path)

    log(
        f"[1/4] Training {PRESET}{' (quick, tiny)' if quick else ''} on "
        f"{len(os.listdir(train_dir))} bundled photos ({steps} steps"
        f"{f', at most {minutes:g} min' if minutes else ''}); held out: {name}"
    )
    demo_args = (train_dir, test_dir, steps, minutes, quick)
    run_dir, model, model_path, trained_steps = _train(out_dir, demo_args, log)

    log(
        f"[2/4] Evaluating on the held-out {name} (x{scale}, Y channel, {scale}-pixel "
        "border)"
    )
    held_out = SRDataset("held-out", scale, [hr_path], [lr_path])
    keras_report = evaluate(model, held_out, scale=scale, bicubic_baseline=True)

    log(
        f"[3/4] Exporting TFLite ({quantize}) and checking it in the LiteRT interpreter"
    )
    tflite_path, metadata, runner = _export(out_dir, model_path, quantize, test_dir)
    tflite_report = evaluate(runner, held_out, scale=scale, bicubic_baseline=False)

    log("[4/4] Upscaling the held-out LR image with the TFLite model")
    upscaled_path = os.path.join(out_dir, "upscaled", name)
    upscale_file(runner, lr_path, upscaled_path)
    bicubic_path = os.path.join(out_dir, "bicubic", name)
    write_image(bicubic_path, bicubic_upscale(lr, scale))

    image = keras_report.datasets[0]["images"][0]
    tflite_image = tflite_report.datasets[0]["images"][0]
    results = _results(
        quick=quick,
        scale=scale,
        trained_steps=trained_steps,
        steps=steps,
        name=name,
        image=image,
        tflite_image=tflite_image,
        quantize=quantize,
        metadata=metadata,
        files={
            "run": run_dir,
            "model": model_path,
            "tflite": tflite_path,
            "lr": lr_path,
            "upscaled": upscaled_path,
            "bicubic": bicubic_path,
            "hr": hr_path,
        },
        seconds=round(time.monotonic() - started, 1),
    )
    results_path = os.path.join(out_dir, "results.json")
    _write_json(results, results_path)
    _log_summary(results, image, tflite_image, metadata, results_path, log)
    return results


def _make_out_dir(out_dir):
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"--out {out_dir}: cannot create the folder ({error.strerror})"
        ) from None


def _train(out_dir, demo_args, log):
    """Train (or resume) the demo run: `(run_dir, model, model_path,
    trained_steps)`; a run stopped by --minutes gives its newest checkpoint."""
    import keras

    from keras_enlca.training.config import config_from_dict
    from keras_enlca.training.run import load_run_model
    from keras_enlca.training.run import run_training

    run_dir = os.path.join(out_dir, "run")
    config = config_from_dict(demo_config(*demo_args))
    result = run_training(config, run_dir, log=lambda line: log("      " + line))
    if result.status == "complete":
        model_path = result.model_path
        model = keras.saving.load_model(model_path)
        return run_dir, model, model_path, result.step
    # Stopped by --minutes: carry on with the newest checkpoint.
    model, trained_steps = load_run_model(run_dir)
    model_path = os.path.join(out_dir, f"model_step{trained_steps}.keras")
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    log(
        f"      Using the checkpoint at step {trained_steps}; run the demo again "
        "with the same --out to train on from there."
    )
    return run_dir, model, model_path, trained_steps


def _export(out_dir, model_path, quantize, test_dir):
    """The verified TFLite export: `(path, metadata, LiteRT runner)`."""
    from keras_enlca.export import export_model
    from keras_enlca.inference.loader import open_runner

    suffix = "" if quantize == "none" else f"_{quantize}"
    tflite_path = os.path.join(out_dir, f"{PRESET}{suffix}.tflite")
    # The demo owns its --out folder: a rerun replaces its own artifacts.
    metadata = export_model(
        model_path, tflite_path, quantize=quantize, verify=test_dir, overwrite=True
    )
    return tflite_path, metadata, open_runner(tflite_path)


def _results(
    *,
    quick,
    scale,
    trained_steps,
    steps,
    name,
    image,
    tflite_image,
    quantize,
    metadata,
    files,
    seconds,
):
    """The results dict written to results.json."""
    verification = metadata.get("verification", {})
    return {
        "preset": PRESET,
        "quick": bool(quick),
        "scale": scale,
        "steps": trained_steps,
        "planned_steps": steps,
        "held_out": name,
        "bicubic": {"psnr": image["bicubic_psnr"], "ssim": image["bicubic_ssim"]},
        "keras": {"psnr": image["psnr"], "ssim": image["ssim"]},
        "tflite": {
            "psnr": tflite_image["psnr"],
            "ssim": tflite_image["ssim"],
            "quantize": quantize,
            "psnr_y_vs_keras": verification.get("psnr_y_vs_keras"),
            "size_bytes": metadata.get("size_bytes"),
        },
        "files": files,
        "seconds": seconds,
    }


def _write_json(results, path):
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


def _log_summary(results, image, tflite_image, metadata, results_path, log):
    """The score table, the files written and the next command."""
    name, scale = results["held_out"], results["scale"]
    quantize = results["tflite"]["quantize"]
    verification = metadata.get("verification", {})
    gain = image["psnr"] - image["bicubic_psnr"]
    log("")
    log(f"Held-out {name}, x{scale} ({results['steps']} training steps):")
    log(f"  {'method':<34} {'PSNR-Y':>8} {'SSIM-Y':>8}")
    log(_row("bicubic", image["bicubic_psnr"], image["bicubic_ssim"]))
    log(_row(f"{PRESET} (Keras)", image["psnr"], image["ssim"]))
    log(
        _row(
            f"{PRESET} (TFLite {quantize})", tflite_image["psnr"], tflite_image["ssim"]
        )
    )
    log(f"  {'gain over bicubic':<34} {gain:>+8.2f} dB")
    if verification.get("psnr_y_vs_keras") is not None:
        log(
            f"  TFLite output vs Keras output: {verification['psnr_y_vs_keras']:.2f} "
            "dB PSNR-Y"
        )
    log("")
    log("Files:")
    width = max(len(k) for k in results["files"])
    for key, label in (
        ("run", "training run: config, checkpoints, TensorBoard logs, history"),
        ("model", "trained Keras model"),
        (
            "tflite",
            f"TFLite model ({metadata.get('size_bytes', 0) / 1e6:.2f} MB) + .json",
        ),
        ("lr", "low-resolution input"),
        ("upscaled", f"x{scale} by the TFLite model"),
        ("bicubic", f"x{scale} by bicubic, to compare"),
    ):
        log(f"  {key:<{width}}  {results['files'][key]}  - {label}")
    log(f"  {'numbers':<{width}}  {results_path}")
    log(
        f"Done in {results['seconds']:.0f} s. Next: enlca upscale "
        f"{results['files']['tflite']} YOUR_PHOTO.jpg -o out/"
    )


@click.command(name="demo")
@click.option(
    "--out",
    "out_dir",
    default="enlca-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Folder for everything the demo writes. Run again with the same "
    "folder to continue an unfinished training.",
)
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="Training steps. [default: 300, --quick: 4]",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop training after this long (then evaluate the last checkpoint). "
    "[default: 3.5, --quick: none]",
)
@click.option(
    "--quick",
    is_flag=True,
    help="A tiny network for a few steps: checks the whole pipeline in seconds "
    "(the numbers are not meaningful).",
)
@click.option(
    "--quantize",
    type=click.Choice(QUANTIZATIONS),
    default="float16",
    show_default=True,
    help="TFLite quantization of the exported model.",
)
@click.option(
    "--holdout",
    default=HOLDOUT,
    show_default=True,
    help="Bundled photo kept out of training and used for the evaluation.",
)
def demo(out_dir, steps, minutes, quick, quantize, holdout):
    """Train, evaluate, export and upscale on the bundled photos (no downloads).

    Trains a small ENLCN (enlcn_small_x2: 8 residual blocks, 2 ENLCA
    modules) for a few minutes on CPU on four of the bundled sample photos,
    scores it against bicubic on the fifth (Y-PSNR/SSIM, MATLAB
    conventions), exports it to TFLite, upscales the held-out image with the
    TFLite model in the LiteRT interpreter, and prints the numbers and where
    every file went. About 5 minutes on 2 CPU cores.

    \b
    Examples:
      enlca demo                          # everything into ./enlca-demo
      enlca demo --out /tmp/demo --minutes 10 --steps 1000 --quantize int8
      enlca demo --quick --out /tmp/q     # the pipeline in well under a minute
    """
    if steps is None:
        steps = 4 if quick else 300
    if minutes is None and not quick:
        minutes = 3.5
    run_demo(out_dir, steps, minutes, quick=quick, quantize=quantize, holdout=holdout)
