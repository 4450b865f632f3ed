"""The problem registry: built-in problems against independent references, user files, tuples."""
import pickle
import textwrap

import numpy as np
import pytest

from fastcheck.models import MLP, tutorial_network
from fastcheck.models.tutorial import tutorial_numpy_cost, tutorial_numpy_grad
from fastcheck.problems import (
    PROBLEMS,
    Problem,
    ProblemError,
    get_problem,
    list_problems,
    parse_spec,
    smooth_cost,
    smooth_cost_numpy,
    smooth_grad,
)
from tests.naive import SeedNetwork, central_difference


def test_registry_lists_the_built_in_problems():
    names = set(list_problems()["name"])
    assert {"tutorial", "tutorial-numpy", "mlp", "smooth", "cube", "square"} <= names
    assert names == set(PROBLEMS)


@pytest.mark.parametrize(
    "spec, parsed",
    [
        ("tutorial", ("tutorial", [], {})),
        ("mlp:784-128-10,batch=64,act=relu", ("mlp", ["784-128-10"], {"batch": "64", "act": "relu"})),
        ("784-128-10", ("mlp", ["784-128-10"], {})),
        ("smooth:n=5, jit=0", ("smooth", [], {"n": "5", "jit": "0"})),
    ],
)
def test_parse_spec(spec, parsed):
    assert parse_spec(spec) == parsed


def test_smooth_gradient_against_the_tutorial_loop_and_the_complex_step():
    p = get_problem("smooth:n=7,seed=3")
    (c,) = p.args
    g = smooth_grad(p.theta, c)
    num = central_difference(lambda t: smooth_cost_numpy(t, c), p.theta, 1e-6)
    np.testing.assert_allclose(num, g, rtol=0, atol=1e-8)
    # complex step, computed here by hand on the jitted cost: no cancellation, agrees to rounding
    for i in range(len(p.theta)):
        z = p.theta.astype(np.complex128)
        z[i] += 1e-30j
        assert smooth_cost(z, c).imag / 1e-30 == pytest.approx(g[i], rel=1e-13)
    assert smooth_cost(p.theta, c) == pytest.approx(smooth_cost_numpy(p.theta, c), rel=1e-14)


def test_smooth_float32_stays_float32():
    p = get_problem("smooth:n=4")
    theta32, (c32,) = p.at("float32")
    assert theta32.dtype == np.float32 and c32.dtype == np.float32
    # Numba boxes a float32 result as a Python float: it must be a float32 value,
    # and not the float64 evaluation at the same point
    v32 = smooth_cost(theta32, c32)
    assert float(np.float32(v32)) == v32
    assert v32 != smooth_cost(theta32.astype(np.float64), c32.astype(np.float64))


def test_the_seeds_cube_and_square():
    cube, square = get_problem("cube"), get_problem("square")
    assert cube.theta.tolist() == [1.0] and square.theta.tolist() == [1.5]
    assert cube.reference_gradient("float64").tolist() == [3.0]
    assert square.reference_gradient("float64").tolist() == [3.0]
    # the tutorial's numbers: central 3.0001 and forward 3.0301 at eps = 0.01
    f = lambda t: float(cube.cost(np.array([t])))  # noqa: E731
    assert (f(1.01) - f(0.99)) / 0.02 == pytest.approx(3.0001, abs=1e-12)


def test_seed_problems_are_the_seeds_network():
    model, theta, X, y = tutorial_network()
    seed, seed_np = get_problem("tutorial"), get_problem("tutorial-numpy")
    assert seed.model is not None and seed.structured
    np.testing.assert_array_equal(seed.theta, theta)
    np.testing.assert_array_equal(seed_np.theta, theta)
    # the NumPy code, the built-in network and the tests' own seeds-style class agree
    net = SeedNetwork()
    assert tutorial_numpy_cost(theta, X, y) == pytest.approx(model.cost(theta, X, y), rel=1e-14)
    assert tutorial_numpy_cost(theta, X, y) == pytest.approx(net.cost_of(theta, X, y), rel=1e-14)
    np.testing.assert_allclose(tutorial_numpy_grad(theta, X, y), model.grad(theta, X, y), rtol=1e-12)
    np.testing.assert_allclose(tutorial_numpy_grad(theta, X, y), net.grad_of(theta, X, y), rtol=1e-12)
    assert seed.layout.names == seed_np.layout.names == ("W1", "W2")


