"""Classic Markov games: Littman's grid soccer, grid pursuit-evasion, the iterated prisoner's dilemma.

Grid games are built once per size as sparse NumPy transitions (cached: a few entries per state and
joint action, plus the probability of restarting from the initial distribution after a goal or a
capture). ``sparse=False`` expands them to dense ``MarkovGame`` tensors of the default float dtype in one
compiled scatter, so building a game holds one dense transition tensor, whose bytes are checked against
``max_bytes`` before anything is built (see ``jaxgames.validation``); ``sparse=True`` returns a
``SparseMarkovGame`` with ``B`` explicit next states per (state, joint action) (2 in soccer: the two
move orders; 4 in pursuit-evasion: the slip outcomes) and ``restart``, ``O(S)`` memory (``grid_soccer(6,
7)``, 3,444 states: ~2 MB instead of 1.2 GB in float32). ``sparse=None`` is dense unless the dense tensor
would pass ``jaxgames.markov.game.SPARSE_ABOVE_BYTES`` (256 MiB; soccer from 5 x 6, pursuit-evasion from 6
x 7), and is the default. ``discount``,
``draw_probability`` and ``slip`` are leaves (they may be traced, e.g.
``jax.vmap(lambda g: grid_soccer(discount=g))(discounts)``). Grid coordinates are ``(row, col)`` with
row 0 at the top; actions are ``0 N (row - 1), 1 S (row + 1), 2 E (col + 1), 3 W (col - 1), 4 stay``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import as_float_array, check_finite
from jaxgames.markov.game import SPARSE_ABOVE_BYTES, MarkovGame, SparseMarkovGame
from jaxgames.validation import (
    check_bool,
    check_int,
    check_scalar,
    check_table,
    check_table_bytes,
    host_values,
    table_bytes,
)

MOVES = np.array([[-1, 0], [1, 0], [0, 1], [0, -1], [0, 0]])
ACTION_NAMES = ("N", "S", "E", "W", "stay")
#: the action a 180-degree rotation of the board maps each action to (N <-> S, E <-> W)
ROTATED_ACTION = np.array([1, 0, 3, 2, 4])


def _check_grid(rows, cols):
    rows, cols = check_int(rows, "rows", low=1), check_int(cols, "cols", low=1)
    if rows * cols < 2:
        raise ValueError(f"rows, cols: expected a grid with at least 2 cells, got {rows} x {cols}")
    return rows, cols


def _check_grid_bytes(num_states: int, max_bytes, dtype=None) -> None:
    """Raise before building a ``[S, 5, 5, S]`` transition tensor above ``max_bytes``."""
    check_table(
        (num_states, 5, 5, num_states),
        "rows, cols",
        f"the transition tensor [{num_states}, 5, 5, {num_states}]",
        max_bytes,
        dtype,
    )


#: host memory per sparse entry while the cached Python model of a grid game is built (dict entries, lists)
_HOST_ENTRY_BYTES = 250


def _use_sparse(sparse, num_states: int, max_bytes, branching: int) -> bool:
    """Resolve ``sparse`` (``None``: above ``SPARSE_ABOVE_BYTES`` dense) and check the chosen storage's bytes."""
    if sparse is None:
        sparse = table_bytes((num_states, 5, 5, num_states)) > SPARSE_ABOVE_BYTES
    sparse = check_bool(sparse, "sparse")
    if sparse:
        entries = num_states * 25 * branching
        check_table_bytes(
            entries * (2 * table_bytes((1,)) + _HOST_ENTRY_BYTES),
            "rows, cols",
            f"the sparse transitions [{num_states}, 5, 5, {branching}] (next states and probabilities, and the "
            "Python tables that build them)",
            max_bytes,
        )
    else:
        _check_grid_bytes(num_states, max_bytes)
    return sparse


def _slots(rows: np.ndarray, num_rows: int) -> tuple[np.ndarray, int]:
    """Each entry's position among the entries of its row (``rows`` sorted) and the most per row ``B``."""
    counts = np.bincount(rows, minlength=num_rows)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return (np.arange(len(rows)) - starts[rows]).astype(np.int32), max(int(counts.max(initial=0)), 1)


