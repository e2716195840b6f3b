"""A user's own data set from a file: CSV, NPZ or a pair of NPY files, read exactly.

* **CSV** (``.csv``, ``.tsv``, ``.txt``): one sample per row, an optional header row, one
  label column (``label=`` a column name or a 0-based index; default: a column named
  ``label``, ``class``, ``target`` or ``y`` if the header has one, else the last column)
  and numeric feature columns. Decimals are read as exact rationals from their text
  (``0.1`` is ``1/10``, ``2.5e-3`` is ``1/400``), never through a float.
* **NPZ**: arrays ``x`` (``n x d``) and ``y`` (``n`` labels or ``n x c`` one-hot); ``X``,
  ``labels``, ``target`` are accepted as names too.
* **NPY**: the features file, with the labels in a second ``.npy`` file (``labels=``).

Integer arrays are exact; float arrays of a binary file are read by the shortest
decimal that round-trips (``Fraction(repr(v))``), which is the decimal a user wrote
when the array was made from decimals. Labels may be any values (numbers or strings);
they become classes ``0..c-1`` in sorted order. Every malformed file (missing label
column, ragged rows, non-numeric or non-finite cells, a single class, no samples) is
refused with one sentence that names the file, the row or column, and the fix.
"""

from __future__ import annotations

import csv
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from .datasets import Dataset, stratified_indices

__all__ = ["DataFileError", "FILE_SUFFIXES", "is_data_file", "load_file"]

FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".npz", ".npy")
_LABEL_NAMES = ("label", "labels", "class", "target", "y")


class DataFileError(UsageError):
    """A data file that cannot be read as a labelled classification set."""


def is_data_file(spec: str) -> bool:
    """Whether ``spec`` names a data file (by its suffix) rather than a built-in data set."""
    return Path(spec).suffix.lower() in FILE_SUFFIXES


