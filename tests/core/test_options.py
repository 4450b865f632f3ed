"""One options object for every check: the same keywords and defaults, unknown keys refused, old spellings kept."""
import inspect
import warnings

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.core.options import CheckOptions
from tests.naive import SeedNetwork, course_data, course_forward, course_parameters, make_course_backward, seed_data
from tests.user_nets import conv_net

PUBLIC_CHECKS = [fc.check_gradient, fc.check_directional, fc.check_model, fc.check_object, fc.check_functions,
                 fc.check_layer, fc.check_jacobian, fc.check_sequential, fc.check_torch, fc.check_jax]
DEFAULTS = {f: getattr(CheckOptions(), f) for f in CheckOptions.names()}


@pytest.mark.parametrize("check", PUBLIC_CHECKS, ids=lambda f: f.__name__)
def test_every_public_check_takes_the_same_options_with_the_same_defaults(check):
    params = inspect.signature(check).parameters
    options = {k: p.default for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    missing = sorted(set(DEFAULTS) - set(options))
    assert not missing, f"{check.__name__} lacks {missing}"
    differ = {k: (options[k], v) for k, v in DEFAULTS.items() if options[k] != v}
    assert not differ, f"{check.__name__} has other defaults: {differ}"
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())
    assert "Options (every check takes them)" in check.__doc__


@pytest.mark.parametrize("check", PUBLIC_CHECKS, ids=lambda f: f.__name__)
def test_an_unknown_option_is_refused_naming_the_public_function(check):
    n_targets = sum(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                    for p in inspect.signature(check).parameters.values())
    with pytest.raises(TypeError, match=rf"^{check.__name__}\(\) got unexpected keyword argument\(s\) 'epsilon'"):
        check(*([None] * n_targets), epsilon=1e-6)


def test_options_are_frozen_and_replace_keeps_extra():
    opts = CheckOptions.build("check_layer", {"eps": 1e-5, "n_douts": 2}, {"dout": None, "n_douts": 1})
    with pytest.raises(AttributeError):
        opts.eps = 1.0
    again = opts.replace(scheme="central4", n_douts=3)
    assert (again.eps, again.scheme, again["n_douts"], opts["n_douts"]) == (1e-5, "central4", 3, 2)
    assert CheckOptions.build("f", {"args": 0.5}).args == (0.5,)  # one argument alone becomes a tuple


def _sine(t):
    return float(np.sum(np.sin(t) * t))


def _sine_grad(t):
    return np.sin(t) + t * np.cos(t)


def test_old_spellings_of_directions_warn_and_mean_the_same():
    theta = np.linspace(-1.0, 1.0, 12)
    layout = {"a": np.zeros(5), "b": np.zeros(7)}
    new = fc.check_directional(_sine, theta, _sine_grad, layout=layout, directions=3, workers=1)
    with pytest.warns(DeprecationWarning, match="n_dirs= is deprecated, use directions="):
        old = fc.check_directional(_sine, theta, _sine_grad, layout=layout, n_dirs=3, workers=1)
    np.testing.assert_array_equal(new.numerical, old.numerical)
    X, y = seed_data()
    with pytest.warns(DeprecationWarning, match="directional= is deprecated"):
        res = fc.check_object(SeedNetwork(), X, y, directional=3)
    assert res.kind == "directional" and len(res.numerical) == 3 * 2
    with pytest.raises(TypeError, match="both n_dirs= and directions="):
        fc.check_directional(_sine, theta, _sine_grad, n_dirs=3, directions=3)


def test_check_gradient_with_directions_is_the_directional_check():
    theta = np.linspace(-1.0, 1.0, 12)
    a = fc.check_gradient(_sine, theta, _sine_grad, directions=4, seed=3, workers=1)
    b = fc.check_directional(_sine, theta, _sine_grad, directions=4, seed=3, workers=1)
    assert a.kind == b.kind == "directional"
    np.testing.assert_array_equal(a.numerical, b.numerical)


def test_directional_check_takes_scheme_coords_and_sample():
    theta = np.linspace(-1.0, 1.0, 12)
    layout = {"a": np.zeros(5), "b": np.zeros(7)}
    r4 = fc.check_directional(_sine, theta, _sine_grad, layout=layout, directions=2, scheme="central4", workers=1)
    assert r4.passed and r4.scheme == "central4" and r4.n_evals >= 4 * 4
    bad = _sine_grad(theta)
    bad[10] *= 1.5  # block b, coordinate 5 of it
    # directions supported on coordinates of block a only cannot see the bug in b; on b they do
    only_a = fc.check_directional(_sine, theta, bad, layout=layout, coords=np.arange(5), workers=1)
    assert only_a.passed and list(only_a.blocks["block"]) == ["a"]
    on_b = fc.check_directional(_sine, theta, bad, layout=layout, coords=[9, 10, 11], workers=1)
    assert on_b.failing_blocks == ["b"]
    sampled = fc.check_directional(_sine, theta, _sine_grad, layout=layout, sample=2, directions=2, workers=1)
    assert sampled.passed and len(sampled.numerical) == 4
    with pytest.raises(ValueError, match="complex step perturbs one coordinate"):
        fc.check_directional(_sine, theta, _sine_grad, scheme="complex")


# -- the three bugs of the option lists written out by hand (issue 20) ------------------------------------
def test_check_object_takes_cache_stages_on_an_object_style_network():
    X, y = seed_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TypeError)
        res = fc.check_object(SeedNetwork(), X, y, cache_stages=False)
    assert res.passed


def test_check_functions_takes_a_layout():
    params = course_parameters()
    X, Y = course_data()
    names = {f"p{i}": np.zeros(np.size(v)) for i, v in enumerate(params.values())}
    res = fc.check_functions(course_forward, make_course_backward(), params, X, Y, layout=names, workers=1)
    assert res.passed and list(res.blocks["block"]) == list(names)
    wrong = fc.check_functions(course_forward, make_course_backward("db2_axis"), params, X, Y, layout=names, workers=1)
    assert wrong.failing_blocks == [f"p{list(params).index('b2')}"]


def test_check_sequential_takes_threads():
    stages, params, x, grads = conv_net()
    res = fc.check_sequential(stages, params, x, grads, threads=1, workers=1, coords=np.arange(0, 300, 7))
    assert res.passed and res.path == "sequential"
    with pytest.raises(ValueError, match="threads must be between 1 and"):
        fc.check_sequential(stages, params, x, grads, threads=0)


def test_checks_that_name_their_own_blocks_refuse_a_layout():
    from fastcheck.models import tutorial_network

    model, theta, X, y = tutorial_network()
    with pytest.raises(ValueError, match="model's own layout"):
        fc.check_model(model, theta, X, y, layout={"x": np.zeros(len(theta))})
    with pytest.raises(ValueError, match="args= does not apply"):
        fc.check_model(model, theta, X, y, args=(1,))
