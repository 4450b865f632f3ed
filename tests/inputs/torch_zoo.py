"""Custom PyTorch ops with hand-written backward passes, right and with planted bugs (imported after torch is).

Each correct backward is the textbook derivative written out by hand; each bug is one a person makes:
a term left out, a transpose, an input whose gradient is never computed.
"""
import torch


class Softplus(torch.autograd.Function):
    """softplus(x) = log(1 + eˣ); d/dx = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.nn.functional.softplus(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.sigmoid(x)


class LinearTanh(torch.autograd.Function):
    """y = tanh(x Wᵀ + b): dz = g (1 − y²), dx = dz W, dW = dzᵀ x, db = Σ dz."""

    @staticmethod
    def forward(ctx, x, w, b):
        y = torch.tanh(x @ w.T + b)
        ctx.save_for_backward(x, w, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        dz = g * (1 - y * y)
        return dz @ w, dz.T @ x, dz.sum(0)


class LinearTanhTransposed(LinearTanh):
    """Bug: dW computed as (dzᵀ x)ᵀ = xᵀ dz (W square, so the shapes agree)."""

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        dz = g * (1 - y * y)
        return dz @ w, (dz.T @ x).T, dz.sum(0)


class LinearTanhNoBias(LinearTanh):
    """Bug: the backward ignores the bias (returns no gradient for it)."""

    @staticmethod
    def backward(ctx, g):
        x, w, y = ctx.saved_tensors
        dz = g * (1 - y * y)
        return dz @ w, dz.T @ x, None


def layer_norm_reference(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * gamma + beta


class LayerNorm(torch.autograd.Function):
    """y = x̂ γ + β over the last axis, x̂ = (x − μ)/σ; dx = (dx̂ − mean(dx̂) − x̂ mean(dx̂ x̂)) / σ."""

    @staticmethod
    def forward(ctx, x, gamma, beta):
        mu = x.mean(-1, keepdim=True)
        sigma = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + 1e-5)
        xhat = (x - mu) / sigma
        ctx.save_for_backward(xhat, gamma, sigma)
        return xhat * gamma + beta

    @staticmethod
    def backward(ctx, g):
        xhat, gamma, sigma = ctx.saved_tensors
        dxhat = g * gamma
        dx = (dxhat - dxhat.mean(-1, keepdim=True) - xhat * (dxhat * xhat).mean(-1, keepdim=True)) / sigma
        return dx, (g * xhat).sum(0), g.sum(0)


class LayerNormMissingTerm(LayerNorm):
    """Bug: dx forgets that the mean depends on x (the −mean(dx̂) term)."""

    @staticmethod
    def backward(ctx, g):
        xhat, gamma, sigma = ctx.saved_tensors
        dxhat = g * gamma
        dx = (dxhat - xhat * (dxhat * xhat).mean(-1, keepdim=True)) / sigma
        return dx, (g * xhat).sum(0), g.sum(0)


class SinCos(torch.autograd.Function):
    """Two outputs (sin x · y, cos x); the backward sums both outputs' contributions."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return torch.sin(x) * y, torch.cos(x)

    @staticmethod
    def backward(ctx, g1, g2):
        x, y = ctx.saved_tensors
        return g1 * torch.cos(x) * y - g2 * torch.sin(x), g1 * torch.sin(x)


class SinCosFirstOnly(SinCos):
    """Bug: the backward forgets the second output's contribution to dx."""

    @staticmethod
    def backward(ctx, g1, g2):
        x, y = ctx.saved_tensors
        return g1 * torch.cos(x) * y, g1 * torch.sin(x)


class Gated(torch.nn.Module):
    """A module whose weight goes through a custom op: y = LinearTanh(x, W, b) · sigmoid(gate)."""

    def __init__(self, n, function=LinearTanh):
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.weight = torch.nn.Parameter(torch.randn(n, n, generator=gen, dtype=torch.float64) / n ** 0.5)
        self.bias = torch.nn.Parameter(torch.randn(n, generator=gen, dtype=torch.float64))
        self.gate = torch.nn.Parameter(torch.randn(n, generator=gen, dtype=torch.float64))
        self.register_buffer("calls", torch.zeros((), dtype=torch.float64))
        self.function = function

    def forward(self, x):
        self.calls += 1  # a buffer written by every forward pass (the caller's must stay as it was)
        return self.function.apply(x, self.weight, self.bias) * torch.sigmoid(self.gate)
