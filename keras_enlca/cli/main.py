"""The `enlca` command group.

Each command lives in its own module of this package and is imported only
when it runs (or when `--help` lists it), so `enlca --help` stays fast and a
command's heavy imports never slow the others down.
"""

import importlib
import importlib.abc
import importlib.util
import logging
import os
import sys
import warnings

import click

from keras_enlca.errors import InputError
from keras_enlca.errors import InputWarning
from keras_enlca.errors import missing_tensorflow_message
from keras_enlca.version import __version__

# Exit statuses, the same in every command: usage errors 2 (click), user
# errors 1 (`InputError`), Ctrl-C 130.
INTERRUPTED_EXIT = 130

# name -> ("module:attribute" inside keras_enlca.cli, one-line help for `enlca --help`)
COMMANDS = {
    "demo": ("demo:demo", "Train, evaluate, export and upscale on the bundled images."),
    "train": ("train:train", "Train a network from a preset or a config file."),
    "eval": ("evaluate:evaluate", "Measure PSNR/SSIM on benchmark folders."),
    "score": (
        "score:score",
        "Score SR images against ground truth (MATLAB conventions).",
    ),
    "export": ("export:export", "Export to (quantized) TFLite, ONNX or SavedModel."),
    "upscale": (
        "upscale:upscale",
        "Upscale images with a .keras, SavedModel, .tflite or .onnx model.",
    ),
    "info": (
        "info:info",
        "Show network, scale, parameters and input range of a model.",
    ),
    "attention": (
        "attention:attention",
        "Draw attention maps of one pixel (NLA, NLSA, ENLCA).",
    ),
    "convert": ("convert:convert", "Convert an authors' PyTorch checkpoint to .keras."),
    "web": (
        "web:web",
        "Serve a page that upscales photos in the browser (LiteRT.js).",
    ),
}


class _QuietImport(importlib.abc.MetaPathFinder):
    """Runs the first `import tensorflow` with native output silenced.

    TensorFlow 2.21 prints absl and oneDNN lines from C++ while it loads,
    whatever `TF_CPP_MIN_LOG_LEVEL` Python sets; only the process's own
    stderr can be kept from them. The finder wraps the loading of the
    `tensorflow` package (whoever imports it: keras, a command, a runner),
    then steps aside.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        from keras_enlca.utils.native_output import quiet_native_output

        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            with quiet_native_output():
                exec_module(module)

        spec.loader.exec_module = quiet_exec_module
        return spec


def quiet_tensorflow():
    """Keeps TensorFlow's start-up and Python log noise off the command line.

    Called for every command unless `ENLCA_DEBUG` is set; imports nothing
    (TensorFlow loads only when a command needs it). The commands report
    what a user needs; TensorFlow's warnings (retracing notices...) are
    for developers.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ logs after start-up
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules and not any(
        isinstance(finder, _QuietImport) for finder in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietImport())


_show_warning_default = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """`InputWarning`s as one `Warning:` line on stderr; others as Python's."""
    if issubclass(category, InputWarning):
        click.echo(f"Warning: {message}", err=True)
    else:
        _show_warning_default(message, category, filename, lineno, file, line)


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attribute = target[0].split(":")
        try:
            module = importlib.import_module(f"keras_enlca.cli.{module_name}")
        except ModuleNotFoundError as error:
            # `enlca train --help` in the LiteRT-only install.
            message = missing_tensorflow_message(error, f"enlca {name}")
            if message is None:
                raise
            raise click.ClickException(message) from None
        return getattr(module, attribute)

    def format_commands(self, ctx, formatter):
        # Listed from the table so that `enlca --help` imports no command.
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        from keras_enlca.utils.outputs import output_locks

        try:
            # Every output a command checks is claimed until it ends: a
            # second command writing there is refused (utils/outputs.py).
            with output_locks(), warnings.catch_warnings():
                warnings.simplefilter("always", InputWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except KeyboardInterrupt:
            # Ctrl-C: nothing half-written stays (atomic writes); exit 130
            # like a shell, not click's 'Aborted!' with 1.
            _exit_interrupted(ctx)
        except InputError as error:
            raise click.ClickException(str(error)) from None
        except ModuleNotFoundError as error:
            # A TensorFlow-bound command (or model) in the LiteRT-only install.
            name = ctx.invoked_subcommand
            message = missing_tensorflow_message(
                error, f"enlca {name}" if name else "enlca"
            )
            if message is None:
                raise
            raise click.ClickException(message) from None
        except Exception as error:
            if not _caused_by_ctrl_c(error):
                raise
            _exit_interrupted(ctx)


def _caused_by_ctrl_c(error):
    """Whether Ctrl-C raised `error`'s chain: a native module whose import
    it interrupted reports `ImportError: initialization failed` from the
    `KeyboardInterrupt` (pybind11; seen in CI as Ctrl-C landed while
    `enlca upscale` loaded its runtime)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def _exit_interrupted(ctx):
    click.echo("Interrupted.", err=True)
    ctx.exit(INTERRUPTED_EXIT)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="enlca")
def cli():
    """Super-resolution with non-local attention (NLA, NLSA, ENLCA).

    \b
    Example:
      enlca demo               # train, evaluate, export, upscale on bundled images
      enlca upscale model.tflite photo.jpg -o out/
    """
    if not os.environ.get("ENLCA_DEBUG"):
        quiet_tensorflow()


def main(argv=None):
    """Console entry point: errors become one line on stderr and exit 1.

    User errors (`InputError`, click usage errors) are reported by click.
    Anything else is unexpected: one line too, unless `ENLCA_DEBUG=1` asks
    for the traceback.
    """
    try:
        cli.main(args=argv, prog_name="enlca")
    except Exception as error:  # noqa: BLE001 - the CLI must never dump a traceback
        if os.environ.get("ENLCA_DEBUG"):
            raise
        click.echo(
            f"Error: {type(error).__name__}: {error} "
            "(set ENLCA_DEBUG=1 for the traceback)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
