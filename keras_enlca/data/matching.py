"""Pair image files of two folders by name, ignoring role and scale suffixes.

SR results are saved under many naming schemes: `baby_x4_SR.png` (EDSR),
`babyx4.png` (EDSR LR files), `baby_RCAN_x4.png` / `baby_HR_x4.png` (RCAN
test code), `baby_ENLCN.png`... `match_files` pairs each ground-truth file
with the candidate whose name starts with the ground truth's *key* (its stem
without trailing `_HR`, `_GT`, `_x4`-style tokens), followed by nothing, a
separator, or an `x{scale}` token. Candidates that name another scale
(`_x2` when scoring x4) are skipped; the longest key wins, so `img_1` never
steals `img_10_SR`.
"""

import os
import re

from keras_enlca.errors import InputError

_SEPARATORS = "_-. "
_TRAILING_ROLE = re.compile(r"(?i)[_\-. ](hr|gt|ground_?truth|x\d+)$")
_SCALE_TOKEN = re.compile(r"(?i)(?:^|[_\-. ])x(\d+)(?=$|[_\-. ])")
_LEADING_SCALE = re.compile(r"(?i)^x(\d+)")


def name_key(path):
    """The matching key of a ground-truth file: its stem minus role/scale suffixes."""
    stem = os.path.splitext(os.path.basename(path))[0]
    key = stem
    while True:
        stripped = _TRAILING_ROLE.sub("", key)
        if stripped == key or not stripped:
            break
        key = stripped
    return key.lower()


def _scales_in(rest):
    scales = [int(v) for v in _SCALE_TOKEN.findall(rest)]
    leading = _LEADING_SCALE.match(rest)
    if leading:
        scales.append(int(leading.group(1)))
    return scales


def _is_match(key, stem, scale):
    """Whether candidate `stem` belongs to ground-truth `key`.

    None if not, else its rank (0 is the best match).
    """
    if not stem.startswith(key):
        return None
    rest = stem[len(key) :]
    if rest and rest[0] not in _SEPARATORS and not _LEADING_SCALE.match(rest):
        return None
    scales = _scales_in(rest)
    if scale is not None and any(s != scale for s in scales):
        return None
    # Exact name first, then names that state the right scale, then others.
    return 0 if not rest else (1 if scales else 2)


def match_files(
    candidates, references, scale=None, candidate_label="SR", reference_label="HR"
):
    """Pair every reference (ground-truth) file with one candidate file.

    Args:
        candidates: paths of the files to score (SR outputs, LR inputs...).
        references: paths of the ground-truth files.
        scale: the scale being evaluated; candidates naming another scale
            are ignored.
        candidate_label: word for candidates in error messages.
        reference_label: word for references in error messages.

    Returns:
        A list of `(reference_path, candidate_path)` in the references' order.

    Raises:
        InputError: a reference has no candidate, or two candidates are
            equally good for one reference.
    """
    keys = [(name_key(path), path) for path in references]
    # Longest keys first, so each candidate goes to the most specific reference.
    by_length = sorted(keys, key=lambda item: -len(item[0]))
    best = {path: [] for path in references}
    other_scale = {path: [] for path in references}
    for candidate in candidates:
        stem = os.path.splitext(os.path.basename(candidate))[0].lower()
        for key, reference in by_length:
            rank = _is_match(key, stem, scale)
            if rank is not None:
                best[reference].append((rank, candidate))
                break
            if scale is not None and _is_match(key, stem, None) is not None:
                other_scale[reference].append(candidate)
    pairs = []
    for key, reference in keys:
        found = sorted(best[reference])
        if not found:
            folder = os.path.dirname(candidates[0]) if candidates else "(no files)"
            hint = (
                f"looked for '{key}' followed by nothing or by _, -, . or space "
                f"and a suffix, e.g. {key}_SR.png"
            )
            near = [
                os.path.basename(c)
                for c in candidates
                if os.path.basename(c).lower().startswith(key)
            ]
            if near:
                hint += f"; {near[0]} names another image"
            if other_scale[reference]:
                hint = (
                    f"{os.path.basename(other_scale[reference][0])} is named for "
                    f"another scale than x{scale}"
                )
            raise InputError(
                f"No {candidate_label} image for {reference_label} "
                f"{os.path.basename(reference)} in {folder} ({hint})"
            )
        if len(found) > 1 and found[0][0] == found[1][0]:
            names = ", ".join(os.path.basename(c) for _, c in found[:3])
            raise InputError(
                f"Several {candidate_label} images match {reference_label} "
                f"{os.path.basename(reference)}: {names}"
            )
        pairs.append((reference, found[0][1]))
    return pairs
