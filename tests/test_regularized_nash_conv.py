"""``jaxgames.regularized_nash_conv`` on every family: validation, +inf for infinite KLs, the
dilated-KL gap on extensive-form games and the entropy-regularized Markov game (Cen et al. 2021)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import jaxgames
import solvers
from jaxgames import markov, matrix, mean_field, simplex
from jaxgames.efg.regularized import soft_best_response, soft_best_response_values


def random_policy(game, key, concentration=1.0):
    """A random policy with full support on the legal actions of every decision point."""
    out = []
    for k, mask in zip(jax.random.split(key, game.num_players), game.legal_mask()):
        x = jax.random.gamma(k, concentration, mask.shape) * mask + 1e-3 * mask
        out.append(x / jnp.sum(x, axis=-1, keepdims=True))
    return tuple(out)


@pytest.fixture(scope="module")
def kuhn():
    return jaxgames.kuhn_poker()


@pytest.fixture(scope="module")
def leduc():
    return jaxgames.leduc_poker()


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("temperature", [-0.1, float("nan"), float("inf"), "0.1", None, [0.1, 0.2], 1j])
def test_bad_temperature_names_the_field(temperature):
    game = matrix.zero_sum(jnp.eye(2))
    with pytest.raises(ValueError, match="^temperature: "):
        jaxgames.regularized_nash_conv(game, game.uniform_policy(), temperature)


@pytest.mark.parametrize(
    "reference, match",
    [
        ((jnp.ones(3) / 3, jnp.ones(2) / 2), r"^reference\[0\]: expected shape"),
        ((jnp.array([0.7, 0.7]), jnp.ones(2) / 2), r"^reference\[0\]: expected probabilities summing to 1"),
        ((jnp.array([1.5, -0.5]), jnp.ones(2) / 2), r"^reference\[0\]: expected non-negative"),
        ((jnp.array([jnp.nan, 0.5]), jnp.ones(2) / 2), r"^reference\[0\]: expected finite"),
        (jnp.ones(2) / 2, r"^reference: expected a tuple"),
    ],
)
def test_bad_reference_names_the_field(reference, match):
    game = matrix.zero_sum(jnp.eye(2))
    with pytest.raises(ValueError, match=match):
        jaxgames.regularized_nash_conv(game, game.uniform_policy(), 0.1, reference)


def test_game_without_the_metric_is_a_clear_error():
    class Bare(jaxgames.Game):
        num_players = 1

        def legal_mask(self):
            return (jnp.ones(2, bool),)

        def legal_mask_host(self):
            return (np.ones(2, bool),)

    with pytest.raises(
        TypeError,
        match="^game: regularized_nash_conv needs a game with a KL-regularized "
        "NashConv; Bare does not provide RegularizedNashConv",
    ):
        jaxgames.regularized_nash_conv(Bare(), (jnp.ones(2) / 2,), 0.1)


def _families():
    key = jax.random.key(0)
    return {
        "matrix": matrix.random_zero_sum(key, 3),
        "contextual": matrix.random_contextual_preference(key, 2, 3),
        "efg": jaxgames.kuhn_poker(),
        "markov": markov.random_zero_sum(key, num_states=3, num_actions=2),
        "markov_horizon": markov.MarkovGame(
            *(lambda g: (g.transitions, g.rewards, 0.9, g.initial))(
                markov.random_general_sum(key, num_states=3, num_actions=(2, 2))
            ),
            horizon=3,
        ),
        "mean_field": mean_field.crowd_modelling(size=4, horizon=3),
        "stationary": mean_field.stationary_sis_epidemic(),
    }


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(_families()))
def test_every_family_under_jit_and_vmap_of_the_temperature(family):
    """The README lists the metric for every family; a traced temperature skips the checks."""
    game = _families()[family]
    policy = game.uniform_policy()
    gaps = jax.jit(jax.vmap(lambda t: jaxgames.regularized_nash_conv(game, policy, t)))(jnp.array([0.0, 0.2]))
    assert np.all(np.isfinite(np.asarray(gaps))) and np.all(np.asarray(gaps) >= -1e-5)
    if family in ("matrix", "efg", "markov", "markov_horizon"):  # tau = 0 is nash_conv (others: below)
        np.testing.assert_allclose(float(gaps[0]), float(jaxgames.nash_conv(game, policy)), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------- +inf where the KL is infinite


def test_matrix_zero_reference_mass_gives_inf_and_tau_zero_is_nash_conv():
    game = matrix.zero_sum(jnp.array([[0.0, 1.0], [1.0, 0.0]]))
    policy = game.uniform_policy()
    reference = (jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]))
    assert float(jaxgames.regularized_nash_conv(game, policy, 0.1, reference)) == np.inf
    # tau = 0 is unregularized: nash_conv, whatever the reference's support
    pure = (jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(
        float(jaxgames.regularized_nash_conv(game, pure, 0.0, reference)),
        float(jaxgames.nash_conv(game, pure)),
        atol=1e-6,
    )
    # a policy inside the reference's support: finite
    inside = (jnp.array([1.0, 0.0]), jnp.array([0.5, 0.5]))
    assert np.isfinite(float(jaxgames.regularized_nash_conv(game, inside, 0.1, reference)))


def test_contextual_inf_only_in_contexts_of_positive_probability():
    base = matrix.random_contextual_preference(jax.random.key(1), 2, 3)
    game = matrix.ContextualPreferenceGame(base.preferences, jnp.array([1.0, 0.0]))
    policy = game.uniform_policy()
    ref = jnp.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])  # zero only in context 1 (probability 0)
    assert np.isfinite(float(jaxgames.regularized_nash_conv(game, policy, 0.1, (ref, ref))))
    assert float(jaxgames.regularized_nash_conv(game, policy, 0.1, (ref[::-1], ref))) == np.inf


@pytest.mark.slow
def test_mean_field_zero_reference_mass_at_a_reached_state_gives_inf():
    game = mean_field.crowd_modelling(size=4, horizon=3)
    policy = game.uniform_policy()
    ref = np.asarray(policy[0]).copy()
    ref[0, 0] = [0.5, 0.5, 0.0]  # mu_0 is uniform: state 0 is reached
    assert float(jaxgames.regularized_nash_conv(game, policy, 0.1, (jnp.asarray(ref),))) == np.inf
    assert np.isfinite(float(jaxgames.regularized_nash_conv(game, policy, 0.0, (jnp.asarray(ref),))))

    stationary = mean_field.stationary_sis_epidemic()
    pol = stationary.uniform_policy()
    ref = np.asarray(pol[0]).copy()
    ref[0] = 0.0
    ref[0, 0] = 1.0
    assert float(jaxgames.regularized_nash_conv(stationary, pol, 0.1, (jnp.asarray(ref),))) == np.inf


def test_efg_inf_only_at_own_reached_information_sets(kuhn):
    policy = kuhn.uniform_policy()
    legal = kuhn.tree.legal[0]
    # player 0's information sets reached only after its own first action: those with a parent sequence
    from jaxgames.efg.sequence import sequence_form

    parent = np.asarray(sequence_form(kuhn.tree).parent_sequence[0])
    later = int(np.nonzero(parent > 0)[0][0])
    first = int(np.nonzero(parent == 0)[0][0])
    ref = np.asarray(kuhn.uniform_policy()[0]).copy()
    ref[later] = 0.0
    ref[later, np.nonzero(legal[later])[0][0]] = 1.0
    reference = (jnp.asarray(ref), kuhn.uniform_policy()[1])
    assert float(jaxgames.regularized_nash_conv(kuhn, policy, 0.1, reference)) == np.inf
    # never reached by the player itself (it never takes the action leading there): the KL weighs 0
    A = legal.shape[1]
    into = int(parent[later]) - 1 - first * A  # the action at `first` that leads to `later`
    assert parent[later] == 1 + first * A + into
    pol = np.asarray(policy[0]).copy()
    pol[first] = np.where(np.arange(A) == into, 0.0, 1.0) * legal[first]
    pol[first] /= pol[first].sum()
    value = float(jaxgames.regularized_nash_conv(kuhn, (jnp.asarray(pol), policy[1]), 0.1, reference))
    assert np.isfinite(value)


# ------------------------------------------------------------------- extensive-form games


@pytest.mark.slow
def test_efg_tau_zero_is_nash_conv(kuhn, leduc):
    for game in (kuhn, leduc):
        policy = random_policy(game, jax.random.key(3))
        np.testing.assert_allclose(
            float(jaxgames.regularized_nash_conv(game, policy, 0.0)), float(jaxgames.nash_conv(game, policy)), rtol=1e-6
        )


@pytest.mark.slow
def test_efg_soft_best_response_is_the_maximum_brute_force(kuhn):
    """Player 0's regularized objective ``u_0(p, pi_1) - tau sum_I x_0(I) KL(p(I) || rho(I))``, evaluated
    independently (``evaluate`` and ``reach``): its maximum, found by L-BFGS over logits and bounding
    2,000 random policies, is the bottom-up soft value, attained by the closed-form soft response."""
    tau = 0.3
    policy = random_policy(kuhn, jax.random.key(1))
    reference = random_policy(kuhn, jax.random.key(2))
    mask = kuhn.legal_mask()[0]

    def objective(p0):
        joint = (p0, policy[1])
        reach = kuhn.reach(joint)[0]
        return kuhn.evaluate(joint).values[0] - tau * jnp.sum(reach * simplex.kl(p0, reference[0]))

    soft_values = jax.jit(soft_best_response_values)(kuhn, policy, tau, reference)
    soft_value = float(soft_values[0])
    at_soft = float(jax.jit(lambda: objective(soft_best_response(kuhn, policy, tau, reference)[0]))())
    np.testing.assert_allclose(at_soft, soft_value, atol=1e-6)

    randoms = jax.jit(jax.vmap(lambda k: objective(random_policy(kuhn, k, 0.5)[0])))(
        jax.random.split(jax.random.key(4), 500)
    )
    assert float(jnp.max(randoms)) <= soft_value + 1e-6

    neg = jax.jit(jax.value_and_grad(lambda th: -objective(simplex.masked_softmax(th.reshape(mask.shape), mask))))

    def fun(theta):
        return tuple(np.asarray(v, np.float64) for v in neg(jnp.asarray(theta, jnp.float32)))

    result = scipy.optimize.minimize(fun, np.zeros(mask.size), jac=True, method="L-BFGS-B")
    np.testing.assert_allclose(-result.fun, soft_value, atol=1e-5)
    # the gap adds the two players' soft values minus the policy's regularized values
    values = kuhn.evaluate(policy).values
    penalties = jnp.stack([jnp.sum(r * simplex.kl(p, q)) for p, q, r in zip(policy, reference, kuhn.reach(policy))])
    expected = jnp.sum(soft_values - (values - tau * penalties))
    np.testing.assert_allclose(
        float(jaxgames.regularized_nash_conv(kuhn, policy, tau, reference)), float(expected), atol=1e-5
    )


@pytest.mark.parametrize("with_reference", [False, True])
def test_efg_mmd_dilated_equilibrium_has_zero_gap(kuhn, with_reference):
    """MMD with the dilated entropy and a fixed magnet converges to the regularized equilibrium."""
    tau = 0.5
    reference = random_policy(kuhn, jax.random.key(7), 3.0) if with_reference else kuhn.uniform_policy()
    solver = solvers.mmd(
        learning_rate=0.5, temperature=tau, magnet=reference, magnet_update_every=0, geometry="dilated"
    )
    state = jax.jit(
        lambda: jax.lax.fori_loop(0, 300, lambda _, s: solver.step(kuhn, s), solver.init(kuhn, jax.random.key(0)))
    )()
    policy = solver.output(state)
    gap = float(jaxgames.regularized_nash_conv(kuhn, policy, tau, reference if with_reference else None))
    assert abs(gap) < 1e-5
    assert float(jaxgames.nash_conv(kuhn, policy)) > 1e-2  # a regularized, not a Nash, equilibrium
    assert float(jaxgames.regularized_nash_conv(kuhn, kuhn.uniform_policy(), tau)) > 0.1


# ------------------------------------------------------------------------------ Markov games


def brute_force_markov(game, policy, tau, reference):
    """float64 NumPy: joint chains by enumerating joint actions, soft value iteration (no policy
    iteration) for every player's regularized MDP, Cen et al.'s rewards ``r_i - tau KL_i + tau mean_{j!=i} KL_j``."""
    P, R = np.asarray(game.transitions, np.float64), np.asarray(game.rewards, np.float64)
    pol = [np.asarray(p, np.float64) for p in policy]
    ref = [np.asarray(r, np.float64) for r in reference]
    n, S, g = len(pol), P.shape[0], float(game.discount)
    kl = np.stack([np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1) / r), 0.0), -1) for p, r in zip(pol, ref)])
    bonus = (kl.sum(0, keepdims=True) - kl) / (n - 1) if n > 1 else 0 * kl
    P_pi, r_pi = np.zeros((S, S)), np.zeros((n, S))
    P_i = [np.zeros((S, P.shape[1 + i], S)) for i in range(n)]
    r_i = [np.zeros((S, P.shape[1 + i])) for i in range(n)]
    for s in range(S):
        for a in itertools.product(*(range(k) for k in P.shape[1:-1])):
            w = np.prod([pol[j][s, a[j]] for j in range(n)])
            P_pi[s] += w * P[(s, *a)]
            r_pi[:, s] += w * R[(slice(None), s, *a)]
            for i in range(n):
                wi = np.prod([pol[j][s, a[j]] for j in range(n) if j != i])
                P_i[i][s, a[i]] += wi * P[(s, *a)]
                r_i[i][s, a[i]] += wi * R[(i, s, *a)]
    gap = 0.0
    for i in range(n):
        reg = r_pi[i] - tau * kl[i] + tau * bonus[i]
        if game.horizon is None:
            v = np.linalg.solve(np.eye(S) - g * P_pi, reg)
        else:
            v = np.zeros(S)
            for _ in range(game.horizon):
                v = reg + g * P_pi @ v
        w = np.zeros(S)
        for _ in range(game.horizon or 2000):
            q = r_i[i] + tau * bonus[i][:, None] + g * P_i[i] @ w
            m = q.max(-1)
            w = m + tau * np.log(np.sum(ref[i] * np.exp((q - m[:, None]) / tau), -1)) if tau > 0 else m
        gap += np.asarray(game.initial, np.float64) @ (w - v)
    return gap


def _markov_cases():
    key = jax.random.key(5)
    two = markov.random_general_sum(key, num_states=4, num_actions=(2, 3), discount=0.8)
    three = markov.random_general_sum(key, num_states=3, num_actions=(2, 2, 2), discount=0.7)
    one = markov.random_mdp(key, num_states=4, num_actions=3, discount=0.8)
    finite = markov.MarkovGame(two.transitions, two.rewards, 1.0, two.initial, horizon=4)
    return {"two_players": two, "three_players": three, "mdp": one, "finite_horizon": finite}


@pytest.mark.slow
@pytest.mark.parametrize("case", ["two_players", "three_players", "mdp", "finite_horizon"])
def test_markov_matches_brute_force(case):
    """Against soft value iteration in float64 (tau = 0: value iteration, i.e. NashConv)."""
    game = _markov_cases()[case]
    policy = random_policy(game, jax.random.key(11))
    reference = random_policy(game, jax.random.key(12), 3.0)
    for tau in (0.0, 0.05, 0.5):
        got = float(jaxgames.regularized_nash_conv(game, policy, tau, reference))
        np.testing.assert_allclose(got, brute_force_markov(game, policy, tau, reference), rtol=2e-5, atol=2e-5)


@pytest.mark.slow
def test_markov_policy_extragradient_qre_has_zero_gap():
    """Cen et al.'s regularized policy extragradient (fixed uniform magnet) converges to the QRE."""
    game = markov.random_zero_sum(jax.random.key(0), num_states=5, num_actions=3, discount=0.8)
    tau = 0.3
    solver = solvers.entropy_regularized_extragradient(
        temperature=tau, magnet_update_every=0, inner_steps=1, value_step_size=1.0
    )
    state = jax.jit(
        lambda: jax.lax.fori_loop(0, 200, lambda _, s: solver.step(game, s), solver.init(game, jax.random.key(0)))
    )()
    policy = solver.output(state)
    assert abs(float(jaxgames.regularized_nash_conv(game, policy, tau))) < 1e-5
    assert float(jaxgames.nash_conv(game, policy)) > 1e-3
    assert float(jaxgames.regularized_nash_conv(game, game.uniform_policy(), tau)) > 0.1


