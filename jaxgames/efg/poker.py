"""Kuhn and Leduc poker as tabular games, with antes and bet sizes as array leaves.

The trees come from the native rules in ``jaxgames.efg.rules`` (identical to
OpenSpiel's ``kuhn_poker`` / ``leduc_poker``). Payoffs are linear in the antes
and bet sizes, so each game stores one payoff basis per parameter, built once;
``kuhn_poker(bet=b)`` is then an array expression, and
``jax.vmap(lambda b: kuhn_poker(bet=b))(bets)`` builds a batch of variants that
``solvers.run`` solves in one call.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np

from jaxgames.core import check_positive
from jaxgames.efg import rules
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import build_tree


def _linear_basis(make_rules, num_params: int):
    """The tree and ``[num_params, H, N]`` payoffs per unit of each parameter.

    Payoffs are linear in the parameters, but zero amounts would change the
    rules (a zero bet is no bet), so the basis is solved from ``num_params``
    positive settings and checked on another one.
    """
    settings = 1.0 + np.eye(num_params) + 0.5 * np.arange(num_params)[None, :]
    trees = [build_tree(make_rules(*row)) for row in settings]
    if len({t.num_histories for t in trees}) != 1:
        raise AssertionError("the tree shape depends on the payoff parameters")
    values = np.stack([t.payoffs for t in trees])                      # [K, H, N]
    basis = np.tensordot(np.linalg.inv(settings), values, axes=1)      # [K, H, N]
    probe = 1.0 + np.array([1.3, 0.7, 2.9, 1.1][:num_params])
    tree = build_tree(make_rules(*probe))
    if not np.allclose(np.tensordot(probe, basis, 1), tree.payoffs, atol=1e-9):
        raise AssertionError("payoffs are not linear in the game parameters")
    return trees[0], basis


@functools.lru_cache(maxsize=None)
def _kuhn(num_players: int):
    return _linear_basis(lambda ante, bet: rules.kuhn_poker_rules(num_players, ante, bet), 2)


@functools.lru_cache(maxsize=None)
def _leduc(max_raises: int):
    return _linear_basis(lambda ante, r1, r2: rules.leduc_poker_rules(2, ante, (r1, r2), max_raises), 3)


def kuhn_poker(num_players: int = 2, ante=1.0, bet=1.0) -> EFGGame:
    """Kuhn poker, the same game as OpenSpiel's ``kuhn_poker`` (``players=num_players``).

    Cards ``0..N``, one each, ante ``ante``, actions pass (0) / bet (1) of size
    ``bet``. Two players: 58 histories, 6 information sets each, first-player
    value ``-1/18`` with the defaults. ``ante`` and ``bet`` may be traced.
    """
    if not 2 <= int(num_players) <= 10:
        raise ValueError(f"num_players: expected 2..10, got {num_players}")
    check_positive(ante, "ante")
    check_positive(bet, "bet")
    tree, basis = _kuhn(int(num_players))
    payoffs = jnp.tensordot(jnp.stack([jnp.asarray(ante), jnp.asarray(bet)]).astype(jnp.result_type(float)),
                            jnp.asarray(basis, jnp.result_type(float)), 1)
    return EFGGame(tree, payoffs=payoffs, name=f"kuhn_poker(players={int(num_players)})")


def leduc_poker(ante=1.0, raise_amounts=(2.0, 4.0), max_raises: int = 2) -> EFGGame:
    """Leduc poker, the same game as OpenSpiel's ``leduc_poker`` with the defaults.

    Six cards (three ranks, two suits), ante ``ante``, two betting rounds with
    raises of ``raise_amounts`` and at most ``max_raises`` raises per round,
    actions fold (0) / call (1) / raise (2). 9,457 histories, 468 information
    sets per player. ``ante`` and ``raise_amounts`` may be traced.
    """
    if len(raise_amounts) != 2:
        raise ValueError(f"raise_amounts: expected two amounts (round 1, round 2), got {raise_amounts!r}")
    if int(max_raises) < 0:
        raise ValueError(f"max_raises: expected an integer >= 0, got {max_raises}")
    check_positive(ante, "ante")
    for k, r in enumerate(raise_amounts):
        check_positive(r, f"raise_amounts[{k}]")
    tree, basis = _leduc(int(max_raises))
    params = jnp.stack([jnp.asarray(ante), jnp.asarray(raise_amounts[0]), jnp.asarray(raise_amounts[1])])
    payoffs = jnp.tensordot(params.astype(jnp.result_type(float)), jnp.asarray(basis, jnp.result_type(float)), 1)
    name = "leduc_poker()" if int(max_raises) == 2 else f"leduc_poker_max_raises_{int(max_raises)}"
    return EFGGame(tree, payoffs=payoffs, name=name)
