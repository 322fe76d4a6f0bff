"""Tabular extensive-form games evaluated by array code.

``EFGGame`` holds a static ``Tree`` (the structure, hashed by identity) and two
array leaves, the chance probabilities and the terminal payoffs, so a batch of
variants with the same tree (other antes or bet sizes) is built and solved with
``jax.vmap``. A policy gives, per player, ``[num_infosets_i, max_actions]``
action probabilities with ``legal_mask()`` marking legal actions.

Every query is a fixed number of passes over the histories, level by level:

* reach: top-down, ``r[h, k] = r[parent, k] * p(edge)`` for the actor ``k``
  of the edge (players and chance kept apart, so opponents' reach is a product);
* values: bottom-up, ``v[parent] += p(edge) * v[h]``;
* counterfactual values ``cfv_i[I, a] = sum_{h in I} r_{-i}(h) v_i(child(h, a))``;
  ``evaluate`` reports ``action_values = cfv / r_{-i}(I)`` and ``opponent_reach``
  ``r_{-i}(I)``, so CFR's counterfactual values are their product;
* best response: the player's policy is replaced by the argmax of its
  counterfactual values, repeated as many times as the player can act on one
  path (``Tree.own_heights``), which makes it exact by induction from the leaves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames import simplex
from jaxgames.core import Evaluation, Game, Policy, as_float_array, check_finite
from jaxgames.efg.tree import CHANCE, Tree


@jax.tree_util.register_pytree_node_class
class EFGGame(Game):
    """A tabular extensive-form game: static ``tree`` plus ``chance_prob`` and ``payoffs`` leaves."""

    def __init__(self, tree: Tree, payoffs=None, chance_prob=None, name: str = "efg"):
        self.tree = tree
        self.name = name
        payoffs = tree.payoffs if payoffs is None else payoffs
        chance_prob = tree.chance_prob if chance_prob is None else chance_prob
        self.payoffs = as_float_array(payoffs, "payoffs")
        self.chance_prob = as_float_array(chance_prob, "chance_prob")
        if self.payoffs.shape[-2:] != tree.payoffs.shape:
            raise ValueError(f"payoffs: expected shape {tree.payoffs.shape} [histories, players], "
                             f"got {tuple(self.payoffs.shape)}")
        if self.chance_prob.shape[-1:] != tree.chance_prob.shape:
            raise ValueError(f"chance_prob: expected shape {tree.chance_prob.shape}, got {tuple(self.chance_prob.shape)}")
        check_finite(self.payoffs, "payoffs")
        check_finite(self.chance_prob, "chance_prob")

    def tree_flatten(self):
        return (self.payoffs, self.chance_prob), (self.tree, self.name)

    @classmethod
    def tree_unflatten(cls, aux, children):
        game = object.__new__(cls)
        game.tree, game.name = aux
        game.payoffs, game.chance_prob = children
        return game

    def __repr__(self):
        t = self.tree
        return (f"EFGGame({self.name}: {t.num_players} players, {t.num_histories} histories, "
                f"infosets {t.num_infosets}, {t.max_actions} actions)")

    # -- the contract ------------------------------------------------------------
    @property
    def num_players(self) -> int:
        return self.tree.num_players

    def legal_mask(self) -> Policy:
        return tuple(jnp.asarray(m) for m in self.tree.legal)

    def _edge_probs(self, policy: Policy) -> jax.Array:
        """``[H]`` probability of the edge into each history."""
        t = self.tree
        e = jnp.where(jnp.asarray(t.edge_actor == CHANCE), self.chance_prob, 0.0)
        e = jnp.where(jnp.asarray(t.edge_actor < 0) & jnp.asarray(t.edge_actor != CHANCE), 1.0, e)  # root
        for p, pi in enumerate(policy):
            mine = t.edge_actor == p
            probs = pi[jnp.asarray(np.where(mine, t.edge_infoset, 0)), jnp.asarray(t.edge_action)]
            e = jnp.where(jnp.asarray(mine), probs, e)
        return e

    def _reach(self, e: jax.Array) -> jax.Array:
        """``[H, N + 1]`` reach contributions of each player and (last column) chance."""
        t = self.tree
        n = t.num_players
        column = np.where(t.edge_actor == CHANCE, n, t.edge_actor)  # root: -2, matches no column
        onehot = jnp.asarray(column[:, None] == np.arange(n + 1)[None, :])
        factor = jnp.where(onehot, e[:, None], 1.0)
        r = jnp.ones((t.num_histories, n + 1), e.dtype)
        for d in range(1, t.max_depth + 1):
            idx = np.nonzero(t.depth == d)[0]
            r = r.at[idx].set(r[t.parent[idx]] * factor[idx])
        return r

    def _values(self, e: jax.Array) -> jax.Array:
        """``[H, N]`` expected payoffs below each history."""
        t = self.tree
        v = jnp.where(jnp.asarray(t.is_terminal)[:, None], self.payoffs, 0.0)
        for d in range(t.max_depth, 0, -1):
            idx = np.nonzero(t.depth == d)[0]
            v = v.at[t.parent[idx]].add(e[idx, None] * v[idx])
        return v

    def _counterfactual(self, i: int, v: jax.Array, opp: jax.Array):
        """Per infoset of player ``i``: summed ``r_-i * v_i(child)`` ``[n_I, A]`` and ``r_-i`` ``[n_I]``."""
        t = self.tree
        nodes, infos = t.decision_nodes[i], t.decision_infosets[i]
        n_inf = t.num_infosets[i]
        kids = t.children[nodes, :t.max_actions]
        child_v = jnp.where(jnp.asarray(kids >= 0), v[jnp.asarray(np.maximum(kids, 0)), i], 0.0)
        w = opp[nodes]
        cfv = jax.ops.segment_sum(w[:, None] * child_v, jnp.asarray(infos), num_segments=n_inf)
        opp_i = jax.ops.segment_sum(w, jnp.asarray(infos), num_segments=n_inf)
        return cfv, opp_i

    @staticmethod
    def _others(r: jax.Array, i: int) -> jax.Array:
        return jnp.prod(jnp.delete(r, i, axis=1, assume_unique_indices=True), axis=1)

    def evaluate(self, policy: Policy) -> Evaluation:
        t = self.tree
        e = self._edge_probs(policy)
        r = self._reach(e)
        v = self._values(e)
        q, own, opp_reach = [], [], []
        for i in range(t.num_players):
            cfv, opp_i = self._counterfactual(i, v, self._others(r, i))
            q.append(jnp.where(opp_i[:, None] > 0, cfv / jnp.where(opp_i > 0, opp_i, 1.0)[:, None], 0.0))
            opp_reach.append(opp_i)
            own.append(self._own_reach(r, i))
        return Evaluation(values=v[0], action_values=tuple(q), reach=tuple(own), opponent_reach=tuple(opp_reach))

    def _own_reach(self, r: jax.Array, i: int) -> jax.Array:
        t = self.tree
        return jax.ops.segment_max(r[t.decision_nodes[i], i], jnp.asarray(t.decision_infosets[i]),
                                   num_segments=t.num_infosets[i])

    def reach(self, policy: Policy) -> Policy:
        r = self._reach(self._edge_probs(policy))
        return tuple(self._own_reach(r, i) for i in range(self.num_players))

    def _best_response(self, policy: Policy):
        """Per player: (pure best response, its value)."""
        t = self.tree
        r = self._reach(self._edge_probs(policy))
        out = []
        for i in range(t.num_players):
            opp = self._others(r, i)
            mask = jnp.asarray(t.legal[i])

            def improve(_, br, i=i, opp=opp, mask=mask):
                pol = policy[:i] + (br,) + policy[i + 1:]
                cfv, _ = self._counterfactual(i, self._values(self._edge_probs(pol)), opp)
                return simplex.one_hot_argmax(cfv, mask)

            br = jax.lax.fori_loop(0, t.own_heights[i] + 1, improve, policy[i])
            pol = policy[:i] + (br,) + policy[i + 1:]
            out.append((br, self._values(self._edge_probs(pol))[0, i]))
        return out

    def best_response(self, policy: Policy) -> Policy:
        return tuple(br for br, _ in self._best_response(policy))

    def best_response_values(self, policy: Policy) -> jax.Array:
        return jnp.stack([value for _, value in self._best_response(policy)])