def load_file(path: str | Path, *, label: str | int | None = None,
              samples: int | None = None) -> Dataset:
    """The labelled data set in ``path`` (see the module docstring), optionally subset.

    Args:
        path: a ``.csv``/``.tsv``/``.txt``, ``.npz`` or ``.npy`` file.
        label: CSV: the label column (name or 0-based index); NPY: the labels file.
        samples: ``N`` for the deterministic stratified subset of ``stratified_indices``.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"data file {str(p)!r} does not exist; give the path of a "
                            ".csv, .npz or .npy file or a built-in data set name")
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            x, raw_labels, names = _read_csv(p, label)
        elif suffix == ".npz":
            x, raw_labels, names = _read_npz(p)
        elif suffix == ".npy":
            x, raw_labels, names = _read_npy(p, label)
        else:
            raise DataFileError(f"{str(p)!r} has an unknown suffix {suffix!r}; use one of "
                                f"{', '.join(FILE_SUFFIXES)}")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"cannot read data file {str(p)!r}: {exc}") from None
    labels, c = _classes(raw_labels, p)
    y = np.zeros((len(labels), c), dtype=object)
    y[...] = Fraction(0)
    for i, k in enumerate(labels):
        y[i, k] = Fraction(1)
    ds = Dataset(name=p.name, x=x, y=y, labels=labels, n_classes=c, feature_names=names)
    if samples is None:
        return ds
    idx = stratified_indices(ds.labels, ds.c, samples, p.name)
    return Dataset(name=ds.name, x=ds.x[idx], y=ds.y[idx], labels=ds.labels[idx],
                   n_classes=ds.c, feature_names=ds.feature_names)


# ----------------------------------------------------------------------------- CSV


def _exact_cell(text: str, where: str, p: Path) -> Fraction:
    t = text.strip()
    try:
        v = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise DataFileError(f"{p.name}: {where} holds {text!r}, which is not a number; "
                            "every feature cell must be a decimal or a fraction like 1/3"
                            ) from None
    return v


def _read_csv(p: Path, label: str | int | None
              ) -> tuple[np.ndarray, list[Any], tuple[str, ...]]:
    text = p.read_text(encoding="utf-8-sig")
    delimiter = "\t" if p.suffix.lower() == ".tsv" else ","
    if p.suffix.lower() == ".txt":
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t ").delimiter
        except csv.Error:
            delimiter = ","
    rows = [r for r in csv.reader(text.splitlines(), delimiter=delimiter)
            if any(cell.strip() for cell in r)]
    if not rows:
        raise DataFileError(f"{p.name} is empty; it needs one row per sample with a label "
                            "column and feature columns")
    header: list[str] | None = None
    if _looks_like_header(rows[0], rows[1] if len(rows) > 1 else None):
        header = [h.strip() for h in rows[0]]
        rows = rows[1:]
    width = len(header) if header is not None else len(rows[0]) if rows else 0
    if not rows:
        raise DataFileError(f"{p.name} has a header but no samples")
    for i, r in enumerate(rows):
        if len(r) != width:
            line = i + (2 if header is not None else 1)
            raise DataFileError(f"{p.name}: row {line} has {len(r)} cells but the "
                                f"{'header' if header is not None else 'first row'} has "
                                f"{width}; every row needs the same columns")
    if width < 2:
        raise DataFileError(f"{p.name} has {width} column(s); it needs a label column and "
                            "at least one feature column")
    col = _label_column(label, header, width, p)
    feats = [j for j in range(width) if j != col]
    x = np.empty((len(rows), len(feats)), dtype=object)
    for i, r in enumerate(rows):
        line = i + (2 if header is not None else 1)
        for jj, j in enumerate(feats):
            name = header[j] if header is not None else str(j)
            x[i, jj] = _exact_cell(r[j], f"row {line}, column {name!r}", p)
    raw = [r[col].strip() for r in rows]
    for i, v in enumerate(raw):
        if v == "":
            line = i + (2 if header is not None else 1)
            raise DataFileError(f"{p.name}: row {line} has an empty label; every sample "
                                "needs a class")
    names = tuple(header[j] for j in feats) if header is not None else ()
    return x, [_label_value(v) for v in raw], names


def _is_number(cell: str) -> bool:
    try:
        Fraction(cell.strip())
    except (ValueError, ZeroDivisionError):
        return False
    return True


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """A header row: words above numbers, or (with no second row) any word at all."""
    if second is None:
        return not all(_is_number(c) for c in first)
    if all(not _is_number(c) for c in first):
        return True
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False))


def _label_value(v: str) -> Any:
    try:
        f = Fraction(v)
    except (ValueError, ZeroDivisionError):
        return v
    return f


def _label_column(label: str | int | None, header: list[str] | None, width: int,
                  p: Path) -> int:
    if label is None:
        if header is not None:
            for j, h in enumerate(header):
                if h.lower() in _LABEL_NAMES:
                    return j
        return width - 1
    if isinstance(label, int) or (isinstance(label, str) and label.lstrip("-").isdigit()):
        j = int(label)
        if not -width <= j < width:
            raise DataFileError(f"{p.name} has {width} columns, so there is no label column "
                                f"{j}; give an index from 0 to {width - 1} or a column name")
        return j % width
    if header is None or label not in header:
        known = ", ".join(repr(h) for h in header) if header else "none (no header row)"
        raise DataFileError(f"{p.name} has no column named {label!r} (columns: {known}); "
                            "give the label column by name or 0-based index")
    return header.index(label)


# ----------------------------------------------------------------------- NPZ / NPY


def _exact_array(a: np.ndarray, p: Path, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return np.vectorize(lambda v: Fraction(int(v)), otypes=[object])(a) if a.size else \
            np.empty(a.shape, dtype=object)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)):
            bad = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise DataFileError(f"{p.name}: {what} entry {bad} is {a[bad]}; every feature "
                                "must be a finite number")
        return np.vectorize(lambda v: Fraction(repr(float(v))), otypes=[object])(a)
    if a.dtype == object:
        out = np.empty(a.shape, dtype=object)
        for idx, v in np.ndenumerate(a):
            if isinstance(v, float) and not math.isfinite(v):
                raise DataFileError(f"{p.name}: {what} entry {idx} is {v}; every feature "
                                    "must be a finite number")
            try:
                out[idx] = Fraction(repr(v)) if isinstance(v, float) else Fraction(v)
            except (TypeError, ValueError):
                raise DataFileError(f"{p.name}: {what} entry {idx} is {v!r}, not a number"
                                    ) from None
        return out
    raise DataFileError(f"{p.name}: {what} has dtype {a.dtype}, not numbers; save the "
                        "features as an integer or float array")


def _features(a: np.ndarray, p: Path) -> np.ndarray:
    if a.ndim != 2:
        raise DataFileError(f"{p.name}: the features must be a 2-D array (samples x "
                            f"features), got shape {a.shape}")
    return _exact_array(a, p, "feature")


def _labels_of(a: np.ndarray, n: int, p: Path) -> list[Any]:
    a = np.asarray(a)
    if a.ndim == 2 and a.shape[0] == n and a.shape[1] >= 1:
        ok = np.isin(a, (0, 1)).all() and (a.sum(axis=1) == 1).all()
        if not ok:
            raise DataFileError(f"{p.name}: the 2-D labels are not one-hot rows; give one "
                                "label per sample or one-hot rows of 0/1")
        return [int(v) for v in np.argmax(a, axis=1)]
    if a.ndim != 1 or a.shape[0] != n:
        raise DataFileError(f"{p.name}: there are {n} samples but the labels have shape "
                            f"{a.shape}; give one label per sample")
    return [v.item() if hasattr(v, "item") else v for v in a]


def _read_npz(p: Path) -> tuple[np.ndarray, list[Any], tuple[str, ...]]:
    with np.load(p, allow_pickle=False) as z:
        keys = set(z.files)
        xk = next((k for k in ("x", "X", "features", "data") if k in keys), None)
        yk = next((k for k in ("y", "labels", "target", "Y") if k in keys), None)
        if xk is None or yk is None:
            raise DataFileError(f"{p.name} holds arrays {sorted(keys)}; it needs the "
                                "features as 'x' and the labels as 'y' (np.savez(path, x=..., "
                                "y=...))")
        x = _features(z[xk], p)
        return x, _labels_of(z[yk], x.shape[0], p), ()


def _read_npy(p: Path, label: str | int | None) -> tuple[np.ndarray, list[Any], tuple[str, ...]]:
    if label is None or isinstance(label, int):
        raise DataFileError(f"{p.name} holds only the features; give the labels file too "
                            "(--label labels.npy, or in Python label='labels.npy'), or save "
                            "both in one .npz")
    lp = Path(label)
    if not lp.is_file():
        raise DataFileError(f"labels file {label!r} does not exist")
    x = _features(np.load(p, allow_pickle=False), p)
    return x, _labels_of(np.load(lp, allow_pickle=False), x.shape[0], lp), ()


def _classes(raw: list[Any], p: Path) -> tuple[np.ndarray, int]:
    if not raw:
        raise DataFileError(f"{p.name} has no samples")
    values = list(dict.fromkeys(raw))
    try:
        values.sort()
    except TypeError:
        values.sort(key=str)
    if len(values) < 2:
        raise DataFileError(f"{p.name} has only one class ({values[0]}); classification "
                            "needs at least two")
    index = {v: k for k, v in enumerate(values)}
    return np.array([index[v] for v in raw], dtype=np.int64), len(values)
