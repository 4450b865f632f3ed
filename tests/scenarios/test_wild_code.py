"""What public code taught us, as tests with code of our own (benchmarks/bench_public_code.py runs
fastcheck on the public codebases themselves; none of their code is here).

* A class-based rewrite of the minimal character-level RNN keeps its hidden states in a *list*
  with ``hs[-1] = h0``: the forward pass reads ``hs[t - 1]`` at t = 0 before the last entry is
  overwritten, the backward pass after — Python's negative index then silently picks the final
  state.  Only dWhh is wrong, and the call needs no glue.
* The same script clips every gradient to ±5: where a gradient is larger, the clipped block is
  not the gradient of the loss any more, and fastcheck says which block.
* Skip-gram word vectors draw their contexts from the stdlib ``random``: with ``reseed=`` the cost
  is a function of θ and a centre-word gradient added to the wrong row is named by its rows.
* A group-norm layer returns dgamma shaped (1, C, 1, 1) for a gamma of shape (C,): accepted.
"""
import random

import numpy as np
import pytest

import fastcheck


class ListRNN:
    """A char-RNN as a class; ``hs`` is a list whose last slot holds h0 during the forward pass."""

    def __init__(self, vocab, hidden, *, list_bug=False, clip=None, scale=0.5, seed=0):
        r = np.random.default_rng(seed)
        self.Wxh = r.normal(size=(hidden, vocab)) * scale
        self.Whh = r.normal(size=(hidden, hidden)) * scale
        self.Why = r.normal(size=(vocab, hidden)) * scale
        self.bh = r.normal(size=(hidden, 1)) * 0.1
        self.by = np.zeros((vocab, 1))
        self.mWxh = np.zeros_like(self.Wxh)      # adagrad memory: not a parameter of train
        self.vocab, self.list_bug, self.clip = vocab, list_bug, clip

    def train(self, inputs, targets, h0):
        n = len(inputs)
        xs = [np.zeros((self.vocab, 1)) for _ in range(n)]
        hs, ps = [None] * n, [None] * n
        hs[-1] = h0.copy()
        loss = 0.0
        for t in range(n):
            xs[t][inputs[t]] = 1.0
            hs[t] = np.tanh(self.Wxh @ xs[t] + self.Whh @ hs[t - 1] + self.bh)
            z = self.Why @ hs[t] + self.by
            e = np.exp(z - z.max())
            ps[t] = e / e.sum()
            loss -= np.log(ps[t][targets[t], 0])
        dWxh, dWhh, dWhy = np.zeros_like(self.Wxh), np.zeros_like(self.Whh), np.zeros_like(self.Why)
        dbh, dby, dhnext = np.zeros_like(self.bh), np.zeros_like(self.by), np.zeros_like(h0)
        for t in reversed(range(n)):
            dy = ps[t].copy()
            dy[targets[t]] -= 1
            dWhy += dy @ hs[t].T
            dby += dy
            dhraw = (1 - hs[t] ** 2) * (self.Why.T @ dy + dhnext)
            dbh += dhraw
            dWxh += dhraw @ xs[t].T
            h_prev = hs[t - 1] if (t > 0 or self.list_bug) else h0
            dWhh += dhraw @ h_prev.T
            dhnext = self.Whh.T @ dhraw
        grads = [dWxh, dWhh, dWhy, dbh, dby]
        if self.clip is not None:
            for g in grads:
                np.clip(g, -self.clip, self.clip, out=g)
        return (float(loss), *grads, hs[n - 1])


@pytest.fixture(scope="module")
def sequence():
    r = np.random.default_rng(1)
    inputs = [int(i) for i in r.integers(0, 6, size=7)]
    return inputs, inputs[1:] + [2], r.normal(size=(5, 1)) * 0.5


def test_list_rnn_correct_passes_with_no_glue(sequence):
    inputs, targets, h0 = sequence
    rnn = ListRNN(6, 5)
    before = {k: getattr(rnn, k).copy() for k in ("Wxh", "Whh", "Why", "bh", "by", "mWxh")}
    result = fastcheck.check_loss(rnn.train, rnn, inputs, targets, h0, workers=1)
    assert result.passed, result.summary()
    assert list(result.layout.names) == ["Wxh", "Whh", "Why", "bh", "by"]
    assert all(np.array_equal(getattr(rnn, k), v) for k, v in before.items())


def test_negative_index_wrap_names_whh_only(sequence):
    inputs, targets, h0 = sequence
    rnn = ListRNN(6, 5, list_bug=True)
    result = fastcheck.check_loss(rnn.train, rnn, inputs, targets, h0, workers=1)
    assert result.failing_blocks == ["Whh"], result.summary()


