"""Cold start: `fastcheck demo` and a full check of MLP 784-128-10, cold (empty cache) beside warm.

    flock /tmp/fastcheck-bench.lock python benchmarks/bench_cold_start.py [--repeat 3] [--threads 2] [--write]

Each round runs every command twice in fresh processes: cold, on a new empty compilation cache
(``NUMBA_CACHE_DIR`` and ``FASTCHECK_CACHE_DIR`` set to a new temporary folder), then warm, on what
the cold run cached.  Wall times of the whole process (start-up, imports, compilation, the checks);
the checks' own times and compile times are read from their summaries.  Medians over the rounds,
cold ÷ warm per round.  The code measured is this checkout's (``PYTHONPATH`` = the repository root).
Results go to ``reports/cold-start/`` only with ``--write`` (else a temporary folder).

Targets (issue 23): cold demo ≤ 8 s and ≤ 3× warm; cold 784-128-10 check ≤ 10 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from asv_suite._coldstart import COMMANDS, cold_and_warm
from timing import add_write_option, report_dir

TRACKED = ROOT / "reports" / "cold-start"
TARGETS = {"demo": (8.0, 3.0), "mlp-784-128-10": (10.0, None)}


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds (cold + warm of every command each)")
    parser.add_argument("--threads", type=int, default=2, help="NUMBA_NUM_THREADS of the runs (default 2)")
    parser.add_argument("--only", choices=sorted(COMMANDS), help="one command only")
    add_write_option(parser, TRACKED)
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(COMMANDS)
    load_before, commit = _load(), _commit()  # the code measured is the tree as it was at the start
    rows = {n: [] for n in names}
    for r in range(args.repeat):
        for n in names:  # in turns: every command's cold and warm runs sit side by side in time
            p = cold_and_warm(COMMANDS[n], args.threads, str(ROOT))
            rows[n].append(p)
            print(f"round {r + 1} {n}: cold {p.cold.wall:.2f} s (checks {p.cold.check_seconds:.3g} s + "
                  f"{p.cold.compile_seconds:.3g} s compiling), warm {p.warm.wall:.2f} s "
                  f"(checks {p.warm.check_seconds:.3g} s + {p.warm.compile_seconds:.3g} s)", flush=True)
    load_after = _load()
    results = []
    for n in names:
        ps = rows[n]
        med = statistics.median
        res = {
            "command": "fastcheck " + " ".join(COMMANDS[n]), "name": n, "rounds": len(ps),
            "cold_s": med(p.cold.wall for p in ps), "warm_s": med(p.warm.wall for p in ps),
            "cold_over_warm": med(p.cold.wall / p.warm.wall for p in ps),
            "cold_check_s": med(p.cold.check_seconds for p in ps),
            "cold_compile_s": med(p.cold.compile_seconds for p in ps),
            "warm_check_s": med(p.warm.check_seconds for p in ps),
            "warm_compile_s": med(p.warm.compile_seconds for p in ps),
            "cold_all_s": [round(p.cold.wall, 3) for p in ps], "warm_all_s": [round(p.warm.wall, 3) for p in ps],
        }
        wall, ratio = TARGETS[n]
        res["meets_target"] = res["cold_s"] <= wall and (ratio is None or res["cold_over_warm"] <= ratio)
        results.append(res)
    meta = {"commit": commit, "threads": args.threads, "load_before": load_before, "load_after": load_after,
            "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    out = report_dir(args.write, TRACKED)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    (out / "README.md").write_text(_readme(meta, results, args))
    for res in results:
        print(f"{res['name']}: cold {res['cold_s']:.2f} s, warm {res['warm_s']:.2f} s, cold/warm "
              f"{res['cold_over_warm']:.2f}; target {'met' if res['meets_target'] else 'NOT met'}")
    print(f"load average before {load_before}, after {load_after}; written to {out}/")
    return 0


def _readme(meta, results, args) -> str:
    lines = [
        "# Cold start: a fresh process on an empty compilation cache, beside a warm one",
        "",
        ("Written by `benchmarks/bench_cold_start.py` "
         f"(`flock /tmp/fastcheck-bench.lock python benchmarks/bench_cold_start.py --repeat {args.repeat} "
         f"--threads {args.threads} --write`), commit {meta['commit']}, {meta['cpus']} CPUs, "
         f"NUMBA_NUM_THREADS={meta['threads']}, load average {meta['load_before']} before and "
         f"{meta['load_after']} after (a shared machine: other jobs ran beside it)."),
        "",
        ("Cold: a new empty `NUMBA_CACHE_DIR`/`FASTCHECK_CACHE_DIR`; warm: the same command right after, in "
         "another fresh process, on what the cold run cached.  Wall times of the whole process (start-up, "
         "imports, compilation, the checks), medians over the rounds; \"checks\" and \"compiling\" are the sums "
         "of what the checks' summaries print (a check's own time never includes compilation)."),
        "",
        ("| command | cold (s) | warm (s) | cold ÷ warm | cold: checks + compiling (s) "
         "| warm: checks + compiling (s) | target | met |"),
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        wall, ratio = TARGETS[r["name"]]
        target = f"cold ≤ {wall:g} s" + (f", ≤ {ratio:g}× warm" if ratio else "")
        lines.append(
            f"| `{r['command']}` | {r['cold_s']:.2f} | {r['warm_s']:.2f} | {r['cold_over_warm']:.2f} | "
            f"{r['cold_check_s']:.3g} + {r['cold_compile_s']:.3g} | {r['warm_check_s']:.3g} + {r['warm_compile_s']:.3g} "
            f"| {target} | {'yes' if r['meets_target'] else 'no'} |")
    lines += ["", "Every run (s):", ""]
    for r in results:
        lines.append(f"- {r['name']}: cold {r['cold_all_s']}, warm {r['warm_all_s']}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
