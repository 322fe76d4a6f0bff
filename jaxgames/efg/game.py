"""Tabular extensive-form games evaluated by array code.

``EFGGame`` holds a static ``Tree`` (the structure, hashed by identity) and two
array leaves, the chance probabilities and the terminal payoffs, so a batch of
variants with the same tree (other antes or bet sizes) is built and solved with
``jax.vmap``. A policy gives, per player, ``[num_infosets_i, max_actions]``
action probabilities with ``legal_mask()`` marking legal actions.

Every query runs on the sequence form (``jaxgames.efg.sequence``): realization
plans top-down over each player's own decision depth, one sparse payoff mat-vec
per player over the terminal histories, and counterfactual values bottom-up
over own depth:

* ``cfv_i[I, a] = sum_{h in I} r_{-i}(h) v_i(h a)``; ``evaluate`` reports
  ``action_values = cfv / r_{-i}(I)`` and ``opponent_reach = r_{-i}(I)``, so
  CFR's counterfactual values are their product, and ``reach`` is the player's
  own realization weight of each information set; ``counterfactual_values(policy, i)`` gives
  ``cfv_i`` itself (one mat-vec and one bottom-up pass: what CFR's regret update needs);
* best response: the same bottom-up pass with a max over legal actions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Evaluation, Game, Policy, as_float_array, check_finite
from jaxgames.efg import joint as efg_joint
from jaxgames.efg import regularized as efg_regularized
from jaxgames.efg.sequence import (
    bottom_up,
    bottom_up_levels,
    decision_grid,
    decision_weights,
    host_tables,
    opponent_reach,
    own_reach,
    realization_plan,
    row_reduce,
    sequence_form,
    sequence_values,
    terminal_grid,
    terminal_weights,
)
from jaxgames.efg.tree import Tree
from jaxgames.validation import is_concrete


def _host_float(x):
    """A NumPy float array in the dtype that ``as_float_array`` gives it (the default float dtype),
    else ``None`` (other inputs go to ``as_float_array`` as they are). Its device copy is made by
    ``jax.device_put``: ``jnp.asarray`` compiles a small XLA program per shape (jax 0.10)."""
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize <= 8:
        return x.astype(jnp.result_type(float), copy=False)
    return None


def _host_inputs(payoffs: jax.Array, chance_prob: jax.Array, host_payoffs, host_chance):
    """``(payoffs, chance_prob)`` as NumPy arrays for ``host_tables`` (``host_*`` where given), or
    ``None`` where the tables are left to jax.numpy: traced values, extra (batch) axes, or dtypes
    that are not one NumPy float type (float32 / float64) shared by both."""
    if not (is_concrete(payoffs) and is_concrete(chance_prob)):
        return None
    if payoffs.ndim != 2 or chance_prob.ndim != 1 or payoffs.dtype != chance_prob.dtype:
        return None
    if payoffs.dtype not in (np.float32, np.float64):
        return None
    return (
        np.asarray(payoffs) if host_payoffs is None else host_payoffs,
        np.asarray(chance_prob) if host_chance is None else host_chance,
    )


@jax.tree_util.register_pytree_node_class
class EFGGame(Game):
    """A tabular extensive-form game: static ``tree`` plus ``chance_prob`` and ``payoffs`` leaves.

    Construction also computes the policy-free tables of every query (per player
    ``terminal_weights [Z]``: ``chance(z) * payoff_i(z)``, ``decision_weights [M_i]``, and both laid
    out in blocks): with NumPy on the host when ``payoffs`` and ``chance_prob`` are concrete (no XLA
    program is compiled; ``jaxgames.efg.sequence.host_tables``), with jax.numpy when they are traced,
    e.g. ``jax.vmap(lambda s: EFGGame(tree, payoffs=s * tree.payoffs))(scales)``; same values.
    """

    def __init__(self, tree: Tree, payoffs=None, chance_prob=None, name: str = "efg"):
        self.tree = tree
        self.name = name
        payoffs = tree.payoffs if payoffs is None else payoffs
        chance_prob = tree.chance_prob if chance_prob is None else chance_prob
        host_payoffs, host_chance = _host_float(payoffs), _host_float(chance_prob)
        self.payoffs = as_float_array(payoffs if host_payoffs is None else jax.device_put(host_payoffs), "payoffs")
        self.chance_prob = as_float_array(
            chance_prob if host_chance is None else jax.device_put(host_chance), "chance_prob"
        )
        if self.payoffs.shape[-2:] != tree.payoffs.shape:
            raise ValueError(
                f"payoffs: expected shape {tree.payoffs.shape} [histories, players], got {tuple(self.payoffs.shape)}"
            )
        if self.chance_prob.shape[-1:] != tree.chance_prob.shape:
            raise ValueError(
                f"chance_prob: expected shape {tree.chance_prob.shape}, got {tuple(self.chance_prob.shape)}"
            )
        check_finite(self.payoffs if host_payoffs is None else host_payoffs, "payoffs")
        check_finite(self.chance_prob if host_chance is None else host_chance, "chance_prob")
        # The policy-free factors of every query, computed once here rather than in each call:
        # per player, chance(z) * payoff_i(z) at the terminals and chance's reach of the decision
        # histories (jaxgames.efg.sequence), and the same laid out for scatter-free sums
        # (terminal_grid / decision_grid).
        sf = sequence_form(tree)
        host = _host_inputs(self.payoffs, self.chance_prob, host_payoffs, host_chance)
        del host_payoffs, host_chance
        if host is not None:
            # Concrete inputs: NumPy on the host, each finished table moved to the device once (the
            # jax.numpy code below would compile some 80 small XLA programs on a process's first game).
            tw, dw, tg, dg = host_tables(sf, *host)
            del host
            self.terminal_weights = tuple(jax.device_put(w) for w in tw)
            self.decision_weights = tuple(jax.device_put(w) for w in dw)
            self._terminal_grids = tuple(tuple(jax.device_put(b) for b in g) for g in tg)
            self._decision_grids = tuple(tuple(jax.device_put(b) for b in g) for g in dg)
        else:
            # Traced (vmap over payoffs or chance_prob) or batched inputs: the same with jax.numpy.
            tw = self.terminal_weights = tuple(
                terminal_weights(sf, i, self.payoffs, self.chance_prob) for i in range(tree.num_players)
            )
            self.decision_weights = tuple(decision_weights(sf, i, self.chance_prob) for i in range(tree.num_players))
            self._terminal_grids = tuple(terminal_grid(sf, i, w) for i, w in enumerate(self.terminal_weights))
            self._decision_grids = tuple(decision_grid(sf, i, w) for i, w in enumerate(self.decision_weights))
        # All players' passes as one for nash_conv (jaxgames.efg.joint), small games only.
        self._joint_grids = (
            efg_joint.joint_grids(efg_joint.joint_form(tree), tw) if efg_joint.joint_applies(tree) else None
        )

    def tree_flatten(self):
        children = (
            self.payoffs,
            self.chance_prob,
            self.terminal_weights,
            self.decision_weights,
            self._terminal_grids,
            self._decision_grids,
            self._joint_grids,
        )
        return children, (self.tree, self.name)

    @classmethod
    def tree_unflatten(cls, aux, children):
        game = object.__new__(cls)
        game.tree, game.name = aux
        (
            game.payoffs,
            game.chance_prob,
            game.terminal_weights,
            game.decision_weights,
            game._terminal_grids,
            game._decision_grids,
            game._joint_grids,
        ) = children
        return game

    def __repr__(self):
        t = self.tree
        return (
            f"EFGGame({self.name}: {t.num_players} players, {t.num_histories} histories, "
            f"infosets {t.num_infosets}, {t.max_actions} actions)"
        )

    # -- the contract ------------------------------------------------------------
    @property
    def num_players(self) -> int:
        return self.tree.num_players

    def legal_mask(self) -> Policy:
        return tuple(jnp.asarray(m) for m in self.tree.legal)

    def legal_mask_host(self) -> tuple:
        return self.tree.legal

    # -- everything goes through the sequence form (see jaxgames.efg.sequence) -------------
    def _plans(self, policy: Policy) -> list:
        sf = sequence_form(self.tree)
        return [realization_plan(sf, j, pi) for j, pi in enumerate(policy)]

    def evaluate(self, policy: Policy) -> Evaluation:
        t, sf = self.tree, sequence_form(self.tree)
        plans = self._plans(policy)
        values, q, own, opp_reach = [], [], [], []
        for i, pi in enumerate(policy):
            u = sequence_values(sf, i, plans, self._terminal_grids[i])
            cfv, root = bottom_up_levels(sf, i, u, lambda q, p: row_reduce(p * q), (pi,))
            opp = opponent_reach(sf, i, plans, self._decision_grids[i], t.num_infosets[i])
            q.append(jnp.where(opp[:, None] > 0, cfv / jnp.where(opp > 0, opp, 1.0)[:, None], 0.0))
            values.append(root)
            opp_reach.append(opp)
            own.append(own_reach(sf, i, pi))
        return Evaluation(
            values=jnp.stack(values), action_values=tuple(q), reach=tuple(own), opponent_reach=tuple(opp_reach)
        )

    def counterfactual_values(self, policy: Policy, player: int) -> jax.Array:
        """``[n_I, A]``: player ``player``'s counterfactual action values
        ``cfv(I, a) = sum_{h in I} r_{-i}(h) v_i(h a)`` against ``policy``, CFR's regret signal.

        ``evaluate``'s ``opponent_reach * action_values`` (exactly, up to rounding; 0 where the
        opponent reach is 0), without the opponent reach, the division or the other players'
        passes: one payoff mat-vec and one bottom-up pass (``solvers.regret_matching`` uses it
        instead of ``evaluate``, so a subclass that changes ``evaluate`` must change it too).

        Example::

            >>> import jaxgames
            >>> g = jaxgames.kuhn_poker()
            >>> g.counterfactual_values(g.uniform_policy(), 0).shape
            (6, 2)
        """
        if not (isinstance(player, (int, np.integer)) and 0 <= player < self.num_players):
            raise ValueError(f"player: expected a player index 0..{self.num_players - 1}, got {player!r}")
        sf = sequence_form(self.tree)
        plans = [None if j == player else realization_plan(sf, j, pi) for j, pi in enumerate(policy)]
        u = sequence_values(sf, player, plans, self._terminal_grids[player])
        cfv, _ = bottom_up_levels(sf, player, u, lambda q, p: row_reduce(p * q), (policy[player],))
        return cfv

    def reach(self, policy: Policy) -> Policy:
        sf = sequence_form(self.tree)
        return tuple(own_reach(sf, i, pi) for i, pi in enumerate(policy))

    def sequence_gradient(self, policy: Policy) -> Policy:
        """Per player ``[n_I, A]``: ``u_i`` at the sequences ``(I, a)`` (see ``sequence_values``)."""
        sf = sequence_form(self.tree)
        plans = self._plans(policy)
        return tuple(
            sequence_values(sf, i, plans, self._terminal_grids[i])[1:].reshape(pi.shape) for i, pi in enumerate(policy)
        )

    def dilated_mirror_step(
        self, policy: Policy, grads: Policy, learning_rate, temperature=0.0, magnet: Policy | None = None
    ) -> Policy:
        """The dilated-entropy proximal step, solved bottom-up over each player's own depth.

        At an information set ``I`` whose action values ``Q`` are known, the
        local problem ``max_p <p, Q> - KL(p || pi_t) / eta - tau KL(p || rho)``
        has the solution ``p ∝ exp(L)``, ``L = (eta Q + log pi_t + eta tau log rho)
        / (1 + eta tau)``, and the value ``V(I) = (1 + eta tau) / eta * logsumexp(L)``;
        the parent's ``Q(I', a') = g(I', a') + sum of V over the information sets
        right below ``(I', a')``. This is the closed form of MMD with the dilated
        entropy (Sokota et al. 2023, Sec. 4; OpenSpiel's ``MMDDilatedEnt``).
        """
        sf = sequence_form(self.tree)
        out = []
        for i, (p, g, mask) in enumerate(zip(policy, grads, self.legal_mask())):
            rho = None if magnet is None else magnet[i]
            scale = (1.0 + learning_rate * temperature) / learning_rate

            def soft_value(q, p=p, rho=rho, mask=mask):
                logits = simplex.entropic_logits(p, q, learning_rate, temperature, rho)
                return scale * jax.nn.logsumexp(jnp.where(mask, logits, -jnp.inf), axis=-1)

            u = jnp.concatenate([jnp.zeros((1,), g.dtype), g.reshape(-1)])
            q, _ = bottom_up(sf, i, u, soft_value)
            out.append(simplex.entropic_step(p, q, mask, learning_rate, temperature, rho))
        return tuple(out)

    def _best_response(self, policy: Policy):
        """Per player: (pure best response, its value, the policy's value), one bottom-up pass with a max."""
        sf = sequence_form(self.tree)
        plans = self._plans(policy)
        out = []
        for i, mask in enumerate(self.legal_mask()):
            u = sequence_values(sf, i, plans, self._terminal_grids[i])
            best = lambda q, m: row_reduce(jnp.where(m, q, -jnp.inf), jnp.maximum)
            cfv, root = bottom_up_levels(sf, i, u, best, (mask,))
            # The policy's own value is <x_i, u_i> (sequence form), no second bottom-up pass needed.
            out.append((simplex.one_hot_argmax(cfv, mask), root, jnp.sum(plans[i] * u)))
        return out

    def best_response(self, policy: Policy) -> Policy:
        return tuple(br for br, _, _ in self._best_response(policy))

    def best_response_values(self, policy: Policy) -> jax.Array:
        return jnp.stack([value for _, value, _ in self._best_response(policy)])

    def nash_conv(self, policy: Policy) -> jax.Array:
        """``sum_i (BR value - value)``, sharing each player's payoff mat-vec between the two.

        Small games (``jaxgames.efg.joint.joint_applies``: up to 2^18 (player, terminal) pairs and 8
        actions) run all players' passes as one (``jaxgames.efg.joint``: half the kernels for two
        players, the same value up to rounding); others run player by player.
        """
        if self._joint_grids is not None:
            return efg_joint.joint_nash_conv(efg_joint.joint_form(self.tree), policy, self._joint_grids)
        return sum(best - value for _, best, value in self._best_response(policy))

    def regularized_nash_conv(self, policy: Policy, temperature, reference: Policy | None = None) -> jax.Array:
        """Gap to the dilated-KL-regularized equilibrium (``jaxgames.efg.regularized``): per player,
        soft best-response value minus ``u_i(pi) - tau sum_I x_i(I) KL(pi_i(I) || reference_i(I))``;
        ``nash_conv`` at ``tau = 0``, ``+inf`` where an own-reached KL is infinite."""
        return efg_regularized.regularized_nash_conv(self, policy, temperature, reference)
