"""Nash learning from human feedback (NLHF) with sampled preference queries.

A preference game (``jaxgames.matrix.preference.preference_game(P)``, ``P[y, y'] = Pr(y ≻ y')``) is
the symmetric zero-sum game with payoff ``P - 1/2``; its ``beta``-regularized equilibrium toward a
reference ``mu`` is ``pi*(y) ∝ mu(y) exp(g(pi*)[y] / beta)`` with ``g(pi) = (P - 1/2) @ pi``, and
``game.regularized_nash_conv((pi, pi), beta, (mu, mu))`` is the exact gap to it. The learners never
see ``P``: each step asks ``num_samples`` Bernoulli preference queries ``o ~ B(P[y, y'])`` of the
simulator and estimates ``g`` by importance weighting, ``y ~ s = (1 - exploration) pi + exploration
uniform``: ``g^[a] = (1 / N) sum_k 1{y_k = a} (o_k - 1/2) / s(a)``. With ``eta = learning_rate``::

    explicit   E(pi, g):  log pi' = (1 - eta beta) log pi + eta beta log mu + eta g   (+ const)
    proximal   M(pi, g):  log pi' = (log pi + eta beta log mu + eta g) / (1 + eta beta)

    sppo        pi' = E(pi, g^(pi))                                   SPPO (Wu et al. 2024)
    nash_md     pi' = E(pi, g^(pi_mu)), pi_mu ∝ pi^(1-eta beta) mu^(eta beta)   Nash-MD (Munos et al. 2023)
    egpo        h = E(pi, g^(pi)),  pi' = E(pi, g^(h))                EGPO (Zhou, Fazel & Du 2025)
    nash_mp     h = M(pi, g^(pi)),  pi' = M(pi, g^(h))                Nash-MP (Tiapkin et al. 2025)
    online_ipo  SGD on the logits of E_{y, y' ~ sg(pi)} (log(pi(y) mu(y') / (pi(y') mu(y))) - (o - 1/2) / beta)^2
                (online IPO, Calandriello et al. 2024; y, y' ~ pi, no importance weights)

``num_samples=None`` is the exact-feedback twin (it reads ``P``). Both players share one policy;
``output`` is ``(pi, pi)``. Exploration, query counts and the exact twin are discussed in the guide
("Sample-based learners", NLHF).

Example (``jax.vmap`` over keys trains 8 seeds in one call)::

    import jax, solvers
    from jaxgames.matrix.preference import cyclic_preferences, preference_game
    game, mu = preference_game(cyclic_preferences(3)), jax.numpy.array([0.6, 0.3, 0.1])
    solver = solvers.nash_mp(num_samples=64, beta=0.1, learning_rate=0.5, reference=mu)
    keys = jax.random.split(jax.random.key(0), 8)
    states, _ = jax.vmap(lambda k: solvers.run(solver, game, 200, key=k))(keys)
    gaps = jax.vmap(lambda s: game.regularized_nash_conv(solver.output(s), 0.1, (mu, mu)))(states)
    gaps                         # each seed's exact gap to the regularized equilibrium, 5e-4 to 2e-2
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np

import jaxgames
from jaxgames import rng, simplex
from jaxgames.core import as_float_array, is_concrete
from jaxgames.matrix.game import MatrixGame
from jaxgames.matrix.preference import check_preference_game
from jaxgames.validation import check_probabilities
from solvers.core import Solver, SolverState, cached_factory, check_choice, check_int, check_number, check_solver_key

METHODS = ("online_ipo", "nash_md", "sppo", "egpo", "nash_mp")
#: Win-rate estimates (batches of ``num_samples`` queries) each method asks per step.
EVALUATIONS_PER_STEP = {"online_ipo": 1, "nash_md": 1, "sppo": 1, "egpo": 2, "nash_mp": 2}


class NLHFState(NamedTuple):
    """``extra`` of every NLHF solver.

    Attributes:
      key: the PRNG key of the preference queries.
      logits: ``[n]`` log-policy (``pi = softmax(logits)``); online IPO's parameters ``theta``.
      reference: ``[n]`` the reference policy ``mu``.
      queries: int32 scalar, preference queries asked so far.
    """

    key: jax.Array
    logits: jax.Array
    reference: jax.Array
    queries: jax.Array


# ----------------------------------------------------------------------------- the simulator


def preference_matrix(game: MatrixGame) -> jax.Array:
    """``[n, n]`` ``P = payoff of player 0 + 1/2`` of a preference game (array leaves only)."""
    return game.payoffs[0] + 0.5


def sample_preferences(key: jax.Array, game: MatrixGame, y: jax.Array, y_prime: jax.Array) -> jax.Array:
    """The preference oracle: outcomes ``o_k ~ Bernoulli(P[y_k, y'_k])`` (1.0 when ``y_k ≻ y'_k``).

    ``y``, ``y_prime``: int ``[N]`` responses; returns float ``[N]`` in {0, 1}. The queries go
    through the preference game's simulator, ``jaxgames.make_env(game, feedback="bernoulli")``
    (one round per query): the only place the learners touch ``P``.
    """
    chex.assert_equal_shape((y, y_prime))
    env = jaxgames.make_env(game, feedback="bernoulli")
    state, _ = env.reset(key)
    step = jax.vmap(lambda k, a: env.step(k, state, a)[1].rewards[0])
    return step(jax.random.split(key, y.shape[0]), jnp.stack([y, y_prime], axis=-1).astype(jnp.int32)) + 0.5


# ----------------------------------------------------------------------------- estimators


def sampling_policy(policy: jax.Array, exploration) -> jax.Array:
    """``(1 - exploration) policy + exploration * uniform``: where the learner draws ``y``."""
    return (1.0 - exploration) * policy + exploration / policy.shape[-1]


def draw_responses(u: jax.Array, policy: jax.Array) -> jax.Array:
    """Responses drawn from ``policy`` ``[n]`` by inverse CDF, one per uniform in ``u`` ``[N]``."""
    return jax.vmap(simplex.inverse_cdf, (0, None))(u, jnp.cumsum(policy))


def estimate_win_rates(y: jax.Array, outcomes: jax.Array, sampling: jax.Array) -> jax.Array:
    """Unbiased estimate of the centered win rates ``g[a] = P(a ≻ opponent) - 1/2``, ``[n]``.

    ``g^[a] = (1/N) sum_k 1{y_k = a} (o_k - 1/2) / s(a)`` for queries ``y_k ~ s = sampling``
    against opponents ``y'_k`` drawn from the opponent policy (``E[1{y = a} / s(a)] = 1``, so the
    baseline ``1/2`` keeps it unbiased while cutting its variance).
    """
    chex.assert_rank((y, outcomes, sampling), (1, 1, 1))
    chex.assert_equal_shape((y, outcomes))
    weights = (outcomes - 0.5) / sampling[y]  # y is drawn only where sampling > 0
    return jnp.zeros_like(sampling).at[y].add(weights) / y.shape[0]


def exact_win_rates(game: MatrixGame, opponent: jax.Array) -> jax.Array:
    """``g = (P - 1/2) @ opponent``: the exact-feedback counterpart (it reads ``P``)."""
    return (preference_matrix(game) - 0.5) @ opponent


# ----------------------------------------------------------------------------- the updates


def geometric_mixture(logits, eta, beta, log_reference):
    """``log pi_mu``, ``pi_mu ∝ pi^(1 - eta beta) mu^(eta beta)`` (Nash-MD's opponent), normalized."""
    return jax.nn.log_softmax((1.0 - eta * beta) * jax.nn.log_softmax(logits) + eta * beta * log_reference)


def explicit_step(logits, g, eta, beta, log_reference):
    """``log pi' = (1 - eta beta) log pi + eta beta log mu + eta g``, normalized."""
    return jax.nn.log_softmax(geometric_mixture(logits, eta, beta, log_reference) + eta * g)


def proximal_step(logits, g, eta, beta, log_reference):
    """``log pi' = (log pi + eta beta log mu + eta g) / (1 + eta beta)``, normalized: the magnetic
    mirror descent step of ``simplex.entropic_logits``."""
    return jax.nn.log_softmax(simplex.entropic_logits(jax.nn.softmax(logits), g, eta, beta, jnp.exp(log_reference)))


def _reference_array(reference, field: str = "reference"):
    """``reference`` as a ``[n]`` array: a probability vector or a symmetric pair ``(mu, mu)``."""
    if reference is None:
        return None
    if isinstance(reference, (tuple, list)):
        if len(reference) != 2:
            raise ValueError(f"{field}: expected a [n] policy or a pair (mu, mu), got {len(reference)} arrays")
        first, second = (as_float_array(r, field) for r in reference)
        if first.shape != second.shape or (
            is_concrete(first) and is_concrete(second) and not np.allclose(first, second, atol=1e-6)
        ):
            raise ValueError(f"{field}: both players share one reference policy; got two different ones")
        reference = first
    reference = as_float_array(reference, field)
    if reference.ndim != 1:
        raise ValueError(f"{field}: expected a [n] probability vector, got shape {tuple(reference.shape)}")
    check_probabilities(reference, field)
    return reference


@cached_factory
def nlhf_solver(
    method: str, num_samples: int | None = 64, beta=0.1, learning_rate=0.5, reference=None, exploration=0.1
) -> Solver:
    """The shared implementation behind the NLHF solvers (see the module docstring).

    Args:
      method: one of ``METHODS``.
      num_samples: preference queries per win-rate estimate (a static int >= 1), or ``None`` for
        exact feedback.
      beta: KL regularization ``>= 0`` toward ``reference`` (``> 0`` for online IPO); may be traced.
      learning_rate: ``eta > 0``; may be traced. The explicit step needs ``eta beta <= 1``.
      reference: the reference policy ``mu`` (``[n]`` or a pair ``(mu, mu)``; default uniform);
        also the initial policy.
      exploration: in [0, 1], the uniform share of the sampling policy of ``y`` (not online IPO);
        may be traced.
    """
    check_choice(method, "method", METHODS)
    if num_samples is not None:
        num_samples = check_int(num_samples, "num_samples", low=1)
    check_number(beta, "beta", low=0.0, low_open=method == "online_ipo", range_wording=True)
    check_number(learning_rate, "learning_rate", low=0.0, low_open=True, range_wording=True)
    check_number(exploration, "exploration", low=0.0, high=1.0)
    if method in ("nash_md", "sppo", "egpo") and is_concrete(beta) and is_concrete(learning_rate):
        if float(learning_rate) * float(beta) > 1.0:
            raise ValueError(
                f"learning_rate: {method} takes the explicit step, which needs "
                f"learning_rate * beta <= 1, got {float(learning_rate)} * {float(beta)}"
            )
    reference_ = _reference_array(reference)
    eta = learning_rate
    evaluations = EVALUATIONS_PER_STEP[method]

    def randomness(key, dtype):
        """``(key, u, simulator_keys)`` for one step: uniforms ``[E, 2, N]`` for the ``(y, y')`` of
        its ``E`` estimates and one simulator key per estimate, all drawn up front (the
        extragradient's second batch only maps its uniforms through the half-step policy)."""
        if num_samples is None:
            return key, None, (None,) * evaluations
        key, k_draw, *k_simulator = jax.random.split(key, 2 + evaluations)
        return key, rng.uniform(k_draw, (evaluations, 2, num_samples), dtype), k_simulator

    def win_rates(game, u, k_simulator, policy, opponent):
        """The centered win rates ``g^`` of every response against ``opponent`` (exact: ``g``)."""
        if num_samples is None:
            return exact_win_rates(game, opponent)
        s = sampling_policy(policy, exploration)
        y, y_prime = draw_responses(u[0], s), draw_responses(u[1], opponent)
        return estimate_win_rates(y, sample_preferences(k_simulator, game, y, y_prime), s)

    def ipo_gradient(game, u, k_simulator, logits, log_reference):
        """The online IPO loss gradient in ``theta``: ``4 pi (d - <pi, d>) - (4 / beta) pi g^`` with
        ``d = log pi - log mu``; the preference term from the queries (``y, y' ~ pi``, both sides
        of each query, as in the per-query loss gradient), the log-ratio term is the learner's own."""
        pi = jax.nn.softmax(logits)
        d = jax.nn.log_softmax(logits) - log_reference
        own = 4.0 * pi * (d - jnp.dot(pi, d))
        if num_samples is None:
            return own - (4.0 / beta) * pi * exact_win_rates(game, pi)
        y, y_prime = draw_responses(u[0], pi), draw_responses(u[1], pi)
        centered = sample_preferences(k_simulator, game, y, y_prime) - 0.5
        preference = (jnp.zeros_like(pi).at[y].add(centered).at[y_prime].add(-centered)) / num_samples
        return own - (2.0 / beta) * preference

    def init(game, key=None) -> SolverState:
        check_preference_game(game)
        if key is None and num_samples is None:
            key = jax.random.PRNGKey(0)  # exact feedback draws nothing
        key = check_solver_key(key, method)
        n = game.num_actions[0]
        dtype = jnp.result_type(float)
        mu = jnp.full((n,), 1.0 / n, dtype) if reference_ is None else reference_.astype(dtype)
        if mu.shape != (n,):
            raise ValueError(f"reference: expected shape ({n},) for this game's {n} responses, got {tuple(mu.shape)}")
        logits = simplex.safe_log(mu)
        pi = jax.nn.softmax(logits)
        extra = NLHFState(key=key, logits=logits, reference=mu, queries=jnp.zeros((), jnp.int32))
        return SolverState(policy=(pi, pi), average=(pi, pi), step=jnp.zeros((), jnp.int32), extra=extra)

    def step(game, state: SolverState) -> SolverState:
        extra = state.extra
        logits, log_mu = extra.logits, simplex.safe_log(extra.reference)
        key, u, k_sim = randomness(extra.key, logits.dtype)
        u = (None,) * evaluations if u is None else u
        pi = jax.nn.softmax(logits)
        if method == "online_ipo":
            new = logits - eta * ipo_gradient(game, u[0], k_sim[0], logits, log_mu)
        elif method == "sppo":
            new = explicit_step(logits, win_rates(game, u[0], k_sim[0], pi, pi), eta, beta, log_mu)
        elif method == "nash_md":
            mixture = geometric_mixture(logits, eta, beta, log_mu)
            new = mixture + eta * win_rates(game, u[0], k_sim[0], pi, jnp.exp(mixture))
        else:
            update = explicit_step if method == "egpo" else proximal_step
            half = update(logits, win_rates(game, u[0], k_sim[0], pi, pi), eta, beta, log_mu)
            pi_half = jnp.exp(half)
            new = update(logits, win_rates(game, u[1], k_sim[1], pi_half, pi_half), eta, beta, log_mu)
        new = jax.nn.log_softmax(new)
        policy = jax.nn.softmax(new)
        asked = 0 if num_samples is None else evaluations * num_samples
        extra = extra._replace(key=key, logits=new, queries=extra.queries + asked)
        return SolverState(policy=(policy, policy), average=(policy, policy), step=state.step + 1, extra=extra)

    return Solver(init=init, step=step, output=lambda s: s.policy)


# ----------------------------------------------------------------------------- public factories


def online_ipo(num_samples: int | None = 64, beta=0.1, learning_rate=0.05, reference=None) -> Solver:
    """Online IPO (Calandriello et al. 2024, "Human alignment of large language models through
    online preference optimisation"): self-play SGD on the softmax logits ``theta``,

        theta <- theta - eta grad_theta E_{y, y' ~ sg(pi)} (h(y, y') - (o - 1/2) / beta)^2,
        h(y, y') = log pi(y) / mu(y) - log pi(y') / mu(y'),

    with ``num_samples`` queries ``(y, y') ~ pi x pi``, ``o ~ B(P[y, y'])`` per step. The expected
    gradient is ``4 pi (d - <pi, d> - g(pi) / beta)``, ``d = log pi / mu``, zero exactly at the
    ``beta``-regularized Nash equilibrium ``pi ∝ mu exp(g(pi) / beta)``. It is a policy gradient on
    the logits (no mirror map), so responses of small probability move slowly.
    ``num_samples=None``: exact feedback. See the module docstring for the other arguments.
    """
    return nlhf_solver("online_ipo", num_samples, beta, learning_rate, reference, 0.0)


def nash_md(num_samples: int | None = 64, beta=0.1, learning_rate=0.5, reference=None, exploration=0.1) -> Solver:
    """Nash-MD (Munos et al. 2023, "Nash learning from human feedback"):

        pi_mu ∝ pi^(1 - eta beta) mu^(eta beta),      pi' ∝ pi_mu exp(eta g^(pi_mu)),

    ``g^(pi_mu)[a]`` the importance-weighted estimate of ``P(a ≻ pi_mu) - 1/2`` from
    ``num_samples`` queries ``y ~ (1 - exploration) pi + exploration uniform``, ``y' ~ pi_mu``.
    Needs ``eta beta <= 1``. With a constant step the fixed point is ``pi ∝ mu exp(g(pi_mu) / beta)``,
    an ``O(eta)`` bias from the regularized equilibrium (the other methods have none); Munos et al.
    decrease the step for exact convergence.
    """
    return nlhf_solver("nash_md", num_samples, beta, learning_rate, reference, exploration)


def sppo(num_samples: int | None = 64, beta=0.1, learning_rate=0.5, reference=None, exploration=0.1) -> Solver:
    """Self-Play Preference Optimization (Wu et al. 2024), tabular:

        pi' ∝ pi^(1 - eta beta) mu^(eta beta) exp(eta (P^(y ≻ pi) - 1/2)),

    win rates ``P^(y ≻ pi)`` estimated from ``num_samples`` queries ``y ~ s``, ``y' ~ pi``.
    ``beta = 0`` is the paper's multiplicative update, whose last iterate cycles on intransitive
    preferences (its guarantee is for the average); ``beta > 0`` (the default) pulls toward ``mu``
    and the last iterate converges to the regularized equilibrium.
    """
    return nlhf_solver("sppo", num_samples, beta, learning_rate, reference, exploration)


def egpo(num_samples: int | None = 64, beta=0.1, learning_rate=0.5, reference=None, exploration=0.1) -> Solver:
    """Extragradient Preference Optimization (Zhou, Fazel & Du 2025), tabular:

        h  ∝ pi^(1 - eta beta) mu^(eta beta) exp(eta g^(pi)),
        pi' ∝ pi^(1 - eta beta) mu^(eta beta) exp(eta g^(h)),

    the entropy-regularized extragradient of Cen, Wei & Chi (2021): last-iterate linear
    convergence to the regularized equilibrium with exact feedback, for ``eta beta <= 1``.
    Two independent batches of ``num_samples`` queries per step (one at ``pi``, one at ``h``).
    """
    return nlhf_solver("egpo", num_samples, beta, learning_rate, reference, exploration)


def nash_mp(num_samples: int | None = 64, beta=0.1, learning_rate=0.5, reference=None, exploration=0.1) -> Solver:
    """Nash Mirror Prox (Tiapkin et al. 2025, "Accelerating Nash learning from human feedback via
    mirror prox"): two exact prox steps of the regularized game,

        h   = argmax_p  eta [<p, g^(pi)> - beta KL(p || mu)] - KL(p || pi),
        pi' = argmax_p  eta [<p, g^(h)>  - beta KL(p || mu)] - KL(p || pi),

    i.e. ``log pi' = (log pi + eta beta log mu + eta g^) / (1 + eta beta)``: last-iterate linear
    convergence with exact feedback, at a rate independent of the number of responses. The prox is
    implicit in the regularization, so any ``eta > 0`` is admissible (no ``eta beta <= 1``); with
    sampled feedback the noise floor grows with ``eta``. Two batches of queries per step.
    """
    return nlhf_solver("nash_mp", num_samples, beta, learning_rate, reference, exploration)
