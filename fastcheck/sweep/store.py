"""The results file of a sweep: appended point by point, read back on resume.

Every finished grid point is appended to ``results.csv`` as one or more
complete lines and flushed at once, so a sweep killed at any moment loses at
most the point being computed (a half-written last line is dropped when the
file is read back).  Floats are written with ``repr`` and read back with the
exact (round-trip) parser, so a resumed table equals an uninterrupted one bit
for bit.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
META_JSON = "sweep.json"


def coerce(df: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """Columns in schema order with schema dtypes (``str`` columns: '' for missing)."""
    out = pd.DataFrame(index=df.index)
    for col, kind in schema.items():
        s = df[col] if col in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)
        if kind == "str":
            out[col] = s.astype(object).where(s.notna(), "").astype(str)
        elif kind == "int":
            out[col] = pd.to_numeric(s).astype("int64")
        elif kind == "bool":
            out[col] = s.map(lambda v: str(v).lower() in ("true", "1")).astype(bool)
        else:
            out[col] = pd.to_numeric(s).astype("float64")
    return out.reset_index(drop=True)


class ResultsExistError(FileExistsError, ValueError):
    """The output directory holds results and neither resume nor overwrite was asked."""


class ResultStore:
    """Append-only CSV of finished grid points, plus the sweep's metadata.

    Parameters
    ----------
    directory : path
        Where ``results.csv`` and ``sweep.json`` live (created if missing).
    schema : dict
        Column name -> "str" | "int" | "float" | "bool", in file order.
    """

    def __init__(self, directory, schema: dict):
        self.directory = Path(directory)
        self.schema = dict(schema)
        self.path = self.directory / RESULTS_CSV
        self.meta_path = self.directory / META_JSON
        self._fh = None

    # -- opening -------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def read_meta(self) -> dict | None:
        if not self.meta_path.exists():
            return None
        return json.loads(self.meta_path.read_text())

    def start(self, meta: dict, *, resume: bool, overwrite: bool) -> pd.DataFrame:
        """Open for appending; return the rows already finished (resume) or none.

        Raises
        ------
        ResultsExistError
            Results exist and neither ``resume`` nor ``overwrite`` was asked.
        ValueError
            ``resume`` with options that change the results of the finished points.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        done = self.empty()
        if self.exists():
            if resume:
                old = self.read_meta()
                if old is not None:
                    _same_options(old, meta)
                done = self.read()
            elif not overwrite:
                raise ResultsExistError(
                    f"{self.path} already holds results; continue them with resume (--resume) or start over with overwrite (--force)"
                )
        self._write_meta(meta)
        # Rewrite the finished rows cleanly (drops a half-written last line).
        tmp = self.path.with_suffix(".csv.tmp")
        done.to_csv(tmp, index=False)
        os.replace(tmp, self.path)
        self._fh = open(self.path, "a", newline="")
        return done

    def empty(self) -> pd.DataFrame:
        return coerce(pd.DataFrame(columns=list(self.schema)), self.schema)

    def read(self) -> pd.DataFrame:
        """The finished rows in the file (a torn last line is ignored)."""
        if not self.exists():
            return self.empty()
        text = self.path.read_text()
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        lines = text.splitlines(keepends=True)
        if len(lines) <= 1:
            return self.empty()
        from io import StringIO

        # pandas >= 3 parses floats exactly by default; older versions need "round_trip".
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
        df = pd.read_csv(StringIO("".join(lines)), keep_default_na=False, na_values=[""],
                         dtype={c: str for c, k in self.schema.items() if k == "str"}, **exact)
        missing = set(self.schema) - set(df.columns)
        if missing:
            raise ValueError(f"{self.path} lacks columns {sorted(missing)}; it was written by another kind of sweep")
        return coerce(df, self.schema)

    # -- writing ---------------------------------------------------------------
    def append(self, rows: list) -> None:
        """Append finished rows and flush (one write per grid point)."""
        if not rows:
            return
        df = coerce(pd.DataFrame(rows), self.schema)
        self._fh.write(df.to_csv(index=False, header=False))
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def finish(self, final: pd.DataFrame) -> None:
        """Replace the append log by the final table in grid order."""
        self.close()
        tmp = self.path.with_suffix(".csv.tmp")
        final.to_csv(tmp, index=False)
        os.replace(tmp, self.path)

    def _write_meta(self, meta: dict) -> None:
        tmp = self.meta_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(meta, indent=2, default=_jsonable) + "\n")
        os.replace(tmp, self.meta_path)


def _jsonable(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _same_options(old: dict, new: dict) -> None:
    """Resuming is only sound when the options that shape each result agree."""
    if old.get("kind") != new.get("kind"):
        raise ValueError(f"cannot resume: the results are from a {old.get('kind')} sweep, not {new.get('kind')}")
    a = json.loads(json.dumps(old.get("options", {}), default=_jsonable))
    b = json.loads(json.dumps(new.get("options", {}), default=_jsonable))
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if diff:
        shown = ", ".join(f"{k}: {a.get(k)!r} then, {b.get(k)!r} now" for k in diff)
        raise ValueError(f"cannot resume: options differ from the interrupted run ({shown})")
