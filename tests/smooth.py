"""Smooth test functions with standard starting points, written from their published definitions.

Most are the least-squares problems of Moré, Garbow & Hillstrom, *Testing unconstrained
optimization software* (ACM TOMS 7, 1981): f(x) = Σ r_i(x)²; a few more are classic
benchmark functions (Ackley, Rastrigin, Styblinski–Tang, Dixon–Price, Zakharov, sum of
different powers written with even powers).  Every function is written with NumPy
operations that also take complex input, so the reference gradient is the complex step
at h = 1e-200 (exact to rounding: no subtraction), see :func:`reference_gradient`.

``CASES`` is the table the tests and the benchmark use: (name, f, x) at the standard
point ×1, ×10, ×100, ×1e-6 and at a mixed-scale point (each coordinate scaled by
10^u, u uniform in [−3, 3], from a fixed generator).
"""
from __future__ import annotations

import numpy as np


def _lsq(res):
    def f(x):
        r = res(x)
        return np.sum(r * r)

    f.residuals = res  # so a benchmark can compile the residuals and the sum apart
    return f


# -- Moré, Garbow & Hillstrom ---------------------------------------------------------------------
def rosenbrock(x):
    return np.array([10 * (x[1] - x[0] ** 2), 1 - x[0]])


def freudenstein_roth(x):
    return np.array([-13 + x[0] + ((5 - x[1]) * x[1] - 2) * x[1], -29 + x[0] + ((x[1] + 1) * x[1] - 14) * x[1]])


def powell_badly_scaled(x):
    return np.array([1e4 * x[0] * x[1] - 1, np.exp(-x[0]) + np.exp(-x[1]) - 1.0001])


def brown_badly_scaled(x):
    return np.array([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2])


def beale(x):
    y = np.array([1.5, 2.25, 2.625])
    i = np.arange(1, 4)
    return y - x[0] * (1 - x[1] ** i)


def jennrich_sampson(x):
    i = np.arange(1, 11)
    return 2 + 2 * i - (np.exp(i * x[0]) + np.exp(i * x[1]))


def helical_valley(x):
    # θ(x1, x2) = atan(x2/x1)/(2π) for x1 > 0 (the starting points used keep x1 > 0 or write it smoothly)
    theta = np.arctan(x[1] / x[0]) / (2 * np.pi)
    return np.array([10 * (x[2] - 10 * theta), 10 * (np.sqrt(x[0] ** 2 + x[1] ** 2) - 1), x[2]])


_BARD_Y = np.array([0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39])


def bard(x):
    u = np.arange(1, 16)
    v = 16 - u
    w = np.minimum(u, v)
    return _BARD_Y - (x[0] + u / (v * x[1] + w * x[2]))


_GAUSS_Y = np.array([0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989,
                     0.3521, 0.2420, 0.1295, 0.0540, 0.0175, 0.0044, 0.0009])


def gaussian(x):
    t = (8 - np.arange(1, 16)) / 2
    return x[0] * np.exp(-x[1] * (t - x[2]) ** 2 / 2) - _GAUSS_Y


_MEYER_Y = np.array([34780, 28610, 23650, 19630, 16370, 13720, 11540, 9744, 8261, 7030, 6005, 5147, 4427, 3820,
                     3307, 2872], dtype=float)


def meyer(x):
    t = 45 + 5 * np.arange(1, 17)
    return x[0] * np.exp(x[1] / (t + x[2])) - _MEYER_Y


def box3d(x):
    t = 0.1 * np.arange(1, 11)
    return np.exp(-t * x[0]) - np.exp(-t * x[1]) - x[2] * (np.exp(-t) - np.exp(-10 * t))


def powell_singular(x):
    return np.array([x[0] + 10 * x[1], np.sqrt(5) * (x[2] - x[3]), (x[1] - 2 * x[2]) ** 2,
                     np.sqrt(10) * (x[0] - x[3]) ** 2])


def wood(x):
    return np.array([10 * (x[1] - x[0] ** 2), 1 - x[0], np.sqrt(90) * (x[3] - x[2] ** 2), 1 - x[2],
                     np.sqrt(10) * (x[1] + x[3] - 2), (x[1] - x[3]) / np.sqrt(10)])


_KO_Y = np.array([0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246])
_KO_U = np.array([4, 2, 1, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625])


def kowalik_osborne(x):
    u = _KO_U
    return _KO_Y - x[0] * (u * u + u * x[1]) / (u * u + u * x[2] + x[3])


def brown_dennis(x):
    t = np.arange(1, 21) / 5
    return (x[0] + t * x[1] - np.exp(t)) ** 2 + (x[2] + x[3] * np.sin(t) - np.cos(t)) ** 2


def biggs_exp6(x):
    t = 0.1 * np.arange(1, 14)
    y = np.exp(-t) - 5 * np.exp(-10 * t) + 3 * np.exp(-4 * t)
    return x[2] * np.exp(-t * x[0]) - x[3] * np.exp(-t * x[1]) + x[5] * np.exp(-t * x[4]) - y


