"""The record of the outputs an upscaling job has completed."""

import json
import os

from keras_enlca.inference.upscale_job import MANIFEST_NAME
from keras_enlca.inference.upscale_job import file_sha256


class JobManifest:
    """Which outputs of a job are complete, checked by their SHA-256.

    A JSON-lines file `OUT/.enlca-upscale.jsonl`, appended to (and
    `fsync`ed) by the job's driver right after each output's atomic rename:
    `{"output": relative path, "sha256": ..., "job": fingerprint}`. An
    output counts as done only when its record has this job's fingerprint
    (same model bytes, same tiling) and the file on disk still has the
    recorded SHA-256: an output is checked, never assumed from its name. A
    line torn by a crash is ignored (its output is checked again).

    Args:
        out_dir: the output folder.
        fingerprint: `keras_enlca.inference.upscale_job.job_fingerprint`.

    Example:

    ```python
    manifest = JobManifest("out/", job_fingerprint("x2.tflite"))
    if not manifest.is_done("photo.png"):
        ...  # write out/photo.png atomically, then:
        manifest.record("photo.png", file_sha256("out/photo.png"))
    ```
    """

    def __init__(self, out_dir, fingerprint):
        self.out_dir = os.fspath(out_dir)
        self.fingerprint = fingerprint
        self.path = os.path.join(self.out_dir, MANIFEST_NAME)
        self._torn = False
        self.records = self._load()

    def _load(self):
        records = {}
        try:
            with open(self.path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return records
        # A crash in mid-append leaves a last line without its newline.
        self._torn = bool(text) and not text.endswith("\n")
        for line in text.splitlines():
            try:
                record = json.loads(line)
                records[record["output"]] = (record["sha256"], record["job"])
            except (ValueError, KeyError, TypeError):
                continue
        return records

    def is_done(self, relative):
        """Whether `relative` exists with the bytes this job recorded for it."""
        record = self.records.get(relative)
        if record is None or record[1] != self.fingerprint:
            return False
        path = os.path.join(self.out_dir, relative)
        try:
            return os.path.isfile(path) and file_sha256(path) == record[0]
        except OSError:
            return False

    def record(self, relative, sha256):
        """Appends (and syncs) that `relative` is complete with `sha256`."""
        line = json.dumps(
            {"output": relative, "sha256": sha256, "job": self.fingerprint}
        )
        os.makedirs(self.out_dir, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # One write per line: a crash tears at most the last one.
            os.write(fd, ("\n" if self._torn else "").encode() + (line + "\n").encode())
            self._torn = False
            os.fsync(fd)
        finally:
            os.close(fd)
        self.records[relative] = (sha256, self.fingerprint)
