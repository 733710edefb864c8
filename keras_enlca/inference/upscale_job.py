"""A resumable upscaling job over many images: what to do, what is done.

The Ray path of `enlca upscale` (`keras_enlca.inference.ray_upscale`) is
built on these Ray-free pieces:

- `plan_job`: `(source, output name)` pairs from image files, folder trees
  and list files, checked before any work;
- `job_fingerprint`: what makes two runs "the same job" (the model's bytes,
  the tiling options);
- `JobManifest` (its own module): the record of every output the job has
  completed, with its SHA-256, so that a re-run checks each output instead
  of trusting its name;
- `JobLock`: one job at a time per output folder;
- `write_failure_list`: the images that could not be upscaled, one line
  each, beside the outputs.

Exactly once: only the driver of a job writes outputs, one at a time, each
under a temporary name unique to the write, renamed onto the final name
when complete (`keras_enlca.utils.atomic.atomic_path`), then recorded in the
manifest. A worker that dies loses only its in-memory results; Ray runs its
images again and the driver keeps the first result of each output.
"""

import hashlib
import json
import os
import re
import socket

from keras_enlca.errors import InputError
from keras_enlca.errors import OutputError
from keras_enlca.utils.outputs import distinct_destinations

# Written inside the output folder; never outputs themselves.
MANIFEST_NAME = ".enlca-upscale.jsonl"
LOCK_NAME = ".enlca-upscale.lock"
FAILURES_NAME = "enlca-upscale-failures.txt"
# An input with one of these extensions is a list of image paths, one a line.
LIST_EXTENSIONS = (".txt", ".lst")
# What `atomic_path` names a file's temporary: `.<stem>.<8 chars>.tmp<ext>`.
_TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.[a-z0-9_]{8}\.tmp(?P<ext>(\.[^.]*)?)$")


def _is_inside(path, folder):
    path = os.path.realpath(path)
    folder = os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _walk_images(folder):
    """Sorted image paths in the folder tree under `folder` (hidden names skipped)."""
    from keras_enlca.data.io import IMAGE_EXTENSIONS

    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if (
                not name.startswith(".")
                and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS
            ):
                found.append(os.path.join(root, name))
    return found


def read_list_file(path):
    """Image paths listed in a text file, one a line.

    Blank lines and lines starting with `#` are skipped; relative paths are
    relative to the list file's folder. Returns `(path, output name)` pairs:
    the output keeps the path relative to the list's folder, or the file
    name for a path outside it.
    """
    base = os.path.dirname(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the list file ({error}).") from None
    pairs = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        source = os.path.normpath(os.path.join(base, line))
        relative = os.path.relpath(source, base)
        if relative.startswith(os.pardir + os.sep) or os.path.isabs(relative):
            relative = os.path.basename(source)
        pairs.append((source, relative))
    return pairs


def plan_job(inputs, out_dir):
    """`(source path, output name relative to out_dir)` for every input image.

    - an image file: its file name;
    - a folder: every image in its tree, under its path relative to the
      folder (subfolders are recreated in `out_dir`);
    - a list file (`.txt`, `.lst`): see `read_list_file`.

    Images are not opened here (an unreadable one is reported by the job,
    not before it). Two inputs with the same output name, an output that
    would be its input, or an output folder inside an input folder (a
    re-run would take the outputs for inputs) are an `InputError`.

    Args:
        inputs: image files, folders and list files.
        out_dir: the output folder.

    Returns:
        A list of `(source, relative output path)`.
    """
    from keras_enlca.data.io import IMAGE_EXTENSIONS

    out_dir = os.fspath(out_dir)
    if os.path.isfile(out_dir):
        raise InputError(f"-o {out_dir}: is a file; give an output folder.")
    pairs = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            if _is_inside(out_dir, item):
                raise InputError(
                    f"-o {out_dir}: is inside the input folder {item}; a re-run would "
                    "take the outputs for inputs. Choose an output folder outside it."
                )
            found = _walk_images(item)
            if not found:
                raise InputError(f"{item}: the folder tree holds no images.")
            pairs.extend((source, os.path.relpath(source, item)) for source in found)
        elif os.path.isfile(item):
            ext = os.path.splitext(item)[1].lower()
            if ext in LIST_EXTENSIONS:
                listed = read_list_file(item)
                if not listed:
                    raise InputError(f"{item}: the list file names no images.")
                pairs.extend(listed)
            elif ext in IMAGE_EXTENSIONS:
                pairs.append((item, os.path.basename(item)))
            else:
                raise InputError(
                    f"{item}: neither an image file this tool writes back "
                    f"({', '.join(IMAGE_EXTENSIONS)}) nor a list file "
                    f"({', '.join(LIST_EXTENSIONS)})."
                )
        else:
            raise InputError(f"{item}: no such image file, folder or list file.")
    if not pairs:
        raise InputError("no input images given.")
    for source, relative in pairs:
        if os.path.splitext(relative)[1].lower() not in IMAGE_EXTENSIONS:
            raise InputError(
                f"{source}: not an image file this tool writes back "
                f"({', '.join(IMAGE_EXTENSIONS)})."
            )
    distinct_destinations(pairs, out_dir)
    return pairs


def _hash_path(digest, path):
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode())
                _hash_path(digest, full)
        return
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)


