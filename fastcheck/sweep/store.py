"""The results file of a sweep: appended point by point, read back on resume.

Every finished grid point is appended to ``results.csv`` as one or more
complete lines and flushed at once, so a sweep killed at any moment loses at
most the point being computed (a half-written last line is dropped when the
file is read back).  Floats are written with ``repr`` and read back with the
exact (round-trip) parser, so a resumed table equals an uninterrupted one bit
for bit.

The files are written so that nothing is lost: one process at a time writes
a directory (:func:`fastcheck.support.files.directory_lock`), every rewrite goes
through a temporary file and an atomic replace, and resuming refuses rows
computed with other options, another version of a problem, or unknown
options.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fastcheck.errors import ResultsExistError, ResumeError, SweepFileError
from fastcheck.support.escape import csv_cell, csv_uncell
from fastcheck.support.files import (
    atomic_write,
    directory_lock,
    dumps_strict,
    open_for_append,
    read_bounded,
    write_text,
)

if TYPE_CHECKING:
    import pandas as pd

RESULTS_CSV = "results.csv"
RESULTS_PARQUET = "results.parquet"
META_JSON = "sweep.json"

#: The most ``sweep.json`` may hold (it lists a grid's settings: kilobytes).
MAX_META_BYTES = 16 << 20

#: Metadata keys that describe the grid (points are keyed by them) or the
#: run, not the numbers of a point: they may change between a run and its resume.
GRID_KEYS = ("kind", "problems", "eps", "schemes", "dtypes", "modes", "threads", "fingerprints", "command")


def coerce(df: pd.DataFrame, schema: dict) -> pd.DataFrame:
    """Columns in schema order with schema dtypes (``str`` columns: '' for missing)."""
    import pandas as pd

    out = pd.DataFrame(index=df.index)
    for col, col_type in schema.items():
        s = df[col] if col in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)
        if col_type == "str":
            out[col] = s.astype(object).where(s.notna(), "").astype(str)
        elif col_type == "int":
            out[col] = pd.to_numeric(s).astype("int64")
        elif col_type == "bool":
            out[col] = s.map(lambda v: str(v).lower() in ("true", "1")).astype(bool)
        else:
            out[col] = pd.to_numeric(s).astype("float64")
    return out.reset_index(drop=True)


def safe_cells(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every text cell a spreadsheet would run as a formula quoted (:func:`csv_cell`), for a CSV."""
    from pandas.api.types import is_string_dtype

    text = [c for c in df.columns if df[c].dtype == object or is_string_dtype(df[c])]
    if not text:
        return df
    out = df.copy()
    for c in text:
        out[c] = out[c].map(csv_cell)
    return out


