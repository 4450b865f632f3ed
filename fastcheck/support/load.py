"""How many cores other work leaves free: the machine's load average, less what this process added to it.

``workers="auto"`` decides from one timed evaluation whether the pool pays;
on a machine other programs keep busy, the workers share cores with them and
the pool's gain shrinks or turns into a loss (a loaded run chose the pool and
was 1.46× slower than the serial loop).  The 1-minute load average
(:func:`os.getloadavg`) counts every runnable process, this one and its
workers included, so the load of *other* work is the load average less this
process's own share, which is estimated here:

* this process's CPU use, folded into an exponential average with the load
  average's own time constant (:data:`LOAD_SECONDS`) each time it is read
  (:func:`fold`), since the module was imported;
* the pool's busy spells (:func:`record_busy`: workers × the seconds a check
  kept them busy), decayed the same way.

What is left, against the machine's cores, is the free cores
(:func:`free_cores`), and what ``n`` workers can gain over one process is
that many cores at most and at least one (:func:`pool_speedup`).  It is an
estimate: the load average lags (a program that started seconds ago is
hardly in it yet), so it keeps the pool off a machine that has been busy for
a while rather than predicting the next second.
"""
from __future__ import annotations

import math
import os
import threading
import time

__all__ = ["LOAD_SECONDS", "fold", "free_cores", "machine_load", "own_load", "pool_speedup", "record_busy",
           "spell_load"]

#: Time constant of the 1-minute load average (Linux folds the run queue into it with e^(−5 s / 60 s)).
LOAD_SECONDS = 60.0
#: Busy spells older than this many time constants no longer count (below e^-5 of what they added).
_FORGET = 5 * LOAD_SECONDS

_LOCK = threading.Lock()
_STATE = {"t": time.monotonic(), "cpu": time.process_time(), "load": 0.0, "spells": []}


def fold(previous: float, seconds: float, rate: float) -> float:
    """An exponential average that was ``previous`` and saw ``rate`` (cores busy) for ``seconds`` more."""
    if seconds <= 0:
        return previous
    keep = math.exp(-seconds / LOAD_SECONDS)
    return previous * keep + rate * (1.0 - keep)


def spell_load(start: float, end: float, n: int, now: float) -> float:
    """What ``n`` processes busy from ``start`` to ``end`` (monotonic seconds) add to the load average at ``now``."""
    if end <= start or now <= start:
        return 0.0
    end = min(end, now)
    return n * (math.exp(-(now - end) / LOAD_SECONDS) - math.exp(-(now - start) / LOAD_SECONDS))


def record_busy(start: float, end: float, n: int) -> None:
    """The pool kept ``n`` worker processes busy from ``start`` to ``end`` (:func:`time.monotonic`)."""
    with _LOCK:
        spells = [s for s in _STATE["spells"] if end - s[1] < _FORGET]
        spells.append((float(start), float(end), int(n)))
        _STATE["spells"] = spells


def own_load(now: float | None = None) -> float:
    """This process's estimated share of the 1-minute load average: its own CPU use (see :func:`fold`)
    plus its pool's busy spells."""
    from fastcheck.support.resources import available_cores

    with _LOCK:
        now = time.monotonic() if now is None else now
        cpu = time.process_time()
        dt = now - _STATE["t"]
        if dt > 0:
            rate = min(max((cpu - _STATE["cpu"]) / dt, 0.0), float(available_cores()))
            _STATE["load"] = fold(_STATE["load"], dt, rate)
            _STATE["t"], _STATE["cpu"] = now, cpu
        return _STATE["load"] + sum(spell_load(s, e, n, now) for s, e, n in _STATE["spells"])


def machine_load() -> float:
    """The machine's 1-minute load average (0.0 where the system does not say), or the load stated in
    ``FASTCHECK_LOAD`` (a number: decisions as on a machine with that load; ``0`` as on a quiet one,
    which the test suite uses so that its decisions do not depend on what else the machine runs)."""
    stated = os.environ.get("FASTCHECK_LOAD", "").strip()
    if stated:
        try:
            return max(0.0, float(stated))
        except ValueError:
            raise ValueError(f"FASTCHECK_LOAD must be a number (a load average), got {stated!r}") from None
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):  # pragma: no cover - Windows
        return 0.0


def free_cores(cores: int | None = None, load: float | None = None, own: float | None = None) -> float:
    """Cores that other work leaves free: ``cores`` (the machine's) less the load average (``load``)
    that is not this process's own (``own``); read from the machine when not given."""
    cores = (os.cpu_count() or 1) if cores is None else cores
    load = machine_load() if load is None else load
    own = own_load() if own is None else own
    return max(0.0, float(cores) - max(0.0, float(load) - float(own)))


def pool_speedup(n_workers: int, cores: int | None = None, load: float | None = None,
                 own: float | None = None) -> float:
    """What ``n_workers`` processes are expected to gain over one: the free cores they can use, between
    1 (no gain: the serial loop) and ``n_workers``."""
    return float(min(int(n_workers), max(1.0, free_cores(cores, load, own))))
