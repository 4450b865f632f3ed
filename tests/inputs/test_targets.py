"""What a user hands in: one dispatcher (fastcheck.inputs.targets) for the CLI, the sweeps and the testing helper."""
import warnings

import numpy as np
import pytest

import fastcheck
from fastcheck import ProblemError
from fastcheck.inputs import targets
from fastcheck.inputs.userfile import load_callable, module_name_of
from fastcheck.models import MLP, tutorial_network
from fastcheck.problems import get_problem


def _cost(t):
    return float(np.sum(t * t))


def _grad(t):
    return 2 * t


class _ObjectNet:
    """The four methods of the network class of Neural Networks Demystified, on a 1-parameter model y = w·x."""

    def __init__(self):
        self.w = np.array([0.5])

    def getParams(self):
        return self.w.copy()

    def setParams(self, p):
        self.w = np.array(p, dtype=float)

    def costFunction(self, X, y):
        return 0.5 * float(np.sum((y - X * self.w[0]) ** 2))

    def computeGradients(self, X, y):
        return np.array([-float(np.sum((y - X * self.w[0]) * X))])


def _layer_forward(x, w):
    out = x @ w
    return out, (x, w)


def _layer_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout


@pytest.fixture(scope="module")
def tiny_model():
    return tutorial_network()


def test_classify_names_every_kind(tiny_model):
    x = np.ones(3)
    cases = {
        "model": tuple(tiny_model),
        "object": (_ObjectNet(), np.ones(4), np.ones(4)),
        "functions": (lambda p, X: X, lambda p, X, Y: {}, {"W": x}, x, x),
        "layer": (_layer_forward, _layer_backward, {"x": np.ones((2, 3)), "w": np.ones((3, 2))}),
        "cost": (_cost, x, _grad),
    }
    for name, made in cases.items():
        assert targets.classify(made) == name, name
    assert targets.classify((_cost, x, _grad, (), {"a": 3})) == "cost"


@pytest.mark.parametrize("made, says", [
    (1.5, "got a float; expected a tuple"),
    ((1, 2), "tuple of 2 .*does not recognise"),
    ((_cost, np.ones(3), _grad, (), (), ()), "tuple of 6"),
])
def test_classify_refuses_what_it_cannot_check(made, says):
    with pytest.raises(fastcheck.TargetError, match=says):
        targets.classify(made)


def test_is_model_means_a_built_in_network(tiny_model):
    from fastcheck.models import MUTANTS

    model = tiny_model[0]
    assert targets.is_model(model) and targets.is_model(model.mutant(next(iter(MUTANTS))))
    assert not targets.is_model(_ObjectNet())

    class LooksLikeOne:  # the attributes, not the kernel
        layout = cost = grad = init = sample_data = None

    assert not targets.is_model(LooksLikeOne())


def test_run_target_gives_the_same_result_as_the_direct_call():
    theta = np.linspace(-1, 1, 6)
    via = targets.run_target((_cost, theta, _grad, (), {"a": 2, "b": 4}), {})
    direct = fastcheck.check_gradient(_cost, theta, _grad, layout=fastcheck.Layout(("a", "b"), ((2,), (4,))))
    assert via.passed and list(via.blocks["block"]) == ["a", "b"]
    np.testing.assert_array_equal(via.numerical, direct.numerical)


def test_a_model_from_a_file_honours_the_mode(tiny_model):
    model, theta, X, y = tiny_model
    structured = targets.run_target((model, theta, X, y), {})
    blackbox = targets.run_target((model, theta, X, y), {}, mode="blackbox")
    assert structured.path == "structured" and blackbox.path != "structured"
    np.testing.assert_allclose(structured.numerical, blackbox.numerical, rtol=1e-6, atol=1e-12)


def test_sweeps_take_costs_and_models_only():
    made = (_layer_forward, _layer_backward, {"x": np.ones((2, 3)), "w": np.ones((3, 2))})
    with pytest.raises(ProblemError, match="this one is a layer check"):
        get_problem(made)
    p = get_problem((_cost, np.ones(4), _grad, (), {"a": 1, "b": 3}))
    assert p.layout.names == ("a", "b") and p.n_params == 4


def test_old_names_are_still_accepted_with_a_warning():
    with pytest.warns(DeprecationWarning, match="now called 'tutorial'"):
        old = get_problem("seed")
    new = get_problem("tutorial")
    np.testing.assert_array_equal(old.theta, new.theta)
    from fastcheck.models import seed_network

    with pytest.warns(DeprecationWarning, match="tutorial_network"):
        m, theta, X, y = seed_network()
    assert isinstance(m, MLP) and theta.size == 9


def test_one_loader_names_a_module_the_same_way_in_every_process(tmp_path):
    f = tmp_path / "my-net.py"
    f.write_text("def make():\n    return 3\n")
    name = module_name_of(f)
    assert name == module_name_of(str(f)) and name.isidentifier()
    import hashlib

    assert hashlib.sha1(str(f.resolve()).encode()).hexdigest()[:12] in name  # not hash(), which varies per process
    fn = load_callable(f"{f}:make")
    assert fn() == 3 and fn.__module__ == name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_callable(str(f))() == 3  # default function name


def test_the_size_sweep_modes_extend_the_kernel_modes():
    from fastcheck.evaluators.structured import MODES as KERNELS
    from fastcheck.sweep import MODES

    assert MODES[: len(KERNELS)] == KERNELS and set(MODES) - set(KERNELS) == {"directional", "sampled"}
