"""A character-level RNN written as a script: parameters are module globals, lossFun returns the loss,
every gradient in the parameters' order and the last hidden state (the style of the well-known
minimal char-RNN; written afresh for the tests).  ``BUG`` plants a mistake in one gradient."""
import numpy as np

vocab_size, hidden_size = 5, 4
rng = np.random.RandomState(0)
Wxh = rng.randn(hidden_size, vocab_size) * 0.5
Whh = rng.randn(hidden_size, hidden_size) * 0.5
Why = rng.randn(vocab_size, hidden_size) * 0.5
bh = np.full((hidden_size, 1), 0.1)
by = np.zeros((vocab_size, 1))
mWxh, mWhh, mWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)  # adagrad memory
mbh, mby = np.zeros_like(bh), np.zeros_like(by)
BUG = None


def lossFun(inputs, targets, hprev):
    xs, hs, ps = {}, {-1: np.copy(hprev)}, {}
    loss = 0.0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(Wxh @ xs[t] + Whh @ hs[t - 1] + bh)
        ys = Why @ hs[t] + by
        e = np.exp(ys - ys.max())
        ps[t] = e / e.sum()
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += dy @ hs[t].T
        dby += dy
        dh = Why.T @ dy + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += dhraw @ xs[t].T
        dWhh += dhraw @ (hs[t - 1].T if BUG != "Whh" else hs[t].T)
        dhnext = Whh.T @ dhraw
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


class CharRNN:
    """The same network as a class: parameters as attributes, ``lossFun`` a method."""

    def __init__(self, bug=None):
        r = np.random.RandomState(1)
        self.Wxh = r.randn(hidden_size, vocab_size) * 0.5
        self.Whh = r.randn(hidden_size, hidden_size) * 0.5
        self.Why = r.randn(vocab_size, hidden_size) * 0.5
        self.bh = np.full((hidden_size, 1), 0.1)
        self.by = np.zeros((vocab_size, 1))
        self.bug = bug

    def lossFun(self, inputs, targets, hprev):
        hs, loss, cache = np.copy(hprev), 0.0, []
        for i, j in zip(inputs, targets):
            x = np.zeros((vocab_size, 1))
            x[i] = 1
            h_prev, hs = hs, np.tanh(self.Wxh @ x + self.Whh @ hs + self.bh)
            ys = self.Why @ hs + self.by
            p = np.exp(ys - ys.max())
            p /= p.sum()
            loss -= np.log(p[j, 0])
            cache.append((x, h_prev, hs, p, j))
        dWxh, dWhh, dWhy = np.zeros_like(self.Wxh), np.zeros_like(self.Whh), np.zeros_like(self.Why)
        dbh, dby, dhnext = np.zeros_like(self.bh), np.zeros_like(self.by), np.zeros_like(self.bh)
        for x, h_prev, h, p, j in reversed(cache):
            dy = p.copy()
            dy[j] -= 1
            dWhy += dy @ h.T
            dby += dy if self.bug != "by" else 2 * dy
            dhraw = (1 - h * h) * (self.Why.T @ dy + dhnext)
            dbh += dhraw
            dWxh += dhraw @ x.T
            dWhh += dhraw @ h_prev.T
            dhnext = self.Whh.T @ dhraw
        return loss, dWxh, dWhh, dWhy, dbh, dby, hs