def job_fingerprint(model, tile=None, overlap=None):
    """A hex digest of what decides an output's bytes: the model and the tiling.

    The model's bytes (every file of a SavedModel folder), not its path:
    the same file elsewhere is the same job, a re-exported one is not.
    """
    digest = hashlib.sha256()
    try:
        _hash_path(digest, os.fspath(model))
    except OSError as error:
        raise InputError(f"{model}: cannot read the model ({error}).") from None
    digest.update(json.dumps({"tile": tile, "overlap": overlap}).encode())
    return digest.hexdigest()


def file_sha256(path):
    """The SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    _hash_path(digest, path)
    return digest.hexdigest()


def write_failure_list(out_dir, failures):
    """Writes `(source, one-line reason)` pairs to the failure list; returns its path.

    One line per image, `path<TAB>reason`, sorted, atomically. With no
    failures, an earlier job's list (this module's file name) is removed.
    """
    from keras_enlca.utils.atomic import atomic_path

    path = os.path.join(out_dir, FAILURES_NAME)
    if not failures:
        if os.path.isfile(path):
            os.remove(path)
        return None
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for source, reason in sorted(failures):
                reason = " ".join(str(reason).split())
                f.write(f"{source}\t{reason}\n")
    return path


def remove_job_temporaries(out_dir, relatives):
    """Removes the temporaries that interrupted writes of these outputs left.

    Only for the job holding the folder's `JobLock`: then no write of these
    outputs is under way, so every temporary of theirs is debris, whatever
    its age (`keras_enlca.utils.atomic.atomic_path` names them
    `.<stem>.<8 characters>.tmp<ext>`). Each folder is listed once.
    Returns the removed paths.
    """
    wanted = {}
    for relative in relatives:
        folder, name = os.path.split(os.path.join(out_dir, relative))
        wanted.setdefault(folder, set()).add(name)
    removed = []
    for folder, names in wanted.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            match = _TEMPORARY.match(entry)
            if match and match["stem"] + match["ext"] in names:
                path = os.path.join(folder, entry)
                try:
                    os.remove(path)
                except OSError:
                    continue
                removed.append(path)
    return removed


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobLock:
    """One upscaling job at a time per output folder (an exclusive lock file).

    The lock file `OUT/.enlca-upscale.lock` is created with `O_EXCL` and
    holds the host and process id of its job. A lock whose process is gone
    (same host) is taken over; a live one is an `OutputError` naming it.

    Args:
        out_dir: the output folder (created when missing).

    Example:

    ```python
    with JobLock("out/"):
        ...  # the only job writing into out/
    ```
    """

    def __init__(self, out_dir):
        self.out_dir = os.fspath(out_dir)
        self.path = os.path.join(self.out_dir, LOCK_NAME)
        self.owner = {"host": socket.gethostname(), "pid": os.getpid()}

    def _holder(self):
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def acquire(self):
        try:
            os.makedirs(self.out_dir, exist_ok=True)
        except OSError as error:
            raise OutputError(
                f"-o {self.out_dir}: cannot create it ({error})."
            ) from None
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder() or {}
                stale = holder.get("host") == self.owner["host"] and not _pid_alive(
                    int(holder.get("pid", 0) or 0)
                )
                if not stale:
                    raise OutputError(
                        f"-o {self.out_dir}: another upscaling job (pid "
                        f"{holder.get('pid', '?')} on {holder.get('host', '?')}) is "
                        f"writing there; wait for it, or remove {self.path} if it is "
                        "gone."
                    ) from None
                os.remove(self.path)
                continue
            except OSError as error:
                raise OutputError(
                    f"-o {self.out_dir}: cannot write there ({error.strerror})."
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.owner, f)
            return self
        raise OutputError(f"-o {self.out_dir}: could not take {self.path}.")

    def release(self):
        if self._holder() == self.owner:
            os.remove(self.path)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()
