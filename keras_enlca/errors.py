"""Errors a user can cause, kept apart from programming errors.

The command line prints an `InputError` as one line and exits non-zero; any
other exception is a bug and is reported as such.
"""


class InputError(ValueError):
    """A problem with something the user supplied: a file, a folder, a value.

    The message must name the input (a path, an option, a shape) so that the
    user can act on it without a traceback.
    """