@functools.lru_cache(maxsize=8)
def _padded_next(model_name: str, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, int]:
    """``(next_states [S * 25, B], slot [entries], B)`` of a grid model (padding: state 0, probability 0)."""
    m = (_soccer_model if model_name == "soccer" else _pursuit_model)(rows, cols)
    n = len(m["states"])
    slot, b = _slots(m["rows"], n * 25)
    nxt = np.zeros((n * 25, b), np.int32)
    nxt[m["rows"], slot] = m["nexts"]
    return nxt, slot, b


def _sparse_game(model_name, rows, cols, weights, restart, reward, initial, discount) -> SparseMarkovGame:
    """A ``SparseMarkovGame`` from a grid model's entries ``weights`` and ``restart`` / ``reward [S, 5, 5]``."""
    m = (_soccer_model if model_name == "soccer" else _pursuit_model)(rows, cols)
    nxt, slot, b = _padded_next(model_name, rows, cols)
    n = len(m["states"])
    probs = jnp.zeros((n * 25, b), weights.dtype).at[m["rows"], slot].add(weights)
    return SparseMarkovGame(
        nxt.reshape(n, 5, 5, b), probs.reshape(n, 5, 5, b), jnp.stack([reward, -reward]), discount, initial, restart
    )


def _pairs(rows: int, cols: int) -> tuple[np.ndarray, dict]:
    """All ordered pairs of distinct cells (flattened ``row * cols + col``) and their index."""
    cells = rows * cols
    pairs = np.array([(a, b) for a in range(cells) for b in range(cells) if a != b])
    return pairs, {(int(a), int(b)): k for k, (a, b) in enumerate(pairs)}


@functools.partial(jax.jit, static_argnums=(5,))
def _dense(rows, nexts, weights, reset, initial, num_states: int):
    """``[S, 5, 5, S]``: ``reset[s, a, b] initial[s']`` plus the sparse entries ``weights`` at
    ``(rows, nexts)`` (``rows`` index the flattened ``[S * 25]`` state-action axis). Compiled, so the
    scatter updates the one dense buffer in place."""
    table = reset.reshape(-1, 1) * initial[None, :]
    table = table.at[rows, nexts].add(weights)
    return table.reshape(num_states, 5, 5, num_states)


def _dtype():
    return jnp.result_type(float)


# -- Littman's soccer ----------------------------------------------------------------------------
def _soccer_num_states(rows: int, cols: int) -> int:
    cells = rows * cols
    return 2 * cells * (cells - 1)


def _soccer_states(rows: int, cols: int) -> np.ndarray:
    """``[S, 3]``: (cell of A, cell of B, ball holder), A and B on distinct cells."""
    pairs, _ = _pairs(rows, cols)
    return np.array([(a, b, h) for a, b in pairs for h in (0, 1)])


