"""Reading and writing training config files (YAML or JSON), with the data
folders of a run folder's config.yaml kept absolute or beside the run."""

import json
import os

import yaml

from keras_enlca.errors import InputError


def read_config_file(path):
    """Read a YAML or JSON config file into a dict (InputError on problems)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"config file '{path}' does not exist")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        if path.lower().endswith(".json"):
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise InputError(
            f"config file '{path}' is not valid JSON (line {error.lineno}): {error.msg}"
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise InputError(
            f"config file '{path}' is not valid YAML{line}: {problem}"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"config file '{path}' must hold a mapping of keys")
    return data


# The config keys that name data folders: stored absolute in a run folder's
# config.yaml (relative to the run folder when the data lives beside it, as
# in `enlca demo`), so that a run resumes from any working directory and
# after the folder is moved.
DATA_PATH_KEYS = (
    "data.train.dir",
    "data.train.lr_dir",
    "data.validation.dir",
    "data.validation.lr_dir",
)


def _data_paths(values):
    """`(dotted key, parent dict, name)` of every data path set in `values`."""
    data = values.get("data") if isinstance(values, dict) else None
    for source in ("train", "validation"):
        entry = data.get(source) if isinstance(data, dict) else None
        if not isinstance(entry, dict):
            continue
        for name in ("dir", "lr_dir"):
            if isinstance(entry.get(name), str) and entry[name]:
                yield f"data.{source}.{name}", entry, name


def absolute_data_paths(config, base=None):
    """Makes the data folders of `config` absolute (relative ones are taken
    from `base`, else the current folder); returns `config`."""
    base = os.path.abspath(base or os.getcwd())
    for source in (config.data.train, config.data.validation):
        if source is None:
            continue
        for name in ("dir", "lr_dir"):
            value = getattr(source, name)
            if value:
                path = os.path.expanduser(value)
                setattr(source, name, os.path.normpath(os.path.join(base, path)))
    return config


def read_run_config(path):
    """`read_config_file` for a run folder's config.yaml: relative data
    folders are taken from the run folder (see `DATA_PATH_KEYS`)."""
    values = read_config_file(path)
    run_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
    for _, entry, name in _data_paths(values):
        path = os.path.expanduser(entry[name])
        beside = os.path.normpath(os.path.join(run_dir, path))
        # Run folders of earlier versions kept paths relative to where the
        # run was started: still found from there.
        if not os.path.isabs(path) and not os.path.isdir(beside):
            if os.path.isdir(path):
                beside = os.path.abspath(path)
        entry[name] = beside
    return values


def dump_config(config, path):
    """Write `config` as YAML to `path` atomically.

    Data folders are written absolute, or relative to the run folder (the
    folder of `path`) when they lie inside the folder that holds it (the
    demo's data): the run resumes from anywhere and travels with its data.
    """
    from keras_enlca.utils.atomic import atomic_path

    values = config.to_dict()
    run_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
    home = os.path.dirname(run_dir)
    for _, entry, name in _data_paths(values):
        folder = os.path.abspath(entry[name])
        inside = os.path.commonpath([folder, home]) == home and home != os.sep
        entry[name] = os.path.relpath(folder, run_dir) if inside else folder
    text = (
        "# Resolved keras-enlca training config (defaults, file and overrides).\n"
        "# Data folders: absolute, or relative to this run folder.\n"
        + yaml.safe_dump(values, sort_keys=False, default_flow_style=None)
    )
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def diff_configs(old, new):
    """Dotted keys whose values differ between two config dicts."""
    out = []

    def walk(a, b, prefix):
        keys = (
            sorted(set(a) | set(b))
            if isinstance(a, dict) and isinstance(b, dict)
            else None
        )
        if keys is None:
            if a != b:
                out.append(prefix)
            return
        for k in keys:
            walk(a.get(k), b.get(k), f"{prefix}.{k}" if prefix else k)

    walk(old, new, "")
    return out