def test_markov_inf_where_an_infinite_kl_counts():
    """State 2 is never reached (from state 0 the chain stays in {0, 1}); a zero of the reference
    there is harmless, one at a reached state gives +inf."""
    S = 3
    P = np.zeros((S, 2, 2, S))
    P[0, :, :, 1] = 1.0
    P[1, :, :, 0] = 1.0
    P[2, :, :, 2] = 1.0
    reward = np.asarray(jax.random.normal(jax.random.key(0), (S, 2, 2)))
    game = markov.zero_sum(P, reward, 0.9, np.array([1.0, 0.0, 0.0]))
    policy = game.uniform_policy()
    unreached = np.full((S, 2), 0.5)
    unreached[2] = [1.0, 0.0]
    reached = np.full((S, 2), 0.5)
    reached[1] = [1.0, 0.0]
    for player in (0, 1):

        def ref(table, player=player):
            return tuple(jnp.asarray(table) if j == player else policy[j] for j in range(2))

        assert np.isfinite(float(jaxgames.regularized_nash_conv(game, policy, 0.1, ref(unreached))))
        assert float(jaxgames.regularized_nash_conv(game, policy, 0.1, ref(reached))) == np.inf
        np.testing.assert_allclose(
            float(jaxgames.regularized_nash_conv(game, policy, 0.0, ref(reached))),
            float(jaxgames.nash_conv(game, policy)),
            rtol=1e-5,
        )


@pytest.mark.slow
def test_markov_gradient_in_the_temperature():
    game = markov.random_zero_sum(jax.random.key(2), num_states=4, num_actions=2)
    policy = random_policy(game, jax.random.key(3))
    grad = float(jax.grad(lambda t: jaxgames.regularized_nash_conv(game, policy, t))(0.2))
    h = 1e-2
    fd = (
        float(jaxgames.regularized_nash_conv(game, policy, 0.2 + h))
        - float(jaxgames.regularized_nash_conv(game, policy, 0.2 - h))
    ) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-2)
