"""Pure ``@njit`` kernels over flat arrays: no Python objects, no pandas."""
