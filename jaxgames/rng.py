"""Random draws of any shape that compile fast: the draw is flat, then reshaped.

With ``jax_threefry_partitionable`` (the default since JAX 0.5) a draw of an ``n``-dimensional
shape builds its counters from ``n`` broadcast iotas, and XLA takes seconds to compile it: a
``(10, 3, 3, 10)`` uniform draw compiles in about 3 s on a CPU, the same 900 numbers drawn flat in
0.3 s. The counters are the row-major linear index either way, so the values are bit-identical
to ``jax.random.<name>(key, shape, ...)`` (``tests/test_rng.py`` checks it), only the compile is
shorter. Every multi-dimensional draw in jaxgames and solvers goes through here.

Example::

    >>> import jax
    >>> from jaxgames import rng
    >>> x = rng.uniform(jax.random.key(0), (10, 3, 3, 10))
    >>> bool((x == jax.random.uniform(jax.random.key(0), (10, 3, 3, 10))).all())
    True
"""

from __future__ import annotations

import math

import jax


def _flat(draw, key, shape, *args, **kwargs) -> jax.Array:
    shape = tuple(shape)
    return draw(key, (math.prod(shape),), *args, **kwargs).reshape(shape)


def uniform(key, shape, dtype=float, minval=0.0, maxval=1.0) -> jax.Array:
    """``jax.random.uniform(key, shape, dtype, minval, maxval)``, compiled as a flat draw."""
    return _flat(jax.random.uniform, key, shape, dtype, minval=minval, maxval=maxval)


def normal(key, shape, dtype=float) -> jax.Array:
    """``jax.random.normal(key, shape, dtype)``, compiled as a flat draw."""
    return _flat(jax.random.normal, key, shape, dtype)


def exponential(key, shape, dtype=float) -> jax.Array:
    """``jax.random.exponential(key, shape, dtype)``, compiled as a flat draw."""
    return _flat(jax.random.exponential, key, shape, dtype)