_OS1_Y = np.array([0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751, 0.718, 0.685,
                   0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467, 0.457, 0.448,
                   0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406])


def osborne1(x):
    t = 10.0 * np.arange(33)
    return _OS1_Y - (x[0] + x[1] * np.exp(-t * x[3]) + x[2] * np.exp(-t * x[4]))


def watson(x):
    n = len(x)
    t = np.arange(1, 30) / 29
    j = np.arange(n)
    pw = t[:, None] ** j[None, :]
    s1 = (pw[:, : n - 1] * j[1:] * x[1:]).sum(axis=1)
    s2 = (pw * x).sum(axis=1)
    r = s1 - s2 * s2 - 1
    return np.concatenate((r, np.array([x[0], x[1] - x[0] ** 2 - 1])))


def extended_rosenbrock(x):
    return np.concatenate((10 * (x[1::2] - x[0::2] ** 2), 1 - x[0::2]))


def extended_powell(x):
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return np.concatenate((a + 10 * b, np.sqrt(5) * (c - d), (b - 2 * c) ** 2, np.sqrt(10) * (a - d) ** 2))


def penalty1(x):
    return np.concatenate((np.sqrt(1e-5) * (x - 1), np.array([np.sum(x * x) - 0.25])))


def variably_dimensioned(x):
    j = np.arange(1, len(x) + 1)
    s = np.sum(j * (x - 1))
    return np.concatenate((x - 1, np.array([s, s * s])))


def trigonometric(x):
    n = len(x)
    i = np.arange(1, n + 1)
    return n - np.sum(np.cos(x)) + i * (1 - np.cos(x)) - np.sin(x)


def brown_almost_linear(x):
    n = len(x)
    r = x + np.sum(x) - (n + 1)
    return np.concatenate((r[:-1], np.array([np.prod(x) - 1])))


def discrete_boundary(x):
    n = len(x)
    h = 1 / (n + 1)
    t = np.arange(1, n + 1) * h
    zero = np.zeros(1, dtype=x.dtype)
    xp = np.concatenate((zero, x, zero))
    return 2 * x - xp[:-2] - xp[2:] + h * h * (x + t + 1) ** 3 / 2


def broyden_tridiagonal(x):
    zero = np.zeros(1, dtype=x.dtype)
    xp = np.concatenate((zero, x, zero))
    return (3 - 2 * x) * x - xp[:-2] - 2 * xp[2:] + 1


def linear_full_rank(x):
    n = len(x)
    s = np.sum(x)
    return x - 2 * s / n - 1


def chebyquad(x):
    n = len(x)
    y = 2 * x - 1
    T_prev, T = np.ones_like(y), y
    out = []
    for i in range(1, n + 1):
        if i > 1:
            T_prev, T = T, 2 * y * T - T_prev
        mean = np.mean(T)
        exact = 0.0 if i % 2 else -1.0 / (i * i - 1)
        out.append(mean - exact)
    return np.array(out)


# -- classic benchmark functions (not least squares) -------------------------------------------------
def ackley(x):
    n = len(x)
    return (-20 * np.exp(-0.2 * np.sqrt(np.sum(x * x) / n)) - np.exp(np.sum(np.cos(2 * np.pi * x)) / n)
            + 20 + np.e)


def rastrigin(x):
    return 10 * len(x) + np.sum(x * x - 10 * np.cos(2 * np.pi * x))


def styblinski_tang(x):
    return 0.5 * np.sum(x**4 - 16 * x * x + 5 * x)


def dixon_price(x):
    i = np.arange(2, len(x) + 1)
    return (x[0] - 1) ** 2 + np.sum(i * (2 * x[1:] ** 2 - x[:-1]) ** 2)


def zakharov(x):
    i = np.arange(1, len(x) + 1)
    s = np.sum(0.5 * i * x)
    return np.sum(x * x) + s**2 + s**4


def large_offset_quadratic(x):
    """A cost of size ~1e8 whose gradient is O(1): round-off ∝ |f| is what matters."""
    return 1e8 + np.sum((x - 0.5) ** 2 + 0.1 * x**3)


