"""``jaxgames.rng``: flat draws reshaped are bit-identical to JAX's own draws of the shape."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames import rng

SHAPES = [(), (7,), (3, 0), (4, 5), (2, 3, 4), (10, 3, 3, 10)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "ours, theirs, kwargs",
    [
        (rng.uniform, jax.random.uniform, {}),
        (rng.uniform, jax.random.uniform, {"minval": -1.0, "maxval": 1.0}),
        (rng.normal, jax.random.normal, {}),
        (rng.exponential, jax.random.exponential, {}),
    ],
)
def test_flat_draws_equal_jax_draws_bit_for_bit(shape, ours, theirs, kwargs):
    key = jax.random.key(3)
    a = jax.jit(lambda k: ours(k, shape, jnp.float32, **kwargs))(key)
    b = jax.jit(lambda k: theirs(k, shape, jnp.float32, **kwargs))(key)
    assert a.shape == b.shape == shape and a.dtype == b.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    if a.size > 1:
        assert np.unique(np.asarray(a)).size > 1  # a real draw, not a constant


def test_vmapped_keys_give_jaxs_draws():
    keys = jax.random.split(jax.random.key(0), 3)
    a = jax.vmap(lambda k: rng.uniform(k, (2, 5)))(keys)
    b = jax.vmap(lambda k: jax.random.uniform(k, (2, 5)))(keys)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
