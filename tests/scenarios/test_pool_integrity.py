"""The pool computes what the serial loop computes, or it does not run; and it leaves nothing behind.

Each test reproduces one way the process pool ran a different function from the
user's, hung or leaked (items 1-3, 6-9 of the issue "The pool computes what the
loop computes, or it does not run"), and shows that ``workers=1`` and
``workers=2`` now give the same verdict (the pool's copy of the cost failing its
proof falls back to the serial loop with a PoolFallbackWarning), that Ctrl-C and
``kill -9`` leave no worker process alive (by pid), and that a Dask cluster's bad
state is a clear error.  Pool start-up costs seconds: the tests share one pool.
"""
import inspect
import os
import signal
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.cli import main
from fastcheck.evaluators import pool
from fastcheck.inputs.adapters import check_object

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
needs_two_cores = pytest.mark.skipif(pool.available_cores() < 2, reason="a pool needs two cores")
pytestmark = needs_two_cores


def _verdicts(target, capsys, workers=("1", "2")):
    """Exit code and the pool's warnings of ``fastcheck check target --workers w``, for each w in turn."""
    out = []
    for w in workers:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = main(["check", target, "--workers", w])
        text = capsys.readouterr()
        fell_back = [str(c.message) for c in caught if issubclass(c.category, fc.PoolFallbackWarning)]
        out.append((code, fell_back, text.out + text.err))
    return out


# -- 1. module state set at run time --------------------------------------------------------------
STATE_HELPER = "SCALE = 1.0\n"
STATE_NET = '''
import numpy as np
import scn_state_cfg as cfg


def cost(t):
    return float(cfg.SCALE * np.sum(np.sin(t)))


def make():
    cfg.SCALE = 2.0             # set at run time: a worker re-importing scn_state_cfg sees 1.0
    t = np.linspace(0.0, 1.0, 24)
    return cost, t, np.cos(t)   # the gradient forgets SCALE: wrong by a factor 2
'''


def test_1_module_state_set_in_make_gives_the_serial_verdict_on_the_pool(tmp_path, capsys):
    (tmp_path / "scn_state_cfg.py").write_text(STATE_HELPER)
    (tmp_path / "state_net.py").write_text(STATE_NET)
    try:
        got = _verdicts(f"{tmp_path / 'state_net.py'}:make", capsys)
    finally:
        sys.modules.pop("scn_state_cfg", None)
    (serial, _, _), (pooled, fell_back, _) = got
    assert serial == pooled == 1  # wrong, on both (the pool alone used to say "PASSED — great")
    assert got[0][1] == []
    assert len(fell_back) == 1 and "J(θ) is" in fell_back[0] and "module variable set at run time" in fell_back[0]


# -- 2. a module loaded by path under another name ------------------------------------------------
BY_PATH_IMPL = '''
import numpy as np
vocab_size = 10
Wxh = np.zeros(vocab_size)


def lossFun():
    return float(np.sum(np.tanh(Wxh) ** 2))
'''
BY_PATH_NET = '''
import importlib.util, pathlib, sys
import numpy as np

spec = importlib.util.spec_from_file_location("scn_min_char_rnn", pathlib.Path(__file__).with_name("rnn_impl.py"))
rnn = importlib.util.module_from_spec(spec)
sys.modules["scn_min_char_rnn"] = rnn
spec.loader.exec_module(rnn)


def cost(t):                    # sets the module's global, which its lossFun reads
    rnn.Wxh = t
    return rnn.lossFun()


def make():
    rnn.vocab_size = 20
    t = np.linspace(-1.0, 1.0, rnn.vocab_size)
    v = np.tanh(t)
    return cost, t, 2 * v * (1 - v**2)
'''


def test_2_a_module_loaded_by_path_under_another_name_gives_the_serial_verdict(tmp_path, capsys):
    (tmp_path / "rnn_impl.py").write_text(BY_PATH_IMPL)
    (tmp_path / "bypath_net.py").write_text(BY_PATH_NET)
    target = f"{tmp_path / 'bypath_net.py'}:make"
    try:
        got = _verdicts(target, capsys, ("1", "2", "2", "auto"))  # twice: the second check used to differ again
    finally:
        sys.modules.pop("scn_min_char_rnn", None)
    assert [g[0] for g in got] == [0, 0, 0, 0]  # right, on every run (the pool used to read it wrong, or raise)
    assert got[0][1] == []
    for _, fell_back, _ in got[1:3]:
        assert len(fell_back) == 1 and "does not compute this process's cost" in fell_back[0]