@functools.lru_cache(maxsize=8)
def _soccer_model(rows: int, cols: int) -> dict:
    """Sparse grid soccer: ``states [S, 3]`` (cell of A, cell of B, holder), ``start``, ``goal_rows``,
    ``initial [S]``, ``reward [S, 5, 5]`` (player A's), ``reset [S, 5, 5]`` (the probability of a
    goal, after which play restarts from ``initial``) and the other transitions as entries
    ``rows`` (``s * 25 + 5 a + b``), ``nexts``, ``weights``."""
    states = _soccer_states(rows, cols)
    sindex = {tuple(int(v) for v in s): k for k, s in enumerate(states)}
    n = len(states)
    goal_rows = {rows // 2 - 1, rows // 2} if rows % 2 == 0 else {rows // 2}
    # kick-off: A right of centre, B left of centre, related by the 180-degree rotation
    start_a = (rows // 2 - 1 if rows > 1 else 0, cols - 2 if cols > 2 else cols - 1)
    start_b = (rows - 1 - start_a[0], cols - 1 - start_a[1])
    if start_a == start_b:
        raise ValueError(f"rows, cols: a {rows} x {cols} pitch has no two distinct kick-off cells")
    start = (start_a[0] * cols + start_a[1], start_b[0] * cols + start_b[1])
    initial = np.zeros(n)
    initial[sindex[(*start, 0)]] = initial[sindex[(*start, 1)]] = 0.5

    def move(pos, holder, player, action):
        """One player's move; returns (positions, holder, scorer or -1)."""
        r, c = divmod(pos[player], cols)
        dr, dc = MOVES[action]
        nr, nc = r + dr, c + dc
        if holder == player and nr in goal_rows and (nc < 0 or nc >= cols) and 0 <= nr < rows:
            # A (player 0) attacks the left goal, B the right one; an own goal counts for the other
            return pos, holder, (0 if nc < 0 else 1)
        if not (0 <= nr < rows and 0 <= nc < cols):
            return pos, holder, -1  # the touchline: the move does not happen
        target = nr * cols + nc
        other = 1 - player
        if target == pos[other]:  # bump: the stationary player gets the ball
            return pos, other, -1
        new = list(pos)
        new[player] = target
        return tuple(new), holder, -1

    reset, reward = np.zeros((n, 5, 5)), np.zeros((n, 5, 5))
    entries = {}
    for k, (a, b, h) in enumerate(states):
        for x in range(5):
            for y in range(5):
                acts = (x, y)
                for order in ((0, 1), (1, 0)):
                    pos, holder, scorer = (int(a), int(b)), int(h), -1
                    for player in order:
                        pos, holder, scorer = move(pos, holder, player, acts[player])
                        if scorer >= 0:
                            break
                    if scorer >= 0:
                        reward[k, x, y] += 0.5 * (1.0 if scorer == 0 else -1.0)
                        reset[k, x, y] += 0.5
                    else:
                        key = (k * 25 + x * 5 + y, sindex[(*pos, holder)])
                        entries[key] = entries.get(key, 0.0) + 0.5
    keys = sorted(entries)
    return dict(
        states=states,
        start=start,
        goal_rows=tuple(sorted(goal_rows)),
        initial=initial,
        reward=reward,
        reset=reset,
        rows=np.array([r for r, _ in keys], np.int32).reshape(-1),
        nexts=np.array([c for _, c in keys], np.int32).reshape(-1),
        weights=np.array([entries[k] for k in keys]),
    )


def soccer_tables(rows: int = 4, cols: int = 5, max_bytes: int | None = None) -> dict:
    """NumPy tables of grid soccer: ``transitions [S, 5, 5, S]`` (float64), ``reward [S, 5, 5]`` (player
    A's), ``initial [S]``, ``states`` ``[S, 3]`` = (cell of A, cell of B, ball holder 0 = A / 1 = B),
    ``start`` = (cell of A, cell of B) of the kick-off. ``max_bytes`` bounds the dense transitions."""
    rows, cols = _check_grid(rows, cols)
    _check_grid_bytes(_soccer_num_states(rows, cols), max_bytes, np.float64)
    m = _soccer_model(rows, cols)
    P = m["reset"][..., None] * m["initial"]
    n = len(m["states"])
    np.add.at(P.reshape(n * 25, n), (m["rows"], m["nexts"]), m["weights"])
    return dict(
        transitions=P,
        reward=m["reward"],
        initial=m["initial"],
        states=m["states"],
        start=m["start"],
        goal_rows=m["goal_rows"],
    )


def soccer_symmetry(rows: int = 4, cols: int = 5) -> np.ndarray:
    """``[S]``: the state that the 180-degree rotation with the players' roles swapped maps each state to.

    State (A at ``x``, B at ``y``, holder ``h``) maps to (A at ``rot(y)``, B at
    ``rot(x)``, holder ``1 - h``), actions map by ``ROTATED_ACTION``; the game
    is invariant under it (player 0 and player 1 exchanged), so its value from
    the kick-off is 0.
    """
    rows, cols = _check_grid(rows, cols)
    states = _soccer_states(rows, cols)
    cells = rows * cols
    index = {tuple(int(v) for v in s): k for k, s in enumerate(states)}
    rot = lambda c: cells - 1 - c  # noqa: E731  (row, col) -> (rows-1-row, cols-1-col)
    return np.array([index[(rot(b), rot(a), 1 - h)] for a, b, h in states])


def grid_soccer(
    rows: int = 4,
    cols: int = 5,
    discount: float = 0.9,
    draw_probability: float = 0.0,
    max_bytes: int | None = None,
    sparse: bool | None = None,
) -> MarkovGame:
    """Littman's (1994) two-player zero-sum grid soccer (player 0 = A, player 1 = B).

    Rules (Littman 1994, "Markov games as a framework for multi-agent
    reinforcement learning", Sec. 5): a ``rows x cols`` pitch (4 x 5), the two
    players on distinct cells, one holding the ball. Both choose N/S/E/W/stay
    simultaneously; the two moves are then executed in a random order (each
    order with probability 1/2). A move onto the other player's cell does not
    happen and the ball goes to the stationary player. A move off the pitch
    does not happen, except that the ball holder moving off the left edge in
    a goal row (the middle two rows) scores for A and off the right edge in a
    goal row scores for B (so a holder running into its own goal scores for the
    opponent); a goal ends the step (the second move is void), the scorer gets
    +1, the other -1, and play restarts from the kick-off: A at row 1, column 3,
    B at row 2, column 1 (images under the 180-degree rotation), the ball given
    to either at random. Discount 0.9 as in the paper.
    ``draw_probability`` (default 0): at each step the game is declared a draw
    with this probability and restarts from the kick-off with no reward (the
    device Littman used during training to keep games from stalling).
    The game is symmetric under the rotation with the roles exchanged
    (``soccer_symmetry``), so its minimax value from the kick-off is exactly 0.
    ``S = 2 c (c - 1)`` states for ``c = rows * cols`` cells; ``max_bytes`` bounds the
    ``[S, 5, 5, S]`` transition tensor (the sparse arrays with ``sparse``). ``sparse``: a
    ``SparseMarkovGame`` (2 next states per joint action plus the restart after a goal or draw);
    ``None`` (default): when the dense tensor would pass 256 MiB (see the module docstring).
    """
    rows, cols = _check_grid(rows, cols)
    p = check_scalar(draw_probability, "draw_probability", 0.0, 1.0)
    sparse = _use_sparse(sparse, _soccer_num_states(rows, cols), max_bytes, 2)
    m = _soccer_model(rows, cols)
    dtype = _dtype()
    p = p.astype(dtype)
    initial = jnp.asarray(m["initial"], dtype)
    if sparse:
        weights = (1.0 - p) * jnp.asarray(m["weights"], dtype)
        restart = (1.0 - p) * jnp.asarray(m["reset"], dtype) + p
        R = (1.0 - p) * jnp.asarray(m["reward"], dtype)
        return _sparse_game("soccer", rows, cols, weights, restart, R, initial, discount)
    P = _dense(
        m["rows"],
        m["nexts"],
        (1.0 - p) * jnp.asarray(m["weights"], dtype),
        (1.0 - p) * jnp.asarray(m["reset"], dtype) + p,
        initial,
        len(m["states"]),
    )
    R = (1.0 - p) * jnp.asarray(m["reward"], dtype)
    return MarkovGame(P, jnp.stack([R, -R]), discount, initial)


# -- pursuit-evasion -----------------------------------------------------------------------------
#: the four outcomes of the two moves (pursuer fails, evader fails), each failing with probability ``slip``
_SLIPS = ((False, False), (False, True), (True, False), (True, True))


def _slip_weights(slip) -> jax.Array:
    """``[4]``: the probability of each outcome in ``_SLIPS``."""
    keep = 1.0 - slip
    return jnp.stack([keep * keep, keep * slip, slip * keep, slip * slip])


@functools.lru_cache(maxsize=8)
def _pursuit_model(rows: int, cols: int) -> dict:
    """Sparse pursuit-evasion for any ``slip``: ``states [S, 2]`` (pursuer cell, evader cell);
    ``capture [S, 5, 5, 4]`` (1 where outcome ``_SLIPS[j]`` captures); the other transitions as
    entries ``rows`` (``s * 25 + 5 a + b``), ``nexts`` and ``outcome`` (an index into ``_SLIPS``)."""
    pairs, index = _pairs(rows, cols)
    n = len(pairs)

    def moved(cell, action):
        r, c = divmod(cell, cols)
        nr, nc = r + MOVES[action][0], c + MOVES[action][1]
        return nr * cols + nc if (0 <= nr < rows and 0 <= nc < cols) else cell

    capture = np.zeros((n, 5, 5, 4))
    flat, nexts, outcome = [], [], []
    for k, (p, e) in enumerate(pairs):
        for x in range(5):
            for y in range(5):
                # each move fails (the player stays) independently with probability `slip`
                for j, (fail_p, fail_e) in enumerate(_SLIPS):
                    p2, e2 = moved(int(p), 4 if fail_p else x), moved(int(e), 4 if fail_e else y)
                    if p2 == e2 or (p2 == e and e2 == p):  # same cell, or crossing paths
                        capture[k, x, y, j] = 1.0
                    else:
                        flat.append(k * 25 + x * 5 + y)
                        nexts.append(index[(p2, e2)])
                        outcome.append(j)
    return dict(
        states=pairs,
        initial=np.full(n, 1.0 / n),
        capture=capture,
        rows=np.array(flat, np.int32),
        nexts=np.array(nexts, np.int32),
        outcome=np.array(outcome, np.int32),
    )


def _pursuit_num_states(rows: int, cols: int) -> int:
    cells = rows * cols
    return cells * (cells - 1)


def pursuit_tables(rows: int, cols: int, slip: float, max_bytes: int | None = None) -> dict:
    """NumPy tables of pursuit-evasion (float64): ``transitions [S, 5, 5, S]``, ``reward [S, 5, 5]``
    (the pursuer's: the capture probability), ``initial [S]``, ``states [S, 2]`` = (pursuer cell,
    evader cell), distinct. ``max_bytes`` bounds the dense transitions."""
    rows, cols = _check_grid(rows, cols)
    check_scalar(slip, "slip", 0.0, 1.0)
    slip = float(slip)  # NumPy tables: a concrete slip (pursuit_evasion takes a traced one)
    _check_grid_bytes(_pursuit_num_states(rows, cols), max_bytes, np.float64)
    m = _pursuit_model(rows, cols)
    w = np.array([(1 - slip) ** 2, (1 - slip) * slip, slip * (1 - slip), slip**2])
    reward = m["capture"] @ w
    n = len(m["states"])
    P = reward[..., None] * m["initial"]
    np.add.at(P.reshape(n * 25, n), (m["rows"], m["nexts"]), w[m["outcome"]])
    return dict(transitions=P, reward=reward, initial=m["initial"], states=m["states"])


def pursuit_evasion(
    rows: int = 3,
    cols: int = 3,
    discount: float = 0.9,
    slip: float = 0.0,
    max_bytes: int | None = None,
    sparse: bool | None = None,
) -> MarkovGame:
    """Two-player zero-sum grid pursuit-evasion: player 0 pursues, player 1 evades.

    States are the ordered pairs of distinct cells (pursuer, evader) of a
    ``rows x cols`` grid. Both move simultaneously (N/S/E/W/stay; a move off the
    grid, or one that fails with probability ``slip``, leaves the player where it
    is). The evader is captured when both end on the same cell or swap cells
    (they cross); the pursuer then gets +1 and the evader -1, and play restarts
    from a uniformly random pair of distinct cells (also the initial
    distribution). There is no other reward, so the pursuer's value is the
    expected discounted number of captures (at most ``1 / (1 - discount)``).
    ``S = c (c - 1)`` states for ``c = rows * cols`` cells; ``max_bytes`` bounds the
    ``[S, 5, 5, S]`` transition tensor (the sparse arrays with ``sparse``). ``sparse``: a
    ``SparseMarkovGame`` (up to 4 next states per joint action, the slip outcomes, plus the restart
    after a capture); ``None`` (default): when the dense tensor would pass 256 MiB.
    """
    rows, cols = _check_grid(rows, cols)
    slip = check_scalar(slip, "slip", 0.0, 1.0)
    sparse = _use_sparse(sparse, _pursuit_num_states(rows, cols), max_bytes, 4)
    m = _pursuit_model(rows, cols)
    dtype = _dtype()
    w = _slip_weights(slip.astype(dtype))
    capture = jnp.asarray(m["capture"], dtype) @ w
    initial = jnp.asarray(m["initial"], dtype)
    if sparse:
        return _sparse_game("pursuit", rows, cols, w[m["outcome"]], capture, capture, initial, discount)
    P = _dense(m["rows"], m["nexts"], w[m["outcome"]], capture, initial, len(m["states"]))
    return MarkovGame(P, jnp.stack([capture, -capture]), discount, initial)


# -- iterated matrix games with memory-one states ---------------------------------------------
#: state names of the iterated 2x2 games: the start, then the last joint action (player 0's first)
IPD_STATES = ("start", "CC", "CD", "DC", "DD")
_PLAYER1_VIEW = np.array([0, 1, 3, 2, 4])  # own-perspective (mine, theirs) -> state index, for player 1


def iterated_matrix_game(A, B, discount: float = 0.9) -> MarkovGame:
    """A 2x2 bimatrix game ``(A, B)`` repeated forever, with memory-one states.

    Five states: ``start`` and the last joint action ``(a_0, a_1)`` in the order
    CC, CD, DC, DD (action 0 = C, 1 = D; state ``1 + 2 a_0 + a_1``). Every joint
    action moves deterministically to the state that records it; rewards are the
    stage payoffs ``A[a_0, a_1]``, ``B[a_0, a_1]``. Stationary policies on these
    states are exactly the memory-one strategies (Press & Dyson 2012).
    """
    A, B = as_float_array(A, "A"), as_float_array(B, "B")
    if A.shape != (2, 2):
        raise ValueError(f"A: expected a 2x2 payoff matrix, got shape {tuple(A.shape)}")
    if B.shape != (2, 2):
        raise ValueError(f"B: expected a 2x2 payoff matrix (as A), got shape {tuple(B.shape)}")
    check_finite(A, "A")
    check_finite(B, "B")
    P = np.zeros((5, 2, 2, 5))
    for a0 in range(2):
        for a1 in range(2):
            P[:, a0, a1, 1 + 2 * a0 + a1] = 1.0
    rewards = jnp.stack([jnp.broadcast_to(A, (5, 2, 2)), jnp.broadcast_to(B, (5, 2, 2))])
    initial = np.eye(5)[0]
    return MarkovGame(jnp.asarray(P, rewards.dtype), rewards, discount, jnp.asarray(initial, rewards.dtype))


def iterated_prisoners_dilemma(
    temptation: float = 5.0, reward: float = 3.0, punishment: float = 1.0, sucker: float = 0.0, discount: float = 0.9
) -> MarkovGame:
    """The iterated prisoner's dilemma with memory-one states (T=5, R=3, P=1, S=0 by default).

    Actions 0 = cooperate, 1 = defect; see ``iterated_matrix_game`` for the states.
    Mutual cooperation (e.g. tit-for-tat against itself) is worth ``R / (1 - discount)``,
    mutual defection ``P / (1 - discount)``; tit-for-tat is a best response to
    itself iff ``discount >= max((T - R) / (T - P), (T - R) / (R - S))`` (Axelrod 1984).
    """
    t, r, p, s = (
        check_scalar(v, name)
        for v, name in ((temptation, "temptation"), (reward, "reward"), (punishment, "punishment"), (sucker, "sucker"))
    )
    A = jnp.stack([jnp.stack([r, s]), jnp.stack([t, p])]).astype(_dtype())
    return iterated_matrix_game(A, A.T, discount)


def memory_one_policy(cooperate, player: int = 0):
    """``[5, 2]`` policy of ``player`` from its probabilities of cooperating in its own view.

    ``cooperate`` = (start, after CC, after CD, after DC, after DD) where the
    pair is (my last action, the other's last action); e.g. tit-for-tat is
    ``(1, 1, 0, 1, 0)``, always-defect ``(0, 0, 0, 0, 0)``. ``cooperate`` may be
    traced (its values are then not checked).
    """
    player = check_int(player, "player", 0, 1)
    c = as_float_array(cooperate, "cooperate")
    if c.shape != (5,):
        raise ValueError(f"cooperate: expected 5 probabilities (start, CC, CD, DC, DD), got shape {tuple(c.shape)}")
    values = host_values(cooperate, "cooperate")
    if values is not None and not (np.all(np.isfinite(values)) and np.all((values >= 0) & (values <= 1))):
        raise ValueError(f"cooperate: expected 5 probabilities in [0, 1], got {cooperate!r}")
    if player == 1:
        c = c[np.argsort(_PLAYER1_VIEW)]  # state k holds player 1's own-view entry
    return jnp.stack([c, 1.0 - c], axis=1).astype(_dtype())


TIT_FOR_TAT = (1.0, 1.0, 0.0, 1.0, 0.0)
ALWAYS_DEFECT = (0.0, 0.0, 0.0, 0.0, 0.0)
ALWAYS_COOPERATE = (1.0, 1.0, 1.0, 1.0, 1.0)
#: win-stay lose-shift (Pavlov): cooperate after CC and DD
WIN_STAY_LOSE_SHIFT = (1.0, 1.0, 0.0, 0.0, 1.0)
