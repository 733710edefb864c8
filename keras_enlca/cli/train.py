"""`enlca train`: a whole, resumable training run from a preset or a config."""

import os
import sys

import click

from keras_enlca.cli.options import scale_option
from keras_enlca.errors import InputError
from keras_enlca.training.config import STRATEGIES

BACKENDS = ("tensorflow", "jax", "torch")


def _select_backend(context, parameter, value):
    """Sets `KERAS_BACKEND` before anything imports Keras."""
    if value is None:
        return value
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != value:
            raise click.BadParameter(
                f"Keras is already running on {keras.backend.backend()}",
                param=parameter,
            )
    os.environ["KERAS_BACKEND"] = value
    return value


# Shortcut options -> dotted config keys (applied before --set).
SHORTCUTS = {
    "data": "data.train.dir",
    "val_data": "data.validation.dir",
    "scale": "scale",
    "epochs": "schedule.epochs",
    "steps_per_epoch": "schedule.steps_per_epoch",
    "total_steps": "schedule.total_steps",
    "batch_size": "data.batch_size",
    "patch_size": "data.patch_size",
    "lr": "schedule.learning_rate",
    "strategy": "runtime.strategy",
    "mixed_precision": "runtime.mixed_precision",
    "xla": "runtime.jit_compile",
    "seed": "runtime.seed",
    "time_limit": "runtime.time_limit_minutes",
}

# Exit status of a run stopped by a signal: 128 + its number, as shells do.
EXIT_STATUS = {"SIGINT": 130, "SIGTERM": 143}


@click.command(name="train")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=str),
    help="YAML or JSON training config (see configs/).",
)
@click.option(
    "--preset",
    help="Network preset, e.g. enlcn_x4 or enlcn_small_x2 "
    "(replaces model.preset of the config).",
)
@click.option(
    "--out",
    "run_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=str),
    help="Run folder: config, checkpoints, logs, history, model.keras. "
    "An interrupted run there is resumed.",
)
@click.option(
    "--data",
    type=click.Path(path_type=str),
    help="Training images: a DIV2K root, a folder of HR images or (with "
    "--set data.train.lr_dir=DIR) paired HR/LR folders.",
)
@click.option(
    "--val-data",
    type=click.Path(path_type=str),
    help="Validation images (HR folder or benchmark set), scored every epoch.",
)
@scale_option(
    "train",
    help="Upscaling factor (for a preset given without its _xN suffix).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    help="Number of epochs (replaces the config's schedule.total_steps).",
)
@click.option(
    "--steps-per-epoch", type=click.IntRange(min=1), help="Optimizer steps per epoch."
)
@click.option(
    "--total-steps",
    type=click.IntRange(min=1),
    help="Run length in steps instead of epochs (replaces the config's "
    "schedule.epochs), e.g. --total-steps 300000.",
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Global batch size.")
@click.option(
    "--patch-size",
    type=click.IntRange(min=1),
    help="LR patch size (HR = patch x scale).",
)
@click.option(
    "--lr", type=click.FloatRange(min=0, min_open=True), help="Initial learning rate."
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    help="Distribution: auto uses multi_worker when TF_CONFIG or srun describes "
    "several workers, else MirroredStrategy when several GPUs are visible.",
)
@click.option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="tensorflow",
    show_default=True,
    envvar="KERAS_BACKEND",
    is_eager=True,
    expose_value=False,
    callback=_select_backend,
    help="Keras backend to train on (or KERAS_BACKEND). jax trains on all "
    "local devices with keras.distribution.DataParallel; multi_worker stays "
    "TensorFlow's. Export the model.keras with the default backend.",
)
@click.option(
    "--mixed-precision/--no-mixed-precision",
    default=None,
    help="Train under the mixed_float16 policy.",
)
@click.option("--xla/--no-xla", default=None, help="Compile the train step with XLA.")
@click.option("--seed", type=int, help="Random seed.")
@click.option(
    "--time-limit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="MINUTES",
    help="Stop cleanly after this long; run the command again to continue.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any config key (dotted, value read as YAML); repeatable, "
    "e.g. --set model.args.num_blocks=16 --set schedule.decay_milestones=[100,200].",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the resolved config as YAML and exit without training.",
)
def train(config_path, preset, run_dir, overrides, print_config, **shortcuts):
    """Train a network from a preset or a config file, resumably.

    Settings come, in order of precedence, from --set, the shortcut options
    (--epochs, --batch-size, ...), the --config file, the preset's reference
    recipe and the defaults. With neither --config nor --preset, the config
    saved in the --out folder is used, so `enlca train --out RUN_DIR`
    continues a run.

    Run the same command again after an interruption (Ctrl-C, SIGTERM,
    even kill -9): training resumes from the newest checkpoint and ends with
    exactly the planned number of steps. A finished run says so; raise
    --epochs to continue it.

    \b
    Examples:
      enlca train --preset enlcn_x4 --data /data/DIV2K \\
          --val-data /data/benchmark/Set14 --out runs/enlcn_x4
      enlca train --config configs/enlcn_x4_paper.yaml --out runs/enlcn_x4
      enlca train --config configs/enlcn_small_cpu.yaml --epochs 2 \\
          --set model.args.num_blocks=4 --out runs/try
      enlca train --out runs/enlcn_x4 --epochs 1200     # continue a finished run
      # on each worker (README: Train on several machines):
      TF_CONFIG="$(cat worker0.json)" enlca train \\
          --config configs/enlcn_x4_paper.yaml --strategy multi_worker \\
          --out /nfs/runs/enlcn_x4
    """
    import yaml

    from keras_enlca.training.config import config_from_dict
    from keras_enlca.training.config import read_config_file
    from keras_enlca.training.config import read_run_config
    from keras_enlca.training.run_folder import CONFIG_FILE

    pairs = [
        (SHORTCUTS[name], value)
        for name, value in shortcuts.items()
        if value is not None
    ]
    pairs += list(overrides)
    source = config_path
    if config_path is not None:
        values = read_config_file(config_path)
    elif preset is None:
        saved = os.path.join(run_dir, CONFIG_FILE)
        if not os.path.isfile(saved):
            raise InputError(
                f"give --config FILE or --preset NAME ('{run_dir}' holds no "
                f"{CONFIG_FILE} to resume)"
            )
        # Data folders relative to the run folder, whatever the current one.
        values, source = read_run_config(saved), saved
    else:
        values = {}
    config = config_from_dict(values, source=source, overrides=pairs, preset=preset)
    if print_config:
        click.echo(
            yaml.safe_dump(config.to_dict(), sort_keys=False, default_flow_style=None),
            nl=False,
        )
        return

    from keras_enlca.training.run import run_training

    result = run_training(config, run_dir, log=click.echo)
    if result.status == "interrupted":
        sys.exit(EXIT_STATUS.get(result.stop_reason, 1))
    if result.status == "complete" and result.history:
        last = result.history[-1]
        scores = "".join(
            f", {key} {last[key]:.3f}"
            for key in ("val_psnr", "val_ssim")
            if key in last
        )
        click.echo(
            f"Final epoch {last['epoch']}: loss "
            f"{last.get('loss', float('nan')):.5f}{scores}"
        )