def test_clipped_gradient_is_named_by_its_block(sequence):
    inputs, targets, h0 = sequence
    rnn = ListRNN(6, 5, scale=2.0, clip=None)
    grads = rnn.train(inputs, targets, h0)[1:6]
    # clip just below the largest |gradient| of one block so that exactly that block changes
    sizes = [float(np.abs(g).max()) for g in grads]
    k = int(np.argmax(sizes))
    others = max(s for i, s in enumerate(sizes) if i != k)
    assert sizes[k] > 1.2 * others, sizes           # the setup needs one block to stand out
    rnn.clip = 0.5 * (sizes[k] + others)
    result = fastcheck.check_loss(rnn.train, rnn, inputs, targets, h0, workers=1)
    assert result.failing_blocks == [["Wxh", "Whh", "Why", "bh", "by"][k]], result.summary()


class ContextSampler:
    """Random skip-gram contexts from the stdlib ``random`` (5 words)."""

    def context(self, C):
        return random.randint(0, 4), [random.randint(0, 4) for _ in range(2 * C)]


def skipgram_cost(vectors, sampler, *, wrong_row=False, batch=8):
    """Mean naive-softmax skip-gram loss over ``batch`` random windows; rows 0-4 centre, 5-9 outside."""
    centre, outside = vectors[:5], vectors[5:]
    loss, grad = 0.0, np.zeros_like(vectors)
    for _ in range(batch):
        c, ctx = sampler.context(random.randint(1, 2))
        v = centre[c]
        s = outside @ v
        p = np.exp(s - s.max())
        p /= p.sum()
        for o in ctx:
            loss -= np.log(p[o]) / batch
            dp = p.copy()
            dp[o] -= 1
            grad[2 if wrong_row else c] += (outside.T @ dp) / batch
            grad[5:] += np.outer(dp, v) / batch
    return loss, grad


@pytest.fixture(scope="module")
def vectors():
    v = np.random.default_rng(2).normal(size=(10, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_random_contexts_with_reseed_pass(vectors):
    sampler = ContextSampler()
    state = random.getstate()
    result = fastcheck.check_gradient(lambda v: skipgram_cost(v, sampler), vectors, reseed=0, workers=1)
    assert result.passed, result.summary()
    assert random.getstate() == state                # the user's random state is put back


def test_centre_gradient_in_the_wrong_row_is_named(vectors):
    sampler = ContextSampler()
    result = fastcheck.check_gradient(lambda v: skipgram_cost(v, sampler, wrong_row=True), vectors,
                                      reseed=0, workers=1)
    assert not result.passed
    wrong_rows = {int(i.strip("[]").split(",")[0]) for i in result.worst(40).query("status == 'wrong'")["index"]}
    assert wrong_rows and wrong_rows <= set(range(5)), wrong_rows   # centre rows only; outside rows agree


def groupnorm_forward(x, gamma, beta, G, eps=1e-5):
    N, C, _H, _W = x.shape
    xg = x.reshape(N, G, -1)
    mu, var = xg.mean(axis=2, keepdims=True), xg.var(axis=2, keepdims=True)
    xhat = ((xg - mu) / np.sqrt(var + eps)).reshape(x.shape)
    g4 = gamma.reshape(1, C, 1, 1)
    return g4 * xhat + beta.reshape(1, C, 1, 1), (xhat, g4, var, eps, G)


def groupnorm_backward(dout, cache):
    xhat, g4, var, eps, G = cache
    N, _C, _H, _W = dout.shape
    dgamma = (dout * xhat).sum(axis=(0, 2, 3), keepdims=True)   # shaped (1, C, 1, 1), as written in the wild
    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
    dxhat = (dout * g4).reshape(N, G, -1)
    xh = xhat.reshape(N, G, -1)
    m = dxhat.shape[2]
    dx = (dxhat - dxhat.mean(axis=2, keepdims=True) - xh * (dxhat * xh).mean(axis=2, keepdims=True))
    dx = dx / np.sqrt(var + eps)
    assert m > 1
    return dx.reshape(dout.shape), dgamma, dbeta


def test_groupnorm_gradients_with_singleton_axes_accepted():
    r = np.random.default_rng(3)
    x, gamma, beta = r.normal(size=(2, 6, 3, 4)), r.normal(size=6), r.normal(size=6)
    with pytest.warns(fastcheck.ShapeNoteWarning):
        result = fastcheck.check_layer(groupnorm_forward, groupnorm_backward,
                                       {"x": x, "gamma": gamma, "beta": beta}, args=(2,), workers=1)
    assert result.passed and list(result.layout.names) == ["x", "gamma", "beta"], result.summary()


def test_random_contexts_without_reseed_are_inconclusive_never_a_pass(vectors):
    """The public skip-gram check said "PASSED — ok" here before: a cost that is not a function of θ."""
    sampler = ContextSampler()
    result = fastcheck.check_gradient(lambda v: skipgram_cost(v, sampler), vectors, workers=1)
    assert not result.passed and result.verdict == "inconclusive", result.summary()
    assert "not a function of theta" in result.summary()
