"""``fastcheck bench``: moved.  The peer comparison is benchmark code and lives in the repository's
``benchmarks/peers/`` (it imports scipy's private finite differences and, optionally, torch, which the
installed package does not need).  The old spelling stays for one release and says where to go."""
from __future__ import annotations

MOVED = ("the peer comparison moved out of the installed package: from a source checkout, run "
         "`flock /tmp/fastcheck-bench.lock python -m benchmarks.peers` (options as before; --help lists them)")


def register(sub) -> None:
    p = sub.add_parser("bench", help="moved: python -m benchmarks.peers (from a source checkout)",
                       description=MOVED, prefix_chars="\0")  # every old option is taken as text, then refused
    p.add_argument("rest", nargs="*", help="ignored")
    p.set_defaults(func=run)


def run(args) -> int:
    from fastcheck.errors import UsageError

    raise UsageError(MOVED)