def test_mlp_by_layer_sizes():
    p = get_problem("mlp:5-4-3,batch=7,act=tanh,loss=mse,seed=2")
    assert p.n_params == 5 * 4 + 4 + 4 * 3 + 3
    X, y = p.data
    assert X.shape == (7, 5) and y.shape == (7, 3)
    assert p.model.spec["sizes"] in ((5, 4, 3), [5, 4, 3])
    np.testing.assert_allclose(p.reference_gradient("float64"), p.model.grad(p.theta, X, y))
    assert get_problem("5-4-3").n_params == p.n_params


def test_tuple_problem_copies_theta_and_casts_float_args_only():
    theta = np.array([0.5, -1.0, 2.0])
    A = np.eye(3)
    n = np.int64(3)
    cost = lambda t, A, n: 0.5 * t @ A @ t  # noqa: E731
    grad = lambda t, A, n: A @ t  # noqa: E731
    p = get_problem((cost, theta, grad, (A, n)), name="quad")
    assert p.name == "quad" and p.theta is not theta
    t32, (A32, n32) = p.at("float32")
    assert t32.dtype == np.float32 and A32.dtype == np.float32 and n32 is n
    assert theta.dtype == np.float64 and A.dtype == np.float64  # the caller's arrays are untouched
    # the reference is the float64 gradient at the float32-rounded point
    np.testing.assert_array_equal(p.reference_gradient("float32"), theta.astype(np.float32).astype(np.float64))


def test_problem_pickles_without_its_cache():
    p = get_problem("smooth:n=3")
    p.at("float32")
    q = pickle.loads(pickle.dumps(p))
    assert q.name == p.name and q._cache == {}
    np.testing.assert_array_equal(q.theta, p.theta)


def test_a_model_tuple_and_a_model():
    model, theta, X, y = tutorial_network()
    p = get_problem((model, theta, X, y), name="net")
    assert p.model is model and p.name == "net"
    q = get_problem(MLP([3, 2, 1]))
    assert q.n_params == 3 * 2 + 2 + 2 + 1 and q.data[0].shape == (64, 3)


GOOD = """
import numpy as np

def cost(theta):
    return float(np.sum(theta ** 2))

def grad(theta):
    return 2 * theta

def make():
    return cost, np.array([1.0, 2.0]), grad

def make_problem():
    from fastcheck.problems import Problem
    return Problem("mine", cost, np.array([3.0]), grad)

def broken():
    raise RuntimeError("no data")

def garbage():
    return 42
"""


def test_problem_from_a_user_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent(GOOD))
    p = get_problem(f"{path}:make")
    assert p.name == f"{path}:make" and p.n_params == 2
    assert p.spec == f"{path.resolve()}:make"
    np.testing.assert_array_equal(p.reference_gradient("float64"), [2.0, 4.0])
    assert get_problem(f"{path}:make_problem").n_params == 1


@pytest.mark.parametrize(
    "content, func, match",
    [
        (GOOD, "nothere", "has no function 'nothere'"),
        ("def make(:\n", "make", "cannot load problem file .*SyntaxError"),
        ("import not_a_module_anywhere\n", "make", "cannot load problem file .*ModuleNotFoundError"),
        (GOOD, "broken", r"calling broken\(\) raised RuntimeError: no data"),
        (GOOD, "garbage", "cannot make a problem of int"),
    ],
)
def test_unloadable_user_files(tmp_path, content, func, match):
    path = tmp_path / "bad.py"
    path.write_text(content)
    with pytest.raises(ProblemError, match=match):
        get_problem(f"{path}:{func}")


def test_bad_specs():
    with pytest.raises(ProblemError, match="does not exist"):
        get_problem("/no/such/file.py:make")
    with pytest.raises(ProblemError, match="unknown problem 'nope'.*tutorial"):
        get_problem("nope")
    with pytest.raises(ProblemError, match="option n must be an integer"):
        get_problem("smooth:n=many")
    with pytest.raises(ProblemError, match="bad options for problem 'cube'"):
        get_problem("cube:3")
    with pytest.raises(ProblemError, match="cost, theta, grad"):
        get_problem((1, 2))
    with pytest.raises(ProblemError, match="theta must be 1-D"):
        get_problem((lambda t: 0.0, np.zeros((2, 2)), lambda t: t))
    with pytest.raises(ProblemError, match="cannot make a problem of float"):
        get_problem(1.5)


def test_problem_is_a_plain_record():
    p = Problem("p", smooth_cost_numpy, np.zeros(2), np.zeros(2), (np.ones(2),))
    assert p.n_params == 2 and not p.structured and p.ship() is p
    assert get_problem("smooth").ship() == "smooth"
