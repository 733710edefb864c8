"""The one rule for every output a command writes.

A command never deletes or replaces anything it did not create unless the
user passes `--overwrite`, and even then only its own artifact (and that
artifact's JSON sidecar) is replaced, never other files beside or inside
it. The location is checked before any work: an existing output, a folder
that cannot be written, a disk that is already full. A write that fails
later (full disk, read-only or vanished folder, file-size limit) becomes an
`OutputError` naming the final path, never the hidden temporary file.

Two commands never write one output at the same time: inside
`output_locks()` (every `enlca` command runs inside one) each output that
`check_output`/`check_output_files` accepts is claimed with an exclusive
lock, held until the command ends; a second command claiming the same
path is refused in one line before any work. The operating system drops
the lock when the process ends, a crash or a kill included.
"""

import contextlib
import errno
import hashlib
import os
import tempfile

from keras_enlca.errors import InputError
from keras_enlca.errors import OutputError
from keras_enlca.errors import error_reason
from keras_enlca.errors import output_label
from keras_enlca.errors import write_advice
from keras_enlca.utils.atomic import remove_stale_temporaries

try:  # POSIX; on Windows outputs are checked but not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

# The claims of the `output_locks()` block under way: real path -> (lock file, fd).
_claims = None


def lock_folder():
    """Where output locks live: `$ENLCA_LOCK_DIR`, else a per-user folder in
    the system's temporary folder (the same for every command of a user)."""
    folder = os.environ.get("ENLCA_LOCK_DIR")
    if not folder:
        user = os.getuid() if hasattr(os, "getuid") else "user"
        folder = os.path.join(tempfile.gettempdir(), f"enlca-output-locks-{user}")
    return folder


def _lock_file(real):
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()
    return os.path.join(lock_folder(), digest[:32] + ".lock")


def _holder(fd):
    """The pid written in a lock file, or None: also while its holder has
    locked it but not yet written it (an empty file)."""
    with contextlib.suppress(OSError, ValueError):
        fields = os.pread(fd, 64, 0).decode().split()
        return fields[0] if fields else None
    return None


def _claim(path, option):
    real = os.path.realpath(os.path.abspath(path))
    if real in _claims:
        return
    lock = _lock_file(real)
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # no lock folder (removed when it emptied)
            os.makedirs(os.path.dirname(lock), mode=0o700, exist_ok=True)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = _holder(fd)
            os.close(fd)
            by = f" (pid {pid})" if pid else ""
            raise OutputError(
                f"{output_label(path, option)}: another enlca command{by} is "
                "writing it; wait for it to finish or choose another output."
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # not a file its last holder removed while we opened it
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {real}\n".encode("utf-8", "surrogateescape"), 0)
    _claims[real] = (lock, fd)


def claim_outputs(paths, option=None):
    """Claims `paths` for the `output_locks()` block under way.

    Raises `OutputError` (one line naming the path) when another process
    holds one of them. Outside an `output_locks()` block nothing is
    claimed. A path this process already claimed is accepted again.
    """
    if _claims is None or fcntl is None:
        return
    for path in paths:
        _claim(os.fspath(path), option)


@contextlib.contextmanager
def output_locks():
    """Holds the outputs that checks inside the block claim, until it ends.

    Example:

    ```python
    with output_locks():
        out = check_output("model.tflite")  # a second process is refused
        ...  # write it
    ```
    """
    global _claims
    if _claims is not None:  # nested: the outer block holds the claims
        yield
        return
    _claims = {}
    try:
        yield
    finally:
        claims, _claims = _claims, None
        for lock, fd in claims.values():
            with contextlib.suppress(OSError):
                os.unlink(lock)  # before the unlock: no one waits on a stale file
            os.close(fd)
        if claims:  # leave no empty lock folder behind (in a test's TMPDIR...)
            with contextlib.suppress(OSError):
                os.rmdir(lock_folder())


def existing_parent(path):
    """The nearest folder above `path` that exists (what a write creates into)."""
    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    return parent


def check_writable(path, option=None, needed_bytes=0):
    """Raises `OutputError` unless `path` can be created (before any work).

    Creates and removes a hidden probe file in the nearest existing folder
    above `path` (a real write: it sees read-only mounts, permissions and
    quotas the way the final write will), and refuses a disk with less
    than `needed_bytes` free (a lower bound of the output's size).
    """
    parent = existing_parent(path)
    where = output_label(path, option)
    if not os.path.isdir(parent):
        raise OutputError(f"{where}: {parent} is a file, not a folder.")
    try:
        fd, probe = tempfile.mkstemp(prefix=".enlca-write-test.", dir=parent)
        os.close(fd)
        os.remove(probe)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.EINVAL, errno.EOPNOTSUPP):
            # The folder exists but takes no new files (/proc, /sys...).
            raise OutputError(
                f"{where}: {parent} takes no new files ({error_reason(error)}: "
                "a special file system); choose an output in another folder."
            ) from None
        advice = write_advice(error_reason(error))
        raise OutputError(
            f"{where}: cannot write in {parent} ({error_reason(error)})"
            + (f"; {advice}." if advice else ".")
        ) from None
    try:
        stats = os.statvfs(parent)
    except (OSError, AttributeError):  # no statvfs on Windows
        return
    if stats.f_blocks == 0:  # a file system that reports no sizes (FUSE, ...)
        return
    # Root may also use the blocks reserved for it.
    blocks = (
        stats.f_bfree
        if hasattr(os, "geteuid") and os.geteuid() == 0
        else stats.f_bavail
    )
    free = blocks * stats.f_frsize
    if free == 0 or free < needed_bytes:
        error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        needs = f"; needs at least {needed_bytes / 1e6:.1f} MB" if needed_bytes else ""
        raise OutputError(
            f"{where}: cannot write in {parent} ({error.strerror}: "
            f"{free / 1e6:.1f} MB free{needs})."
        )


