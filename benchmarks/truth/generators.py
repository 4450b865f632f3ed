"""The truth corpus: correct gradients nobody tuned the checker on, by family.

Every case is a :class:`Case`: a cost ``f(θ)`` (NumPy, in θ's dtype), a point, the
*exact* gradient at that point (of the mathematical function, float64), a layout,
the coordinates that sit at or near a kink (no error is planted there) and a
family.  Families:

* ``composition``: random sums of chains of elementary functions (sin, cos, tanh,
  exp(−z²), log(1+z²), √(1+z²), z³, 1/(1+z²), products) of random linear forms of
  2 to 500 variables, at scales 1e-6 … 1e3 and mixed; reference: the complex step
  at h = 1e-200 (exact to rounding), checked against 50-digit mpmath on a sample
  (:func:`extended_check`);
* ``oscillatory``: short length scales and bad scaling (cos θ² at θ ~ 700,
  sin²(14(x − 0.9)²) at x ~ 100, log(2 − sin(1.5x − 1)) at x ~ 2000, frequencies
  and weights spread over 12 decades);
* ``ml``: logistic and softmax regression, a tanh MLP, tanh least squares, a
  batchnorm layer (well and badly conditioned), skip-gram negative sampling, in
  float64 and float32 (the gradient is the exact derivative at the float32 point);
* ``nonsmooth``: ReLU regression, hinge loss, L1-regularised least squares, max
  terms, with coordinates exactly at (a valid subgradient given), near (1e-9 …
  1e-5) and away from their kinks;
* ``public``: the Moré–Garbow–Hillstrom problems and benchmark functions of
  ``tests/smooth.py`` at ×1, ×10, ×100, ×1e-6 and mixed scales.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Case:
    name: str
    family: str
    f: object
    x: np.ndarray
    g: np.ndarray
    blocks: dict = field(default_factory=dict)  # name -> shape, in order (None: one block)
    kinks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    complex_ok: bool = True
    tags: tuple = ()

    @property
    def dtype(self):
        return self.x.dtype.name


def complex_step(f, x, h=1e-200):
    g = np.empty(len(x))
    z = x.astype(np.complex128)
    for j in range(len(x)):
        z[j] = x[j] + 1j * h
        g[j] = np.imag(f(z)) / h
        z[j] = x[j]
    return g


# -- random compositions ------------------------------------------------------------------------------
UNARY = {
    "sin": (np.sin, "sin"), "cos": (np.cos, "cos"), "tanh": (np.tanh, "tanh"),
    "gauss": (lambda z: np.exp(-z * z), lambda m, z: m.exp(-z * z)),
    "log1p2": (lambda z: np.log(1 + z * z), lambda m, z: m.log(1 + z * z)),
    "hypot1": (lambda z: np.sqrt(1 + z * z), lambda m, z: m.sqrt(1 + z * z)),
    "cube": (lambda z: z * z * z, lambda m, z: z * z * z),
    "lorentz": (lambda z: 1 / (1 + z * z), lambda m, z: 1 / (1 + z * z)),
}


class Composition:
    """f(x) = Σ_groups Σ_k c_k · φ_1(φ_2(… (A_k · x[I_k] + b_k) …)) (· x[j_k] for product groups)."""

    def __init__(self, n, scale, seed):
        rng = np.random.default_rng(seed)
        self.n = n
        self.groups = []
        n_groups = int(rng.integers(1, 4))
        terms = max(2, int(np.ceil(n / n_groups)))
        s = np.abs(scale) if np.ndim(scale) else np.full(n, scale)
        for _ in range(n_groups):
            depth = int(rng.integers(1, 4))
            chain = [str(rng.choice(list(UNARY))) for _ in range(depth)]
            m = int(min(n, rng.integers(1, 4)))
            idx = np.stack([rng.permutation(n)[:m] for _ in range(terms)])
            idx[:, 0] = rng.permutation(np.resize(np.arange(n), terms))  # every variable is used
            well = rng.random() < 0.7  # the inner forms scaled to the point's scale, or raw (badly scaled)
            A = rng.standard_normal((terms, m)) / (s[idx] if well else 1.0)
            b = rng.standard_normal(terms) * 0.5
            c = rng.standard_normal(terms) * 10.0 ** rng.uniform(-1, 1)
            prod = rng.random() < 0.3
            pj = rng.integers(0, n, terms)
            self.groups.append((chain, idx, A, b, c, prod, pj, s[pj] if well else np.ones(terms)))

    def __call__(self, x):
        total = 0.0
        for chain, idx, A, b, c, prod, pj, ps in self.groups:
            z = np.sum(A * x[idx], axis=1) + b
            for op in reversed(chain):
                z = UNARY[op][0](z)
            if prod:
                z = z * (x[pj] / ps)
            total = total + np.sum(c * z)
        return total

    def mp_value(self, x, mp):
        """The same function in mpmath at the current precision."""
        total = mp.mpf(0)
        xs = [mp.mpf(float(v)) if not isinstance(v, mp.mpf) else v for v in x]
        for chain, idx, A, b, c, prod, pj, ps in self.groups:
            for k in range(len(b)):
                z = mp.mpf(float(b[k]))
                for a, i in zip(A[k], idx[k]):
                    z += mp.mpf(float(a)) * xs[i]
                for op in reversed(chain):
                    fn = UNARY[op][1]
                    z = getattr(mp, fn)(z) if isinstance(fn, str) else fn(mp, z)
                if prod:
                    z = z * (xs[pj[k]] / mp.mpf(float(ps[k])))
                total += mp.mpf(float(c[k])) * z
        return total


def extended_check(comp: Composition, x, g, coords, digits=50) -> float:
    """Largest relative disagreement of ``g`` (the complex-step reference) with a 50-digit mpmath
    central difference at ``coords`` (relative to max |g|)."""
    import mpmath as mp

    mp.mp.dps = digits
    xs = [mp.mpf(float(v)) for v in x]
    worst = 0.0
    scale = max(float(np.max(np.abs(g))), 1e-300)
    for i in coords:
        h = mp.mpf(10) ** (-digits // 3) * max(1, abs(xs[i]))
        xp, xm = list(xs), list(xs)
        xp[i] += h
        xm[i] -= h
        d = (comp.mp_value(xp, mp) - comp.mp_value(xm, mp)) / (2 * h)
        worst = max(worst, abs(float(d) - g[i]) / scale)
    return worst


SCALES = [1e-6, 1e-3, 1.0, 1e3, "mixed"]


def compositions(count=450, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [2, 3, 5, 10, 20, 50, 100, 500]
    weights = np.array([3, 3, 3, 3, 2, 2, 1.5, 0.4])
    out = []
    for k in range(count):
        n = int(rng.choice(sizes, p=weights / weights.sum()))
        sc = SCALES[k % len(SCALES)]
        if sc == "mixed":
            scale = 10.0 ** rng.uniform(-4, 3, n)
        else:
            scale = np.full(n, sc)
        comp = Composition(n, scale, seed * 100_000 + k)
        x = scale * rng.uniform(-1.5, 1.5, n)
        with np.errstate(all="ignore"):
            v = comp(x)
        if not np.isfinite(v):
            continue
        g = complex_step(comp, x)
        if not np.all(np.isfinite(g)):
            continue
        c = Case(f"comp{k}-n{n}-{sc if isinstance(sc, str) else f'{sc:g}'}", "composition", comp, x, g)
        c.composition = comp
        out.append(c)
    return out


# -- oscillatory and badly scaled -----------------------------------------------------------------------
def _osc(name, f, x, **kw):
    return Case(name, "oscillatory", f, np.asarray(x, np.float64), complex_step(f, np.asarray(x, np.float64)), **kw)


def oscillatory(seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(20):
        t0 = rng.uniform(50, 800)
        f = lambda t: np.cos(t[0] ** 2) + t[1] ** 2  # noqa: E731
        out.append(_osc(f"cos-t2-{k}", f, [t0, rng.uniform(-1, 1)]))
    for k in range(15):
        x = 100 + rng.uniform(-5, 5, 3)
        f = lambda t: np.sum(np.sin(14 * (t - 0.9) ** 2) ** 2) + 0.1 * np.sum(t)  # noqa: E731
        out.append(_osc(f"sin2-{k}", f, x))
    for k in range(15):
        x = [rng.uniform(100, 3000), rng.uniform(-1, 1)]
        f = lambda t: np.log(2 - np.sin(1.5 * t[0] - 1)) + t[1] ** 2  # noqa: E731
        out.append(_osc(f"logsin-{k}", f, x))
    for k in range(25):
        n = int(rng.integers(2, 40))
        w = 10.0 ** rng.uniform(-6, 6, n)
        om = 10.0 ** rng.uniform(-3, 3, n)
        x = rng.uniform(-2, 2, n) * 10.0 ** rng.uniform(-3, 2, n)
        f = (lambda w, om: lambda t: np.sum(w * np.sin(om * t)) + np.sum(w * 1e-3 * t * t))(w, om)
        out.append(_osc(f"spread-{k}-n{n}", f, x))
    for k in range(25):
        n = int(rng.integers(2, 60))
        p = 10.0 ** rng.uniform(-6, 6, n)
        x = rng.standard_normal(n) * 10.0 ** rng.uniform(-4, 3)
        f = (lambda p: lambda t: np.sum(p * t * t) + np.sum(np.tanh(t)) + np.exp(-np.sum(t * t) / len(t)))(p)
        out.append(_osc(f"badscale-{k}-n{n}", f, x))
    return out


# -- machine-learning costs ------------------------------------------------------------------------------
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


class _Model:
    """A cost over named parameter blocks with its own backprop (float64), evaluated in θ's dtype."""

    def __init__(self, shapes):
        self.shapes = dict(shapes)
        self.sizes = [int(np.prod(s)) for s in self.shapes.values()]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])

    def unpack(self, t):
        return {n: t[a:b].reshape(s) for (n, s), a, b in zip(self.shapes.items(), self.offsets[:-1], self.offsets[1:])}

    def pack(self, d):
        return np.concatenate([np.asarray(d[n], np.float64).ravel() for n in self.shapes])


