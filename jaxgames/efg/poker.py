"""Kuhn and Leduc poker as tabular games, with antes and bet sizes as array leaves.

The trees come from the native rules in ``jaxgames.efg.rules`` (identical to
OpenSpiel's ``kuhn_poker`` / ``leduc_poker``). Payoffs are linear in the antes
and bet sizes, so each game stores one payoff basis per parameter, built once;
``kuhn_poker(bet=b)`` is then an array expression, and
``jax.vmap(lambda b: kuhn_poker(bet=b))(bets)`` builds a batch of variants that
``solvers.run`` solves in one call.

The tree's size is counted before it is built (``rules.count_histories``: one
deal's betting tree, in milliseconds to a second) and checked against ``max_histories`` and
``max_bytes``, so a game too large to tabulate (``kuhn_poker(num_players=8)``)
fails at once, naming the size argument and how to allow more.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxgames.core import check_positive
from jaxgames.efg import rules
from jaxgames.efg.game import EFGGame
from jaxgames.efg.tree import build_tree, check_tree_size
from jaxgames.validation import check_int, check_scalar, host_values, is_concrete

#: default ``max_histories`` of the poker constructors (as ``from_openspiel``'s)
MAX_HISTORIES = 1_000_000
#: built trees and payoff bases, by (game, size parameter)
_BASES: dict = {}


def _linear_basis(make_rules, num_params: int, max_histories: int, max_bytes):
    """The tree and ``[num_params, H, N]`` payoffs per unit of each parameter.

    Payoffs are linear in the parameters, but zero amounts would change the
    rules (a zero bet is no bet), so the basis is solved from ``num_params``
    positive settings and checked on another one. Only the first tree is kept.
    """
    settings = 1.0 + np.eye(num_params) + 0.5 * np.arange(num_params)[None, :]
    first, values = None, []
    for row in settings:
        tree = build_tree(make_rules(*row), max_histories=max_histories, max_bytes=max_bytes, tensors=first is None)
        if first is not None and tree.num_histories != first.num_histories:
            raise AssertionError("the tree shape depends on the payoff parameters")
        first = first or tree
        values.append(tree.payoffs)
    basis = np.tensordot(np.linalg.inv(settings), np.stack(values), axes=1)  # [K, H, N]
    probe = 1.0 + np.array([1.3, 0.7, 2.9, 1.1][:num_params])
    tree = build_tree(make_rules(*probe), max_histories=max_histories, max_bytes=max_bytes, tensors=False)
    if not np.allclose(np.tensordot(probe, basis, 1), tree.payoffs, atol=1e-9):
        raise AssertionError("payoffs are not linear in the game parameters")
    return first, basis


def _basis(name: str, size: int, field: str, size_rules, make_rules, num_params: int, max_histories, max_bytes):
    """The cached ``(tree, basis)`` of ``(name, size)``; sized first (``size_rules``' histories are
    counted, and raise naming ``field`` above ``max_histories`` or ``max_bytes``), then built with
    the same limits holding as the walks go."""
    max_histories = check_int(max_histories, "max_histories", low=1)
    if (name, size) not in _BASES:
        count, exact = rules.count_histories(size_rules)
        width = max(size_rules.num_distinct_actions(), size_rules.max_chance_outcomes())
        check_tree_size(count, size_rules.num_players(), width, field, max_histories, max_bytes, at_least=not exact)
        _BASES[name, size] = _linear_basis(make_rules, num_params, max_histories, max_bytes)
    else:
        tree = _BASES[name, size][0]
        check_tree_size(tree.num_histories, tree.num_players, tree.children.shape[1], field, max_histories, max_bytes)
    return _BASES[name, size]


def _payoffs(params, basis, fields: str):
    """``[H, N]`` payoffs ``sum_k params[k] basis[k]``; raises naming ``fields`` if concrete ones overflow."""
    dtype = jnp.result_type(float)
    if all(is_concrete(p) for p in params):
        # Concrete amounts: NumPy on the host, summed in parameter order in the default float dtype
        # (the values of the jax.numpy expression below, without compiling its XLA programs).
        amounts = np.stack([np.asarray(p) for p in params]).astype(dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, by field
            payoffs = amounts[0] * basis[0].astype(dtype)
            for k in range(1, len(params)):
                payoffs += amounts[k] * basis[k].astype(dtype)
    else:
        payoffs = jnp.tensordot(jnp.stack([jnp.asarray(p) for p in params]).astype(dtype), jnp.asarray(basis, dtype), 1)
    values = host_values(payoffs, fields)
    if values is not None and not np.all(np.isfinite(values)):
        raise ValueError(
            f"{fields}: the payoffs overflow {jnp.dtype(dtype).name} (largest finite "
            f"{float(jnp.finfo(dtype).max):.3g}); choose smaller amounts"
        )
    return payoffs


def kuhn_poker(
    num_players: int = 2, ante=1.0, bet=1.0, max_histories: int = MAX_HISTORIES, max_bytes: int | None = None
) -> EFGGame:
    """Kuhn poker, the same game as OpenSpiel's ``kuhn_poker`` (``players=num_players``).

    Cards ``0..N``, one each, ante ``ante``, actions pass (0) / bet (1) of size
    ``bet``. Two players: 58 histories, 6 information sets each, first-player
    value ``-1/18`` with the defaults. ``ante`` and ``bet`` may be traced.
    The tree grows as ``(N + 1)! N 2^N``: 5 players have 116k histories, 6 players
    1.9M (above the default ``max_histories``; pass a larger one to build it, slowly),
    10 players 4e11 (beyond any machine).
    """
    n = check_int(num_players, "num_players", 2, 10)
    for value, field in ((ante, "ante"), (bet, "bet")):
        check_scalar(value, field)  # a finite number (traced: passes), ...
        check_positive(value, field)  # ... and positive
    tree, basis = _basis(
        "kuhn",
        n,
        "num_players",
        rules.kuhn_poker_rules(n),
        lambda ante, bet: rules.kuhn_poker_rules(n, ante, bet),
        2,
        max_histories,
        max_bytes,
    )
    return EFGGame(tree, payoffs=_payoffs((ante, bet), basis, "ante, bet"), name=f"kuhn_poker(players={n})")


def leduc_poker(
    ante=1.0,
    raise_amounts=(2.0, 4.0),
    max_raises: int = 2,
    max_histories: int = MAX_HISTORIES,
    max_bytes: int | None = None,
) -> EFGGame:
    """Leduc poker, the same game as OpenSpiel's ``leduc_poker`` with the defaults.

    Six cards (three ranks, two suits), ante ``ante``, two betting rounds with
    raises of ``raise_amounts`` and at most ``max_raises`` raises per round,
    actions fold (0) / call (1) / raise (2). 9,457 histories, 468 information
    sets per player. ``ante`` and ``raise_amounts`` may be traced; the tree grows
    as ``max_raises^2`` (checked against ``max_histories`` and ``max_bytes``).
    """
    if isinstance(raise_amounts, (str, bytes)) or not hasattr(raise_amounts, "__len__") or len(raise_amounts) != 2:
        raise ValueError(f"raise_amounts: expected two amounts (round 1, round 2), got {raise_amounts!r}")
    k = check_int(max_raises, "max_raises", low=0)
    for value, field in ((ante, "ante"), *((r, f"raise_amounts[{i}]") for i, r in enumerate(raise_amounts))):
        check_scalar(value, field)  # a finite number (traced: passes), ...
        check_positive(value, field)  # ... and positive
    tree, basis = _basis(
        "leduc",
        k,
        "max_raises",
        rules.leduc_poker_rules(2, max_raises=k),
        lambda ante, r1, r2: rules.leduc_poker_rules(2, ante, (r1, r2), k),
        3,
        max_histories,
        max_bytes,
    )
    name = "leduc_poker()" if k == 2 else f"leduc_poker_max_raises_{k}"
    return EFGGame(tree, payoffs=_payoffs((ante, *raise_amounts), basis, "ante, raise_amounts"), name=name)
