"""Ring models' shift kernels (``push_forward`` / ``expected_next``) equal the dense ``[S, 3, S']`` products.

Crowd modelling and the beach bar move mass on a ring by circular shifts instead of multiplying by the
dense transition tensor (``ring_transition``). Checked here: the kernels against ``einsum`` with the dense
tensor (sizes 2, 3 and 7, random noise, several value columns), and every metric of both models (mean
field, exploitability, best response, soft action values, the dilated mirror step) against the same model
run through ``MeanFieldGame``'s dense defaults, in float64.
"""

import dataclasses

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgames.mean_field import beach_bar, crowd_modelling
from jaxgames.mean_field.beach_bar import BeachBar
from jaxgames.mean_field.crowd_modelling import CrowdModelling, ring_expect, ring_push, ring_transition
from jaxgames.mean_field.game import MeanFieldGame


@flax.struct.dataclass
class DenseCrowd(CrowdModelling):
    push_forward = MeanFieldGame.push_forward
    expected_next = MeanFieldGame.expected_next


@flax.struct.dataclass
class DenseBeach(BeachBar):
    push_forward = MeanFieldGame.push_forward
    expected_next = MeanFieldGame.expected_next


def _dense(game):
    cls = DenseBeach if isinstance(game, BeachBar) else DenseCrowd
    return cls(**{f.name: getattr(game, f.name) for f in dataclasses.fields(game)})


@pytest.mark.parametrize("size", [2, 3, 7])
def test_ring_kernels_equal_the_dense_products(size):
    k_noise, k_flow, k_values = jax.random.split(jax.random.key(size), 3)
    noise = jax.random.dirichlet(k_noise, jnp.ones(3))
    flow = jax.random.uniform(k_flow, (size, 3))
    values = jax.random.normal(k_values, (size, 2))
    dense = ring_transition(noise, size=size)
    np.testing.assert_allclose(ring_push(noise, flow), jnp.einsum("xa,xay->y", flow, dense), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        ring_expect(noise, values), jnp.einsum("xay,yk->xak", dense, values), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(ring_expect(noise, values[:, 0]), ring_expect(noise, values)[..., 0], atol=1e-7)


@jax.jit
def _metrics(game, policy):
    ref = game.uniform_policy()
    grads = game.sequence_gradient(policy)
    return dict(
        mean_field=game.mean_field(policy),
        nash_conv=game.nash_conv(policy),
        q=game.evaluate(policy).action_values[0],
        best_response=game.best_response(policy)[0],
        soft_q=game.soft_action_values(policy, 0.3, ref)[0],
        regularized=game.regularized_nash_conv(policy, 0.3, ref),
        step=game.dilated_mirror_step(policy, grads, 0.5, 0.1)[0],
    )


@pytest.mark.parametrize("make", [lambda: crowd_modelling(size=5, horizon=4), lambda: beach_bar(size=6, horizon=3)])
def test_ring_models_equal_their_dense_form(make):
    with jax.enable_x64(True):
        game = make()
        logits = jax.random.normal(jax.random.key(0), (game.horizon, game.num_states, 3), jnp.float64)
        policy = (jax.nn.softmax(logits, axis=-1),)
        fast, dense = _metrics(game, policy), _metrics(_dense(game), policy)
        assert float(dense["nash_conv"]) > 1e-3  # a policy far from equilibrium: the comparison means something
        for name in fast:
            np.testing.assert_allclose(fast[name], dense[name], rtol=1e-12, atol=1e-12, err_msg=name)