def logistic(rng, dtype):
    B, d = int(rng.integers(10, 60)), int(rng.integers(3, 30))
    X, y, lam = rng.standard_normal((B, d)), (rng.random(B) < 0.5).astype(float), 0.1
    m = _Model({"w": (d,), "b": (1,)})

    def f(t):
        p = m.unpack(t)
        Xd = X.astype(t.dtype) if t.dtype != np.complex128 else X
        z = Xd @ p["w"] + p["b"][0]
        return np.mean(np.log(1 + np.exp(-z)) + (1 - y) * z) + 0.5 * lam * np.sum(p["w"] ** 2)

    def grad(t):
        p = m.unpack(t.astype(np.float64))
        Xd = X.astype(dtype).astype(np.float64)
        z = Xd @ p["w"] + p["b"][0]
        r = (_sigmoid(z) - y) / B
        return m.pack({"w": Xd.T @ r + lam * p["w"], "b": [r.sum()]})

    return m, f, grad, rng.standard_normal(m.offsets[-1]) * 0.5


def softmax(rng, dtype):
    B, d, c = int(rng.integers(10, 40)), int(rng.integers(3, 15)), int(rng.integers(2, 6))
    X, lab = rng.standard_normal((B, d)), rng.integers(0, c, B)
    m = _Model({"W": (d, c), "b": (c,)})

    def f(t):
        p = m.unpack(t)
        Xd = X.astype(t.dtype) if t.dtype != np.complex128 else X
        s = Xd @ p["W"] + p["b"]
        s = s - s.real.max(axis=1, keepdims=True)
        return -np.mean(s[np.arange(B), lab] - np.log(np.sum(np.exp(s), axis=1)))

    def grad(t):
        p = m.unpack(t.astype(np.float64))
        Xd = X.astype(dtype).astype(np.float64)
        s = Xd @ p["W"] + p["b"]
        e = np.exp(s - s.max(axis=1, keepdims=True))
        pr = e / e.sum(axis=1, keepdims=True)
        pr[np.arange(B), lab] -= 1
        pr /= B
        return m.pack({"W": Xd.T @ pr, "b": pr.sum(0)})

    return m, f, grad, rng.standard_normal(m.offsets[-1]) * 0.3