# -- 3. views of one flat buffer ---------------------------------------------------------------
class ViewNet:
    """W1 and W2 are views of one flat buffer that setParams writes (``buf[...] = p``)."""

    def __init__(self, zero_gradient=False):
        rng = np.random.default_rng(0)
        self.buf = rng.standard_normal(4 * 5 + 5 * 2)
        self.W1 = self.buf[:20].reshape(4, 5)
        self.W2 = self.buf[20:].reshape(5, 2)
        self.zero = zero_gradient

    def forward(self, X):
        self.a2 = np.tanh(X @ self.W1)
        return self.a2 @ self.W2

    def costFunction(self, X, y):
        return 0.5 * np.sum((self.forward(X) - y) ** 2)

    def computeGradients(self, X, y):
        d3 = self.forward(X) - y
        d2 = (d3 @ self.W2.T) * (1 - self.a2**2)
        g = np.concatenate([(X.T @ d2).ravel(), (self.a2.T @ d3).ravel()])
        return np.zeros_like(g) if self.zero else g

    def getParams(self):
        return self.buf.copy()

    def setParams(self, p):
        self.buf[...] = p


def test_3_views_of_one_buffer_give_the_serial_verdict_on_the_pool():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    for zero, passes in ((True, False), (False, True)):
        serial = check_object(ViewNet(zero), X, y, workers=1)
        with pytest.warns(fc.PoolFallbackWarning, match="J\\(θ\\) agrees, but a perturbed cost is"):
            pooled = check_object(ViewNet(zero), X, y, workers=2)
        assert serial.passed is pooled.passed is passes  # a zero gradient used to read "PASSED — great"
        np.testing.assert_array_equal(pooled.numerical, serial.numerical)
        assert pooled.path == "loop" and "serial loop: a worker process does not compute" in pooled.note


