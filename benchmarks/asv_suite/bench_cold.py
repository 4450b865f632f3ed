"""Cold start: a command in a fresh process on an empty compilation cache, and the same warm (issue 23).

``timeraw_`` benchmarks: asv runs each sample in a new interpreter.  The untimed setup points Numba and
fastcheck at a new empty cache directory (cold) or at one a first run filled (warm), before anything of
Numba is imported; the timed statement imports fastcheck and runs the command's ``main``, its output
discarded.  ``bench_ratios.ColdStart`` tracks the cold ÷ warm ratio of the demo, which the gate reads.
"""
from ._coldstart import COMMANDS

_SETUP_COLD = """
import os, tempfile
os.environ.pop("FASTCHECK_COMPILE", None)
d = tempfile.mkdtemp(prefix="fastcheck-cold-")
os.environ["NUMBA_CACHE_DIR"] = os.environ["FASTCHECK_CACHE_DIR"] = d
"""

_SETUP_WARM = _SETUP_COLD + """
import subprocess, sys
subprocess.run([sys.executable, "-m", "fastcheck", *{args!r}], capture_output=True, check=False)
"""

_RUN = """
import contextlib, io
from fastcheck.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main({args!r})
"""


class ColdStart:
    """Wall time of ``fastcheck demo`` and of a full check of MLP 784-128-10 (batch 64, sigmoid, sse) in a
    fresh process: on an empty cache, and on the cache a first run filled."""

    params = (list(COMMANDS), ["cold", "warm"])
    param_names = ["command", "cache"]
    number = 1
    repeat = 2
    timeout = 1200  # a warm sample's setup is a cold run (tens of seconds; minutes on a loaded machine)

    def timeraw_command(self, command, cache):
        args = COMMANDS[command]
        setup = _SETUP_COLD if cache == "cold" else _SETUP_WARM.format(args=args)
        return _RUN.format(args=args), setup
