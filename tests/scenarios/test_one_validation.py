"""Every entry point refuses a complex gradient and a parameter changed in place, the same way.

Items 10 and 11 of the issue "The pool computes what the loop computes, or it does
not run": a backward that returns a complex gradient (``d @ w.T + 5j``) passed in
the entry points that did not read it through :meth:`fastcheck.Layout.flatten_gradients`,
and a ``check_sequential`` stage doing ``W *= 2.0`` passed "ok" where the black-box
path refuses a cost that changes its θ.  One reader of gradients and one check of
in-place changes (:func:`fastcheck.evaluators.loop.refuse_in_place`) now serve them all.
"""
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import CostError, GradientMismatchError
from fastcheck.inputs.adapters import check_functions, check_object
from tests.naive import TutorialNetwork, course_data, course_forward, course_parameters, make_course_backward, seed_data

COMPLEX = r"is complex \(complex128\): the gradient of a real cost is real"
rng = np.random.default_rng(3)
X4, W43, B3 = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def complex_affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T + 5j, x.T @ dout, dout.sum(axis=0)  # a stray 5j in dx


class ComplexNet(TutorialNetwork):
    def computeGradients(self, X, y):
        return super().computeGradients(X, y) + 5j


def _complex_backward():
    backward = make_course_backward()

    def wrapped(*a):
        return {k: v + 5j for k, v in backward(*a).items()}

    return wrapped


def _entry_points():
    X, y = seed_data()
    params = course_parameters()
    x = rng.normal(size=(4, 3))
    sp = {"W": rng.normal(size=(3, 2))}
    stages = [(lambda a, W: np.tanh(a @ W), "W"), (lambda a: 0.5 * float(np.sum(a**2)), ())]

    def seq_grads(p):
        a = np.tanh(x @ p["W"])
        return {"dW": x.T @ (a * (1 - a**2)) + 5j}

    cx, cy = course_data()
    return {
        "check_gradient": lambda: fc.check_gradient(lambda t: float(t @ t), np.ones(3), 2 * np.ones(3) + 5j, jit=False),
        "check_layer": lambda: fc.check_layer(affine_forward, complex_affine_backward, {"x": X4, "w": W43, "b": B3}),
        "check_functions": lambda: check_functions(course_forward, _complex_backward(), params, cx, cy, workers=1),
        "check_object": lambda: check_object(ComplexNet((2, 3, 1), seed=0), X, y, workers=1),
        "check_jacobian": lambda: fc.check_jacobian(lambda v: np.tanh(v), np.linspace(-1, 1, 3),
                                                    np.diag(1 - np.tanh(np.linspace(-1, 1, 3)) ** 2) + 5j),
        "check_sequential": lambda: fc.check_sequential(stages, sp, x, seq_grads, workers=1),
    }


@pytest.mark.parametrize("entry", list(_entry_points()))
def test_10_every_entry_point_refuses_a_complex_gradient(entry):
    with pytest.raises(GradientMismatchError, match=COMPLEX):
        _entry_points()[entry]()


def _doubles_in_place(a, W):
    W *= 2.0  # in place: the checker's copy of θ changes under it
    return np.tanh(a @ W)


def _last(a):
    return 0.5 * float(np.sum(a**2))


@pytest.mark.parametrize("directions", [None, 2])
def test_11_a_stage_that_changes_its_parameter_in_place_is_refused(directions):
    params, x = {"W": rng.normal(size=(3, 2))}, rng.normal(size=(4, 3))
    signs = {"dW": np.sign(rng.normal(size=(3, 2)))}  # a ±1 gradient: used to pass "ok" at difference 1.0
    opts = {} if directions is None else {"directions": directions}
    where = "stage 0 \\(_doubles_in_place\\) modified its parameters" if directions is None else "the cost modified its theta"
    with pytest.raises(CostError, match=f"{where} argument in place|{where} in place"):
        fc.check_sequential([(_doubles_in_place, "W"), (_last, ())], params, x, signs, workers=1, **opts)
    # the user's parameters are untouched, and the black-box path says the same of the composed cost
    cost, theta, _ = fc.checks.sequential.compose([(_doubles_in_place, "W"), (_last, ())], params, x)
    with pytest.raises(CostError, match=r"the cost modified its theta argument in place \(at 6 coordinate"):
        fc.check_gradient(cost, theta, np.ones(6), jit=False, workers=1)