def mlp(rng, dtype):
    B, d, h, c = int(rng.integers(5, 20)), int(rng.integers(3, 12)), int(rng.integers(3, 12)), int(rng.integers(2, 5))
    X, lab = rng.standard_normal((B, d)), rng.integers(0, c, B)
    m = _Model({"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)})

    def f(t):
        p = m.unpack(t)
        Xd = X.astype(t.dtype) if t.dtype != np.complex128 else X
        a = np.tanh(Xd @ p["W1"] + p["b1"])
        s = a @ p["W2"] + p["b2"]
        s = s - s.real.max(axis=1, keepdims=True)
        return -np.mean(s[np.arange(B), lab] - np.log(np.sum(np.exp(s), axis=1)))

    def grad(t):
        p = m.unpack(t.astype(np.float64))
        Xd = X.astype(dtype).astype(np.float64)
        a = np.tanh(Xd @ p["W1"] + p["b1"])
        s = a @ p["W2"] + p["b2"]
        e = np.exp(s - s.max(axis=1, keepdims=True))
        pr = e / e.sum(axis=1, keepdims=True)
        pr[np.arange(B), lab] -= 1
        pr /= B
        da = pr @ p["W2"].T * (1 - a * a)
        return m.pack({"W1": Xd.T @ da, "b1": da.sum(0), "W2": a.T @ pr, "b2": pr.sum(0)})

    return m, f, grad, rng.standard_normal(m.offsets[-1]) * 0.5


def tanh_lsq(rng, dtype):
    r, n = int(rng.integers(10, 50)), int(rng.integers(5, 40))
    A, b = rng.standard_normal((r, n)), rng.standard_normal(r)
    m = _Model({"a": (n // 2,), "b": (n - n // 2,)})

    def f(t):
        Ad = A.astype(t.dtype) if t.dtype != np.complex128 else A
        bd = b.astype(t.dtype) if t.dtype != np.complex128 else b
        return np.sum(np.tanh(Ad @ t - bd) ** 2)

    def grad(t):
        Ad, bd = A.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)
        z = np.tanh(Ad @ t.astype(np.float64) - bd)
        return Ad.T @ (2 * z * (1 - z * z))

    return m, f, grad, rng.standard_normal(n) * 0.3


def batchnorm(rng, dtype, spread):
    B, F = int(rng.integers(6, 20)), int(rng.integers(2, 6))
    Xc = 1.0 + spread * rng.standard_normal((B, F))
    w = rng.standard_normal((B, F))
    m = _Model({"x": (B, F), "gamma": (F,), "beta": (F,)})

    def f(t):
        p = m.unpack(t)
        x = p["x"]
        mu = x.mean(0)
        var = ((x - mu) ** 2).mean(0)
        xh = (x - mu) / np.sqrt(var + 1e-12)
        wd = w.astype(t.dtype) if t.dtype != np.complex128 else w
        return np.sum((p["gamma"] * xh + p["beta"]) * wd)

    def grad(t):
        p = m.unpack(t.astype(np.float64))
        x = p["x"]
        mu = x.mean(0)
        var = ((x - mu) ** 2).mean(0)
        s = np.sqrt(var + 1e-12)
        xh = (x - mu) / s
        dy = w.astype(dtype).astype(np.float64)
        dxh = dy * p["gamma"]
        dx = (dxh - dxh.mean(0) - xh * (dxh * xh).mean(0)) / s
        return m.pack({"x": dx, "gamma": (dy * xh).sum(0), "beta": dy.sum(0)})

    x0 = m.pack({"x": Xc, "gamma": rng.standard_normal(F), "beta": rng.standard_normal(F)})
    return m, f, grad, x0


def skipgram(rng, dtype):
    V, D, P = int(rng.integers(5, 20)), int(rng.integers(2, 8)), int(rng.integers(5, 30))
    pairs = rng.integers(0, V, (P, 2))
    neg = rng.integers(0, V, (P, 3))
    m = _Model({"Win": (V, D), "Wout": (V, D)})

    def f(t):
        p = m.unpack(t)
        u, v = p["Win"][pairs[:, 0]], p["Wout"][pairs[:, 1]]
        s = np.sum(u * v, axis=1)
        sn = np.einsum("pd,pkd->pk", u, p["Wout"][neg])
        return -np.sum(np.log(1 / (1 + np.exp(-s)))) - np.sum(np.log(1 / (1 + np.exp(sn))))

    def grad(t):
        p = m.unpack(t.astype(np.float64))
        u, v = p["Win"][pairs[:, 0]], p["Wout"][pairs[:, 1]]
        s = np.sum(u * v, axis=1)
        sn = np.einsum("pd,pkd->pk", u, p["Wout"][neg])
        ds = _sigmoid(s) - 1
        dn = _sigmoid(sn)
        gin, gout = np.zeros((V, D)), np.zeros((V, D))
        np.add.at(gin, pairs[:, 0], ds[:, None] * v + np.einsum("pk,pkd->pd", dn, p["Wout"][neg]))
        np.add.at(gout, pairs[:, 1], ds[:, None] * u)
        np.add.at(gout, neg.ravel(), (dn[:, :, None] * u[:, None, :]).reshape(-1, D))
        return m.pack({"Win": gin, "Wout": gout})

    return m, f, grad, rng.standard_normal(m.offsets[-1]) * 0.3


ML = {"logistic": logistic, "softmax": softmax, "mlp": mlp, "tanh_lsq": tanh_lsq, "skipgram": skipgram,
      "batchnorm": lambda rng, dt: batchnorm(rng, dt, 1.0),
      "batchnorm_illcond": lambda rng, dt: batchnorm(rng, dt, 1e-4)}


def ml(seeds=14, seed=2):
    out = []
    for name, make in ML.items():
        for k in range(seeds):
            for dtype in (np.float64, np.float32):
                rng = np.random.default_rng([seed, k, len(name)])
                model, f, grad, x0 = make(rng, dtype)
                x = np.asarray(x0, dtype)
                g = grad(x)
                blocks = dict(model.shapes) if not name == "tanh_lsq" else {"a": model.shapes["a"], "b": model.shapes["b"]}
                c = Case(f"{name}-{k}-{np.dtype(dtype).name}", "ml", f, x, g, blocks=blocks,
                         tags=(name, np.dtype(dtype).name))
                c.model = model
                out.append(c)
    return out


# -- non-smooth --------------------------------------------------------------------------------------------
def nonsmooth(count=150, seed=3):
    rng = np.random.default_rng(seed)
    out = []
    kinds = ["relu_reg", "hinge", "l1", "maxterm", "abs"]
    gaps = [0.0, 1e-9, 1e-7, 1e-5, None]  # distance of one coordinate's kink from θ (None: away)
    for k in range(count):
        kind = kinds[k % len(kinds)]
        gap = gaps[(k // len(kinds)) % len(gaps)]
        n = int(rng.integers(3, 30))
        if kind == "relu_reg":
            B = int(rng.integers(5, 30))
            X, y = rng.standard_normal((B, n)), rng.standard_normal(B)
            w = rng.standard_normal(n)
            if gap is not None:  # sample 0's pre-activation at the gap from its corner
                w[0] += (gap - X[0] @ w) / X[0, 0]

            def f(t, X=X, y=y):
                return 0.5 * np.sum((np.maximum(X @ t, 0.0) - y) ** 2)

            def grad(t, X=X, y=y):
                z = X @ t
                return X.T @ ((np.maximum(z, 0.0) - y) * (z > 0))

            x = w
            near = np.arange(n) if gap is not None else np.zeros(0, np.int64)  # every coordinate moves z_0
        elif kind == "hinge":
            B = int(rng.integers(5, 30))
            X, y = rng.standard_normal((B, n)), np.sign(rng.standard_normal(B))
            w = rng.standard_normal(n)
            if gap is not None:
                w[0] += ((1 - gap) / y[0] - X[0] @ w) / X[0, 0]

            def f(t, X=X, y=y):
                return np.sum(np.maximum(0.0, 1 - y * (X @ t))) + 0.05 * np.sum(t * t)

            def grad(t, X=X, y=y):
                act = (1 - y * (X @ t)) > 0
                return -(X.T @ (y * act)) + 0.1 * t

            x = w
            near = np.arange(n) if gap is not None else np.zeros(0, np.int64)
        elif kind == "l1":
            A, b = rng.standard_normal((n + 5, n)), rng.standard_normal(n + 5)
            x = rng.standard_normal(n)
            if gap is not None:
                x[0] = gap

            def f(t, A=A, b=b):
                return 0.5 * np.sum((A @ t - b) ** 2) + 0.3 * np.sum(np.abs(t))

            def grad(t, A=A, b=b):
                return A.T @ (A @ t - b) + 0.3 * np.sign(t)

            near = np.array([0]) if gap is not None else np.zeros(0, np.int64)
        elif kind == "maxterm":
            x = rng.standard_normal(n)
            if gap is not None:
                j = int(np.argmax(x[1:])) + 1
                x[0] = x[j] + gap

            def f(t):
                return np.max(t) + 0.5 * np.sum(t * t)

            def grad(t):
                g = t.copy()
                g[int(np.argmax(t))] += 1
                return g

            near = (np.flatnonzero(np.abs(x - x.max()) <= 1e-4) if gap is not None else np.zeros(0, np.int64))
        else:
            x = rng.standard_normal(n)
            if gap is not None:
                x[:2] = gap
            c = rng.standard_normal(n)

            def f(t, c=c):
                return np.sum(np.abs(t)) + np.sum(c * np.sin(t))

            def grad(t, c=c):
                return np.sign(t) + c * np.cos(t)

            near = np.array([0, 1]) if gap is not None else np.zeros(0, np.int64)
        x = np.asarray(x, np.float64)
        out.append(Case(f"{kind}-{k}-gap{gap}", "nonsmooth", f, x, grad(x), kinks=np.asarray(near, np.int64),
                        complex_ok=False, tags=(kind, str(gap))))
    return out


def public():
    sys.path.insert(0, str(ROOT))
    from tests import smooth

    out = []
    for label, f, x in smooth.cases():
        with np.errstate(all="ignore"):
            g = smooth.reference_gradient(f, x)
        if np.all(np.isfinite(g)):
            out.append(Case(label, "public", f, x, g, kinks=np.arange(len(x)) if label.startswith("ackley") and
                            "1e-6" in label else np.zeros(0, np.int64)))
    return out


def corpus(small=False):
    """Every case; ``small``: a fast subset for the tests."""
    if small:
        return compositions(12) + oscillatory()[::12] + ml(1)[::3] + nonsmooth(15) + public()[::40]
    return compositions() + oscillatory() + ml() + nonsmooth() + public()