def read_json(path) -> dict:
    """A sweep's JSON file as a dict; a clear error naming the file if it cannot be read."""
    path = Path(path)
    try:
        data = json.loads(read_bounded(path, MAX_META_BYTES).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SweepFileError(f"{path} is not valid JSON (truncated or edited?): {exc}") from None
    if not isinstance(data, dict):
        raise SweepFileError(f"{path} does not hold a JSON object")
    return data


class ResultStore:
    """Append-only CSV of finished grid points, plus the sweep's metadata.

    Parameters
    ----------
    directory : path
        Where ``results.csv`` and ``sweep.json`` live (created if missing).
    schema : dict
        Column name -> "str" | "int" | "float" | "bool", in file order.
    key : tuple of str, optional
        The columns naming a grid point; on resume, two different rows for one
        point are refused.
    volatile : tuple of str
        Columns that differ between runs of the same point (timings).

    While a store is open (from :meth:`start` to :meth:`finish` or
    :meth:`abort`) this process is the only writer of ``directory``.
    """

    def __init__(self, directory, schema: dict, key=(), volatile=()):
        self.directory = Path(directory)
        self.schema = dict(schema)
        self.key = tuple(key)
        self.volatile = tuple(volatile)
        self.path = self.directory / RESULTS_CSV
        self.meta_path = self.directory / META_JSON
        self._fh = None
        self._lock = None
        self._created = ()

    # -- opening -------------------------------------------------------------
    def exists(self) -> bool:
        """Whether ``results.csv`` holds at least one finished row (a header alone is none)."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return False
        with open(self.path, "rb") as fh:
            return fh.read(1 << 16).count(b"\n") >= 2 or len(self.read()) > 0

    def read_meta(self) -> dict | None:
        if not self.meta_path.exists():
            return None
        return read_json(self.meta_path)

    def start(self, meta: dict, *, resume: bool, overwrite: bool) -> pd.DataFrame:
        """Lock the directory, open for appending; return the rows already finished (resume) or none.

        Raises
        ------
        DirectoryBusyError
            Another process writes to the directory.
        ResultsExistError
            Results exist and neither ``resume`` nor ``overwrite`` was asked.
        ResumeError
            ``resume`` with options that change the results of the finished
            points, a changed problem, unknown options (no ``sweep.json``) or
            two different rows for one point.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = directory_lock(self.directory)
        self._lock.__enter__()
        try:
            return self._start(meta, resume, overwrite)
        except BaseException:
            self._release()
            raise

    def _start(self, meta, resume, overwrite) -> pd.DataFrame:
        done = self.empty()
        had = {p for p in (self.path, self.meta_path) if p.exists()}
        if self.exists():
            if resume:
                old = self.read_meta()
                done = self.read()
                if old is None:
                    raise ResumeError(
                        f"cannot resume: {self.path} holds {len(done)} row(s) but {self.meta_path} is missing, so the "
                        "options they were computed with are unknown; start over with overwrite (--force)"
                    )
                meta = _resumable(old, meta)
                done = self._unique(done)
            elif not overwrite:
                raise ResultsExistError(
                    f"{self.path} already holds results; continue them with resume (--resume) or start over with overwrite (--force)"
                )
        self._created = tuple(p for p in (self.path, self.meta_path) if p not in had)
        self._write_meta(meta)
        # Rewrite the finished rows cleanly (drops a half-written last line).
        with atomic_write(self.path, "w", newline="") as fh:
            safe_cells(done).to_csv(fh, index=False)
        self._fh = open_for_append(self.path)
        return done

    def _unique(self, done: pd.DataFrame) -> pd.DataFrame:
        """One row per grid point: exact repeats dropped, conflicting ones refused."""
        if not self.key or done.empty:
            return done
        dup = done.duplicated(list(self.key), keep=False)
        if not dup.any():
            return done
        same = [c for c in done.columns if c not in self.volatile]
        conflicting = done[dup].drop_duplicates(same).duplicated(list(self.key), keep=False)
        if conflicting.any():
            point = done[dup][conflicting].iloc[0]
            shown = ", ".join(f"{k}={point[k]!r}" for k in self.key)
            raise ResumeError(
                f"cannot resume: {self.path} holds different rows for the same point ({shown}); it was edited or "
                "written by two runs at once. Remove the wrong row or start over with overwrite (--force)"
            )
        return done.drop_duplicates(list(self.key), keep="first").reset_index(drop=True)

    def empty(self) -> pd.DataFrame:
        import pandas as pd

        return coerce(pd.DataFrame(columns=list(self.schema)), self.schema)

    def read(self) -> pd.DataFrame:
        """The finished rows in the file (a torn last line is ignored)."""
        import pandas as pd

        if not self.path.exists():
            return self.empty()
        try:  # a regular file only (a FIFO or a device in its place is refused, never waited on), bounded
            text = read_bounded(self.path).decode("utf-8")
        except UnicodeDecodeError:
            raise SweepFileError(f"{self.path} is not a text file written by fastcheck") from None
        if not text.endswith("\n"):
            text = text[: text.rfind("\n") + 1]
        lines = text.splitlines(keepends=True)
        if len(lines) <= 1:
            return self.empty()
        from io import StringIO

        # pandas >= 3 parses floats exactly by default; older versions need "round_trip".
        exact = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
        try:
            df = pd.read_csv(StringIO("".join(lines)), keep_default_na=False, na_values=[""],
                             dtype={c: str for c, k in self.schema.items() if k == "str"}, **exact)
        except (ValueError, pd.errors.ParserError) as exc:
            raise SweepFileError(f"{self.path} cannot be read as a results table: {str(exc).splitlines()[0]}") from None
        missing = set(self.schema) - set(df.columns)
        if missing:
            raise SweepFileError(
                f"{self.path} lacks columns {sorted(missing)}; it was written by another kind of sweep"
            )
        for c in (c for c, k in self.schema.items() if k == "str"):  # the text written (see safe_cells)
            df[c] = df[c].map(csv_uncell)
        try:
            return coerce(df, self.schema)
        except (ValueError, TypeError) as exc:
            raise SweepFileError(f"{self.path} holds a value that is not of its column's type: {exc}") from None

    # -- writing ---------------------------------------------------------------
    def append(self, rows: list) -> None:
        """Append finished rows and flush (one write per grid point)."""
        import pandas as pd

        if not rows:
            return
        df = coerce(pd.DataFrame(rows), self.schema)
        self._fh.write(safe_cells(df).to_csv(index=False, header=False))
        self._fh.flush()

    def close(self) -> None:
        """Close the append log (the directory stays locked until :meth:`finish` or :meth:`abort`)."""
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()

    def finish(self, final: pd.DataFrame) -> None:
        """Replace the append log by the final table in grid order, and unlock."""
        self.close()
        try:
            with atomic_write(self.path, "w", newline="") as fh:
                safe_cells(final).to_csv(fh, index=False)
        finally:
            self._release()

    def abort(self) -> None:
        """Close after a failure and unlock; files this run created but left without a row are removed."""
        try:
            try:
                self.close()
            except OSError:
                pass  # the failure being handled (a full disk) can fail the final flush too
            if self.path in self._created and not self.exists():
                for p in self._created:
                    p.unlink(missing_ok=True)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)

    def _write_meta(self, meta: dict) -> None:
        write_text(self.meta_path, dumps_strict(meta, indent=2) + "\n")