def test_the_test_networks_are_trusted_and_bitwise_on_the_pool():
    from tests.naive import TutorialNetwork, seed_data

    X, y = seed_data()
    net = TutorialNetwork((2, 9, 1), seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", fc.PoolFallbackWarning)  # the proof holds: no fallback
        pooled = check_object(net, X, y, workers=2)
    serial = check_object(net, X, y, workers=1)
    assert "pool of 2 processes" in pooled.path and pooled.passed is serial.passed is True
    np.testing.assert_array_equal(pooled.numerical, serial.numerical)


# -- 5. the user's own warnings from a worker ---------------------------------------------------
class UsersOwnWarning(UserWarning):
    pass


def warns_off_theta5(t):
    if t[5] != 0.5:  # coordinate 5 of 12: evaluated in a worker only (not one of probe_items)
        warnings.warn("the user's cost lost an imaginary part", UsersOwnWarning, stacklevel=1)
    return float(np.sum(t**2))


def test_5_a_workers_warnings_reach_this_process_as_the_serial_loops_do():
    theta = np.full(12, 0.5)
    assert 5 not in pool.chunked.probe_items(12)
    seen = {}
    for w in (1, 2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = fc.check_gradient(warns_off_theta5, theta, 2 * theta, jit=False, workers=w)
        seen[w] = {(c.category, str(c.message)) for c in caught if issubclass(c.category, UsersOwnWarning)}
        assert res.passed
    assert "pool" in res.path
    assert seen[2] == seen[1] == {(UsersOwnWarning, "the user's cost lost an imaginary part")}


# -- 9. costs a worker cannot load -------------------------------------------------------------
def _fails_on_load():
    raise RuntimeError("this object refuses to be loaded")


class BreaksOnLoad:
    def __reduce__(self):
        return (_fails_on_load, ())


def cubic(t, *args):
    return float(np.sum(t**3))


def test_9_a_cost_a_worker_cannot_load_falls_back_to_the_serial_loop():
    theta = np.linspace(0.1, 1.0, 12)
    module = types.ModuleType("scn_made_at_run_time")  # in sys.modules here, in no file a worker could import
    source = "import numpy as np\ndef cost(t, *a):\n    return float(np.sum(t**3))\n"
    exec(compile(source, "<made>", "exec"), module.__dict__)  # noqa: S102 - a module made at run time
    sys.modules[module.__name__] = module
    try:
        serial = fc.check_gradient(module.cost, theta, 3 * theta**2, jit=False, workers=1)
        for cost, args, said in ((module.cost, (), "ModuleNotFoundError: No module named 'scn_made_at_run_time'"),
                                 (cubic, (BreaksOnLoad(),), "RuntimeError: this object refuses to be loaded")):
            with pytest.warns(fc.PoolFallbackWarning, match=f"the cost does not load in a worker \\({said}\\)"):
                res = fc.check_gradient(cost, theta, 3 * theta**2, args=args, jit=False, workers=2)
            assert res.passed and res.path == "loop"
            np.testing.assert_array_equal(res.numerical, serial.numerical)
    finally:
        del sys.modules[module.__name__]


# -- 6, 7. Ctrl-C and kill -9 leave no worker behind --------------------------------------------
SLOW_CHECK = '''
import os, sys, time
import numpy as np
import fastcheck as fc

folder = sys.argv[1]


def cost(t):
    if os.environ.get("FASTCHECK_IN_WORKER") == "1":  # each worker leaves its pid
        open(os.path.join(folder, str(os.getpid())), "w").close()
    time.sleep(0.05)
    return float(np.sum(t**2))


theta = np.ones(400)  # 800 evaluations of 50 ms: 20 s on two workers
'''
INTERRUPTED = SLOW_CHECK + '''
import glob, signal, threading


def interrupt():
    while len(glob.glob(os.path.join(folder, "*"))) < 2:
        time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGINT)


threading.Thread(target=interrupt, daemon=True).start()
try:
    fc.check_gradient(cost, theta, 2 * theta, jit=False, workers=2)
except KeyboardInterrupt:  # caught, as in a notebook: the process lives on
    pids = [int(os.path.basename(p)) for p in glob.glob(os.path.join(folder, "*"))]
    print("caught", " ".join(map(str, pids)), " ".join(str(int(_alive(p))) for p in pids), flush=True)
'''
KILLED = SLOW_CHECK + '''
fc.check_gradient(cost, theta, 2 * theta, jit=False, workers=2)
'''


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


ALIVE = inspect.getsource(_alive)
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _children(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return kids


def _wait(predicate, limit=60.0):
    """Poll ``predicate`` until true; False after ``limit`` seconds (a guard against hanging, not a timing)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@linux_only
def test_6_ctrl_c_stops_the_workers_before_the_interrupt_reaches_the_caller(tmp_path):
    script = tmp_path / "interrupted.py"
    script.write_text(ALIVE + INTERRUPTED)
    (tmp_path / "pids").mkdir()
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "pids")], env=ENV, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    line = next(ln for ln in run.stdout.splitlines() if ln.startswith("caught")).split(" ")
    n = (len(line) - 1) // 2
    pids, alive = line[1 : 1 + n], line[1 + n :]
    assert len(pids) == 2
    assert alive == ["0", "0"]  # both workers gone when KeyboardInterrupt is caught: no chunk keeps running


@linux_only
def test_7_kill_9_of_the_parent_leaves_no_worker_behind(tmp_path):
    (tmp_path / "pids").mkdir()
    (tmp_path / "killed.py").write_text(KILLED)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "killed.py"), str(tmp_path / "pids")], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait(lambda: len(os.listdir(tmp_path / "pids")) >= 2), "the workers never started"
        children = _children(proc.pid)  # the workers and loky's resource trackers
        workers = [int(p) for p in os.listdir(tmp_path / "pids")]
        assert set(workers) <= set(children)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # without the parent-watch the workers lived on for the pool's idle timeout (600 s)
    assert _wait(lambda: not any(_alive(p) for p in children)), [p for p in children if _alive(p)]


# -- 8. Dask: no workers, a closed client, every worker lost -------------------------------------
def test_8_dask_cluster_states_are_clear_errors():
    distributed = pytest.importorskip("distributed")
    theta = np.linspace(0.0, 1.0, 8)
    pool.runners.DASK_WAIT_SECONDS = 0.5  # (restored below) a cluster that gets no worker
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None)
        client = distributed.Client(cluster)
    try:
        with pytest.raises(RuntimeError, match="the Dask cluster at .* has no workers"):
            fc.check_gradient(lambda t: float(np.sum(t**2)), theta, 2 * theta, client=client)
    finally:
        pool.runners.DASK_WAIT_SECONDS = 10.0
        client.close()
        cluster.close()
    with pytest.raises(RuntimeError, match="the Dask client is closed"):
        fc.check_gradient(lambda t: float(np.sum(t**2)), theta, 2 * theta, client=client)


def _kills_its_dask_worker(t):
    if pool.in_a_worker():  # J(θ) in this process must not kill the test
        os._exit(7)
    return float(np.sum(t**2))


def test_8_a_cost_that_kills_every_dask_worker_is_a_clear_error():
    distributed = pytest.importorskip("distributed")
    theta = np.linspace(0.0, 1.0, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cl, \
                distributed.Client(cl) as client, \
                pytest.raises(RuntimeError, match="Dask worker.* lost .*while evaluating the cost"):
            fc.check_gradient(_kills_its_dask_worker, theta, 2 * theta, client=client)
