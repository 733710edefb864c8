"""Errors a user can cause, kept apart from programming errors.

The command line prints an `InputError` as one line and exits non-zero; any
other exception is a bug and is reported as such.
"""

# What to run when a TensorFlow-bound part is used in a TensorFlow-free
# install (`pip install keras-enlca` is the LiteRT runtime only).
TENSORFLOW_EXTRAS = (
    "pip install 'keras-enlca[cpu]' (or 'keras-enlca[gpu]' for an NVIDIA GPU)"
)

# Top-level modules that only the `[cpu]`/`[gpu]` extras install.
TENSORFLOW_MODULES = ("tensorflow", "keras", "tensorboard", "yaml")


class InputError(ValueError):
    """A problem with something the user supplied: a file, a folder, a value.

    The message must name the input (a path, an option, a shape) so that the
    user can act on it without a traceback.
    """


class InputWarning(UserWarning):
    """Something the user supplied gives a result they may not expect (files
    skipped in a folder, an image too small for the network): the command
    line prints it as one `Warning:` line and goes on."""


class OutputError(InputError, OSError):
    """An output that cannot or must not be written.

    An `InputError` (the command line prints it as one line and exits 1)
    and an `OSError` (so that callers catching write failures still do).
    The message names the final output path and the reason.
    """


def output_label(path, option=None):
    """How a message names an output: `--out model.tflite`, or the path."""
    return f"{option} {path}" if option else path


def error_reason(error):
    """What a message says went wrong: an `OSError`'s `strerror`, else the
    error's text, else its type's name."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


# What fixes each write failure (matched in the reason, case-insensitive).
WRITE_ADVICE = {
    "no space left on device": "free space there",
    "disk quota exceeded": "free space there (or raise the quota)",
    "read-only file system": "write to another folder",
    "permission denied": "write to a folder you may write to",
    "file too large": "the file-size limit of this shell (ulimit -f) is below "
    "the file's size; raise it (ulimit -f unlimited)",
}


def write_advice(reason):
    """What to do about a failed write whose reason is `reason`, or None."""
    reason = reason.lower()
    for text, advice in WRITE_ADVICE.items():
        if text in reason:
            return advice
    return None


def write_error(path, error, option=None):
    """An `OutputError` for a failed write of `path` (reason from `error`)."""
    if isinstance(error, OutputError):
        return error
    code = getattr(error, "errno", None)
    reason = error_reason(error)
    # The reason says it all, except for a limit of the process.
    advice = write_advice(reason) if "too large" in reason.lower() else None
    result = OutputError(
        f"{output_label(path, option)}: cannot write ({reason})"
        + (f"; {advice}." if advice else ".")
    )
    result.errno = code
    return result


def missing_tensorflow_message(error, needed_by):
    """One line telling which extra to install, or None for another error.

    Args:
        error: a `ModuleNotFoundError`.
        needed_by: what needs TensorFlow, e.g. `"enlca train"` or
            `"keras_enlca.models"`.
    """
    name = (getattr(error, "name", None) or "").split(".")[0]
    if name not in TENSORFLOW_MODULES:
        return None
    return (
        f"{needed_by} needs TensorFlow, which this install lacks "
        f"(no module named {name!r}); install it with {TENSORFLOW_EXTRAS}."
    )