def _is_current_folder_or_above(path):
    target = os.path.realpath(path)
    here = os.path.realpath(os.getcwd())
    return here == target or here.startswith(target.rstrip(os.sep) + os.sep)


def check_output(
    path,
    overwrite=False,
    folder=False,
    artifact_entries=None,
    sidecars=(),
    option=None,
    needed_bytes=0,
):
    """Checks that a command may write its output at `path`; returns the path.

    This is the rule every command applies before doing any work:

    - nothing exists at `path` (or an empty folder, for a folder output):
      fine, provided the location is writable (`check_writable`);
    - a file exists (or a sidecar does): an error unless `overwrite`;
    - a non-empty folder exists (folder outputs): an error unless
      `overwrite`, and even then only when every entry in it is one of
      `artifact_entries` (the names our artifact consists of): a folder
      holding anything else is never replaced;
    - a folder where a file is to be written, or a file where a folder is
      to be written, the current folder or one above it: always an error.

    Temporaries that an interrupted (killed) earlier write of this very
    output left beside it are removed (see
    `keras_enlca.utils.atomic.remove_stale_temporaries`).

    Args:
        path: the output file or folder.
        overwrite: the user passed `--overwrite`.
        folder: the output is a folder (a SavedModel), not a file.
        artifact_entries: folder outputs: the names an earlier artifact
            may hold (e.g. `saved_model.pb`, `variables`).
        sidecars: files written beside the output (its JSON metadata).
        option: the option name used in messages (e.g. `"--out"`).
        needed_bytes: a lower bound of the output's size on disk.

    Returns:
        `path` without trailing slashes.

    Raises:
        OutputError: the output must not or cannot be written (one line
            naming `path`).

    Example:

    ```python
    out = check_output("model.tflite", sidecars=["model.tflite.json"], option="--out")
    ```
    """
    path = os.fspath(path)
    path = path.rstrip("/\\") or path
    where = output_label(path, option)
    claim_outputs([path], option)
    if folder and os.path.isdir(path) and _is_current_folder_or_above(path):
        raise OutputError(
            f"{where}: is the current folder (or one above it); give the output a new "
            "folder name."
        )
    if os.path.lexists(path):
        if folder:
            if not os.path.isdir(path):
                raise OutputError(
                    f"{where}: a file of that name exists; the output is a folder."
                )
            entries = sorted(os.listdir(path))
            if entries and not overwrite:
                raise OutputError(
                    f"{where}: the folder exists and is not empty; choose a new name, "
                    "or pass --overwrite to replace an earlier export there."
                )
            foreign = [e for e in entries if e not in (artifact_entries or ())]
            if foreign:
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise OutputError(
                    f"{where}: holds files that are not part of the output ({shown}); "
                    "it is not replaced, even with --overwrite."
                )
        else:
            if os.path.isdir(path):
                raise OutputError(f"{where}: is a folder; the output is a file.")
            if not overwrite:
                raise OutputError(
                    f"{where}: already exists; pass --overwrite to replace it."
                )
    for sidecar in sidecars:
        sidecar = os.fspath(sidecar)
        if os.path.isdir(sidecar):
            raise OutputError(
                f"{sidecar}: is a folder; it would be the metadata of {path}."
            )
        if os.path.lexists(sidecar) and not overwrite:
            raise OutputError(
                f"{sidecar}: already exists (the metadata of {path}); "
                "pass --overwrite to replace it."
            )
    check_writable(path, option=option, needed_bytes=needed_bytes)
    for written in [path, *sidecars]:
        remove_stale_temporaries(written)
    return path


def distinct_destinations(pairs, out_dir):
    """The path in `out_dir` of each `(source, output name)` pair, checked.

    Two sources with one output path, or an output that is its own source
    (through a symbolic link too), are an `InputError` naming them, before
    any work.
    """
    destinations, taken = [], {}
    for source, name in pairs:
        destination = os.path.join(out_dir, name)
        key = os.path.normcase(os.path.abspath(destination))
        if key in taken:
            raise InputError(
                f"{source} and {taken[key]} would both be written to {destination}; "
                "upscale them into different folders."
            )
        if key == os.path.normcase(os.path.abspath(source)) or (
            os.path.exists(source)
            and os.path.exists(destination)
            and os.path.samefile(source, destination)
        ):
            raise InputError(
                f"{source}: the output would overwrite the input; choose another -o "
                "folder."
            )
        taken[key] = source
        destinations.append(destination)
    return destinations


def check_output_files(paths, overwrite=False, option=None):
    """`check_output` for many output files at once (one line for all).

    Used where a command writes a set of files (upscaled images, saved SR
    images): an existing one is an error naming it and counting the others,
    unless `overwrite`; each folder's writability is probed once.
    """
    paths = [os.fspath(p) for p in paths]
    claim_outputs(paths, option)
    for path in paths:
        if os.path.isdir(path):
            raise OutputError(
                f"{output_label(path, option)}: is a folder; the output is a file."
            )
    existing = [p for p in paths if os.path.lexists(p)]
    if existing and not overwrite:
        first = output_label(existing[0], option)
        if len(existing) > 1:
            raise OutputError(
                f"{first}: already exists "
                f"(and {len(existing) - 1} more of the outputs); "
                "pass --overwrite to replace them."
            )
        raise OutputError(f"{first}: already exists; pass --overwrite to replace it.")
    probed = set()
    for path in paths:
        parent = existing_parent(path)
        if parent not in probed:
            check_writable(path, option=option)
            probed.add(parent)
        remove_stale_temporaries(path)
    return paths
