"""Building an ``EFGGame`` compiles no XLA program, and its NumPy-built tables are the jax.numpy ones.

``EFGGame`` computes its policy-free tables (``terminal_weights``, ``decision_weights`` and their
scatter-free grids) with NumPy on the host when ``payoffs`` and ``chance_prob`` are concrete
(``jaxgames.efg.sequence.host_tables``), and with the jax.numpy functions of
``jaxgames.efg.sequence`` when they are traced (``jax.vmap`` over payoffs). The jax.numpy route
compiled some 80 small XLA programs on a process's first game (about 1 s of CPU per test process,
2 s on 3-player Leduc); these tests fail if construction compiles again, or if the two routes
disagree by a single bit.
"""

import contextlib
import logging

import jax
import jax.numpy as jnp
import numpy as np

import jaxgames
from jaxgames.efg import EFGGame
from jaxgames.efg.sequence import decision_grid, decision_weights, sequence_form, terminal_grid, terminal_weights


class _CompileLog(logging.Handler):
    """Collects jax's "Finished XLA compilation of ..." records (logged at WARNING under
    ``jax_log_compiles``, by ``jax._src.dispatch`` / ``pxla`` in jax 0.4 to 0.10)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.names = []

    def emit(self, record):
        message = record.getMessage()
        if "XLA compilation" in message:
            self.names.append(message)


@contextlib.contextmanager
def compiles():
    """The XLA compilations inside the block, as a list of log messages."""
    handler, logger = _CompileLog(), logging.getLogger("jax")
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        with jax.log_compiles(True):
            yield handler.names
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_the_compile_counter_sees_a_compilation():
    """Positive control: the counter below is not vacuous (a fresh jitted function compiles)."""
    with compiles() as names:
        jax.jit(lambda x: x * 3.0 + 1.25)(np.arange(7.0)).block_until_ready()
    assert names, "no compilation seen: the jax_log_compiles message changed, fix _CompileLog"


def test_building_a_game_compiles_nothing():
    """A native game and an EFGGame with other payoffs and chance probabilities, built from a tree
    whose table shapes no other test uses (so an XLA cache filled elsewhere cannot hide a compile)."""
    with compiles() as names:
        game = jaxgames.efg.goofspiel(num_cards=3, points_order="random", returns_type="point_difference")
        tree = game.tree
        rng = np.random.default_rng(1)
        other = EFGGame(tree, payoffs=rng.normal(size=tree.payoffs.shape), chance_prob=tree.chance_prob * 0.75)
        jax.block_until_ready(jax.tree_util.tree_leaves((game, other)))
    assert names == [], f"EFGGame construction compiled {len(names)} XLA programs: {names[:5]}"
    assert tree.chance_prob.min() < 1.0  # the random point order: chance nodes on every path


def _jnp_tables(tree, payoffs, chance_prob):
    """The tables as the jax.numpy functions compute them (the route of traced inputs)."""
    sf = sequence_form(tree)
    p, c = jnp.asarray(payoffs), jnp.asarray(chance_prob)
    tw = [terminal_weights(sf, i, p, c) for i in range(tree.num_players)]
    dw = [decision_weights(sf, i, c) for i in range(tree.num_players)]
    tg = [terminal_grid(sf, i, w) for i, w in enumerate(tw)]
    dg = [decision_grid(sf, i, w) for i, w in enumerate(dw)]
    return (tuple(tw), tuple(dw), tuple(tg), tuple(dg))


def _assert_bitwise_equal(got, want):
    got, want = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a).view(np.uint8), np.asarray(b).view(np.uint8))


def test_host_tables_equal_the_jax_numpy_tables():
    """Bit for bit, on Leduc with random payoffs (float64, rounded to float32) and perturbed chance
    probabilities (products of 2 to 3 inexact float32 factors per path)."""
    rng = np.random.default_rng(0)
    leduc_tree = jaxgames.leduc_poker().tree
    leduc = EFGGame(
        leduc_tree,
        payoffs=rng.normal(size=leduc_tree.payoffs.shape),
        chance_prob=leduc_tree.chance_prob * rng.uniform(0.9, 1.0, size=leduc_tree.chance_prob.shape),
    )
    want = _jnp_tables(leduc.tree, leduc.payoffs, leduc.chance_prob)
    got = (leduc.terminal_weights, leduc.decision_weights, leduc._terminal_grids, leduc._decision_grids)
    _assert_bitwise_equal(got, want)
    assert isinstance(got[0][0], jax.Array) and got[0][0].dtype == leduc.payoffs.dtype


def test_traced_payoffs_take_the_jax_numpy_route():
    """Under ``jax.vmap`` over payoffs the tables are traced; each batch member equals the game built
    from that member's concrete payoffs (the NumPy route), bit for bit, on 3-player Kuhn."""
    tree = jaxgames.kuhn_poker(3, ante=0.3, bet=0.7).tree
    scales = jnp.asarray([0.3, 1.0, 3.7])
    batch = jax.vmap(lambda s: EFGGame(tree, payoffs=s * jnp.asarray(tree.payoffs, jnp.float32)))(scales)
    for k, s in enumerate(np.asarray(scales)):
        one = EFGGame(tree, payoffs=s * np.asarray(tree.payoffs, np.float32))
        member = jax.tree_util.tree_map(lambda x, k=k: x[k], batch)
        _assert_bitwise_equal(member, one)