def _jsonable(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _flat(meta: dict, prefix="") -> dict:
    """Leaves of the metadata that shape each result, by their (last) name."""
    out = {}
    for k, v in meta.items():
        if not prefix and k in GRID_KEYS:
            continue
        if isinstance(v, dict):
            out.update(_flat(v, prefix + k + "."))
        else:
            out[k] = v
    return out


def _resumable(old: dict, new: dict) -> dict:
    """The metadata of the resumed run; refuses when the finished rows would not be its rows.

    Resuming is only sound when every option that shapes each result agrees
    and each problem present in both runs is unchanged (its fingerprint:
    θ's bytes and, for a user file, the file's sha1).
    """
    if old.get("kind") != new.get("kind"):
        raise ResumeError(f"cannot resume: the results are from a {old.get('kind')} sweep, not {new.get('kind')}")
    a = _flat(json.loads(json.dumps(old, default=_jsonable)))
    b = _flat(json.loads(json.dumps(new, default=_jsonable)))
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    if diff:
        shown = "; ".join(f"{k}: {a.get(k)!r} then, {b.get(k)!r} now" for k in diff)
        raise ResumeError(
            f"cannot resume: options differ from the interrupted run ({shown}); use the same options, "
            "another --name, or start over with --force"
        )
    fa, fb = old.get("fingerprints", {}), new.get("fingerprints", {})
    for name in fb:
        if name in fa and fa[name] != fb[name]:
            what = ", ".join(k for k in sorted(set(fa[name]) | set(fb[name])) if fa[name].get(k) != fb[name].get(k))
            raise ResumeError(
                f"cannot resume: problem {name!r} changed since the interrupted run ({what} differ); "
                "start over with --force"
            )
    if "fingerprints" in new:
        return {**new, "fingerprints": {**fa, **fb}}
    return new