# name, residuals or function, is_least_squares, standard start (function of n), dimensions
PROBLEMS = [
    ("rosenbrock", rosenbrock, True, lambda n: np.array([-1.2, 1.0]), [2]),
    ("freudenstein_roth", freudenstein_roth, True, lambda n: np.array([0.5, -2.0]), [2]),
    ("powell_badly_scaled", powell_badly_scaled, True, lambda n: np.array([0.0, 1.0]), [2]),
    ("brown_badly_scaled", brown_badly_scaled, True, lambda n: np.array([1.0, 1.0]), [2]),
    ("beale", beale, True, lambda n: np.array([1.0, 1.0]), [2]),
    ("jennrich_sampson", jennrich_sampson, True, lambda n: np.array([0.3, 0.4]), [2]),
    ("helical_valley", helical_valley, True, lambda n: np.array([1.0, 0.5, 0.5]), [3]),  # x1 > 0 branch
    ("bard", bard, True, lambda n: np.array([1.0, 1.0, 1.0]), [3]),
    ("gaussian", gaussian, True, lambda n: np.array([0.4, 1.0, 0.0]), [3]),
    ("meyer", meyer, True, lambda n: np.array([0.02, 4000.0, 250.0]), [3]),
    ("box3d", box3d, True, lambda n: np.array([0.0, 10.0, 20.0]), [3]),
    ("powell_singular", powell_singular, True, lambda n: np.array([3.0, -1.0, 0.0, 1.0]), [4]),
    ("wood", wood, True, lambda n: np.array([-3.0, -1.0, -3.0, -1.0]), [4]),
    ("kowalik_osborne", kowalik_osborne, True, lambda n: np.array([0.25, 0.39, 0.415, 0.39]), [4]),
    ("brown_dennis", brown_dennis, True, lambda n: np.array([25.0, 5.0, -5.0, -1.0]), [4]),
    ("biggs_exp6", biggs_exp6, True, lambda n: np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0]), [6]),
    ("osborne1", osborne1, True, lambda n: np.array([0.5, 1.5, -1.0, 0.01, 0.02]), [5]),
    ("watson", watson, True, lambda n: np.zeros(n) + 0.1, [6, 9]),
    ("extended_rosenbrock", extended_rosenbrock, True, lambda n: np.tile([-1.2, 1.0], n // 2), [10, 100, 1000]),
    ("extended_powell", extended_powell, True, lambda n: np.tile([3.0, -1.0, 0.0, 1.0], n // 4), [12, 100, 1000]),
    ("penalty1", penalty1, True, lambda n: np.arange(1.0, n + 1), [10, 100]),
    ("variably_dimensioned", variably_dimensioned, True, lambda n: 1 - np.arange(1, n + 1) / n, [10, 100]),
    ("trigonometric", trigonometric, True, lambda n: np.full(n, 1.0 / n), [10, 100, 1000]),
    ("brown_almost_linear", brown_almost_linear, True, lambda n: np.full(n, 0.5), [10, 40]),
    ("discrete_boundary", discrete_boundary, True,
     lambda n: np.arange(1, n + 1) / (n + 1) * (np.arange(1, n + 1) / (n + 1) - 1), [10, 100]),
    ("broyden_tridiagonal", broyden_tridiagonal, True, lambda n: -np.ones(n), [10, 100, 1000]),
    ("linear_full_rank", linear_full_rank, True, lambda n: np.ones(n), [10, 100]),
    ("chebyquad", chebyquad, True, lambda n: np.arange(1, n + 1) / (n + 1), [6, 8]),
    ("ackley", ackley, False, lambda n: np.linspace(-2.0, 3.0, n) + 0.3, [2, 10, 100]),
    ("rastrigin", rastrigin, False, lambda n: np.linspace(-4.0, 4.5, n) + 0.1, [2, 10, 1000]),
    ("styblinski_tang", styblinski_tang, False, lambda n: np.linspace(-4.0, 4.0, n) + 0.05, [2, 100]),
    ("dixon_price", dixon_price, False, lambda n: np.full(n, 1.5), [10, 100]),
    ("zakharov", zakharov, False, lambda n: np.linspace(-1, 2, n), [5, 20]),
    ("large_offset_quadratic", large_offset_quadratic, False, lambda n: np.linspace(-3, 3, n), [10, 1000]),
]

SCALES = ("x1", "x10", "x100", "x1e-6", "mixed")


def function(name):
    for pname, fn, lsq, _, _ in PROBLEMS:
        if pname == name:
            return _lsq(fn) if lsq else fn
    raise KeyError(name)


def point(start, scale, n, seed=0):
    x = start(n).astype(np.float64)
    if scale == "mixed":
        rng = np.random.default_rng(seed + n)
        return x * 10.0 ** rng.uniform(-3, 3, len(x)) + (x == 0) * 10.0 ** rng.uniform(-3, 3, len(x))
    return x * {"x1": 1.0, "x10": 10.0, "x100": 100.0, "x1e-6": 1e-6}[scale]


def reference_gradient(f, x, h=1e-200):
    """∇f by the complex step at h = 1e-200: Im f(x + i·h·e_j) / h, no cancellation."""
    g = np.empty(len(x))
    z = x.astype(np.complex128)
    for j in range(len(x)):
        z[j] = x[j] + 1j * h
        g[j] = np.imag(f(z)) / h
        z[j] = x[j]
    return g


def cases(max_n=None):
    """(label, f, x) for every problem, dimension and scale (finite f and gradient only)."""
    out = []
    for name, fn, lsq, start, dims in PROBLEMS:
        f = _lsq(fn) if lsq else fn
        for n in dims:
            if max_n is not None and n > max_n:
                continue
            for scale in SCALES:
                x = point(start, scale, n)
                with np.errstate(all="ignore"):
                    v = f(x)
                if np.isfinite(v):
                    out.append((f"{name}-n{n}-{scale}", f, x))
    return out
