"""Liar's dice and turn-based goofspiel as tabular games, from native rules (no OpenSpiel needed).

The rules live in ``jaxgames.efg.rules.liars_dice`` and ``jaxgames.efg.rules.goofspiel``; they equal
OpenSpiel's ``liars_dice`` and ``convert_to_turn_based(goofspiel(...))`` history by history (chance
outcomes and probabilities, legal action ids, returns, information-state strings and both tensors;
``tests/test_native_games.py``). The constructors turn them into the arrays that every solver,
exact exploitability and ``EFGEnv`` use, as for ``kuhn_poker`` and ``leduc_poker``: ``build_tree``
would walk the rules (30 to 60 us per history); ``liars_dice_tree`` and ``goofspiel_tree`` build the
very same arrays level by level with NumPy (about 1 us per history; tested equal), so trees of tens
of millions of histories build in a minute. The OpenSpiel tensor tables are still read from the
rules, by a walk, on first use (``EFGEnv``), not for solving.

Both trees grow very fast, so each constructor counts the histories first, in closed form
(``LiarsDiceRules.num_histories``, ``GoofspielRules.num_histories``), and raises ``ValueError``
naming the size parameters before building anything when the tree is above ``max_histories`` or its
tables (``jaxgames.efg.tree.tree_bytes``) above ``max_bytes``. Sizes (histories):

* liar's dice ``(num_dice, dice_sides)``: ``(1, 3)`` 1,147; ``(1, 4)`` 8,181; ``(1, 5)`` 51,181;
  ``(1, 6)`` 294,883; ``(2, 2)`` 8,191; ``(3, 2)`` 524,287; ``(2, 3)`` 663,511; ``(1, 7)`` 1.6M;
  ``(1, 8)`` 8.4M; ``(2, 4)`` and ``(4, 2)`` 33.6M; ``(1, 9)`` 42.5M.
* goofspiel ``num_cards``, two players (``imp_info`` does not change the tree), descending /
  random order: 4: 1,077 / 26,773; 5: 26,931 / 3.3M; 6: 969,523 / 723M; 7: 47.5M / 2.5e11.

Built trees are cached by rules (the second call is free).
"""

from __future__ import annotations

import numpy as np

from jaxgames.efg.game import EFGGame
from jaxgames.efg.rules.goofspiel import GoofspielRules, goofspiel_rules
from jaxgames.efg.rules.liars_dice import LIARS_DICE_PLAYERS, LiarsDiceRules, liars_dice_rules
from jaxgames.efg.tree import CHANCE, ROOT, Tree, build_tree, check_tree_size
from jaxgames.validation import check_int

#: default ``max_histories`` of these constructors (as the poker constructors')
MAX_HISTORIES = 1_000_000
#: built trees, by rules
_TREES: dict = {}


def _tree(game_rules, field: str, max_histories, max_bytes, builder=None):
    """The cached tree of ``game_rules``; sized in closed form first (raises naming ``field``).

    ``builder(rules, max_bytes)``: a vectorized builder of the same tree as ``build_tree`` (no walk).
    """
    max_histories = check_int(max_histories, "max_histories", low=1)
    count = game_rules.num_histories()
    width = max(game_rules.num_distinct_actions(), game_rules.max_chance_outcomes())
    check_tree_size(count, game_rules.num_players(), width, field, max_histories, max_bytes)
    if game_rules not in _TREES:
        if builder is not None:
            _TREES[game_rules] = builder(game_rules, max_bytes)
        else:
            _TREES[game_rules] = build_tree(game_rules, max_histories=max_histories, max_bytes=max_bytes)
    return _TREES[game_rules]


def liars_dice_tree(rules: LiarsDiceRules, max_bytes=None) -> Tree:
    """The tree of liar's dice, built level by level with NumPy: the very arrays that
    ``build_tree(rules)`` records by walking the rules (same breadth-first order, information-set
    ids in order of first visit, OpenSpiel's strings as keys), without the walk, in about a
    microsecond per history instead of 40.

    Level ``k < T`` holds the ``S^k`` roll prefixes (the ``T = 2 num_dice`` rolls in base ``S``,
    player 0's first); below roll sequence ``r``, a history with ``m`` bids is ``(r, last bid,
    set of bids as a bit mask)``, and its children are the bids above the last one, then "liar"
    (once ``m > 0``), in action order. A player's information set is its sorted dice (an index
    among the multisets) and the bid mask.
    """
    s, d, t, b = rules.dice_sides, rules.num_dice, rules.total_dice, rules.liar
    width = max(b + 1, s)
    n = LIARS_DICE_PLAYERS
    # per roll sequence: each player's dice (sorted), its multiset's index, and the matches per face
    rolls = np.stack(np.unravel_index(np.arange(s**t), (s,) * t), axis=1).astype(np.int64) + 1  # [R, T]
    hands = [np.sort(rolls[:, p * d : (p + 1) * d], axis=1) for p in range(n)]
    hand_class, hand_text = [], []
    for hand in hands:
        keys, inverse = np.unique(hand, axis=0, return_inverse=True)
        hand_class.append(inverse.reshape(-1))
        hand_text.append(["".join(map(str, row)) for row in keys])
    faces = np.arange(1, s + 1)
    matches = ((rolls[:, :, None] == faces[None, None, :]) | (rolls[:, :, None] == s)).sum(axis=1)  # [R, S]

    cols = {k: [] for k in ("parent", "actor", "action", "infoset", "prob", "depth")}
    payoff_rows, payoff_values = [], []
    dec_nodes, dec_infos = [[] for _ in range(n)], [[] for _ in range(n)]
    legal, info_masks, info_class = [[] for _ in range(n)], [[] for _ in range(n)], [[] for _ in range(n)]
    info_count = [0] * n

    def add(parent, actor, action, infoset, prob, depth):
        size = len(parent)
        cols["parent"].append(np.asarray(parent, np.int32))
        cols["actor"].append(np.full(size, actor, np.int32) if np.isscalar(actor) else actor.astype(np.int32))
        cols["action"].append(np.asarray(action, np.int32))
        cols["infoset"].append(np.asarray(infoset, np.int32))
        cols["prob"].append(np.full(size, prob, np.float64))
        cols["depth"].append(np.full(size, depth, np.int32))

    add([0], ROOT, [0], [0], 1.0, 0)
    start, size = 0, 1  # the current level's first history and its size
    for k in range(t):  # rolls
        parent = start + np.repeat(np.arange(size), s)
        add(parent, CHANCE, np.tile(np.arange(s), size), np.zeros(size * s), 1.0 / s, k + 1)
        start, size = start + size, size * s
    deal = np.arange(size, dtype=np.int64)
    last = np.full(size, -1, np.int64)
    mask = np.zeros(size, np.int64)
    ids = np.arange(start, start + size, dtype=np.int64)
    for m in range(b + 1):  # histories with m bids (none terminal): expand every one
        p = m % n
        code = hand_class[p][deal] * (np.int64(1) << b) + mask
        uniq, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        rank = np.empty(len(uniq), np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
        info = info_count[p] + rank[inverse.reshape(-1)]
        order = np.sort(first)
        info_masks[p].append(mask[order])
        info_class[p].append(hand_class[p][deal[order]])
        actions = np.arange(width)[None, :]
        legal[p].append((actions > last[order, None]) & (actions < b + (1 if m > 0 else 0)))
        info_count[p] += len(uniq)
        dec_nodes[p].append(ids)
        dec_infos[p].append(info)
        count = b - last - 1 + (1 if m > 0 else 0)
        total = int(count.sum())
        if total == 0:
            break
        src = np.repeat(np.arange(len(ids)), count)
        offset = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        action = last[src] + 1 + offset
        add(ids[src], p, action, info[src], 1.0, t + m + 1)
        child_ids = np.arange(int(start + size), int(start + size) + total, dtype=np.int64)
        start, size = start + size, total
        called = action == b
        if called.any():  # "liar": terminal; resolve the last bid
            rows = child_ids[called]
            bid = last[src[called]]
            if rules.bidding_rule == "reset-face":
                quantity, face = bid // s + 1, bid % s + 1
            else:
                quantity, face = bid % t + 1, bid // t + 1
            holds = matches[deal[src[called]], face - 1] >= quantity
            caller = p
            winner = np.where(holds, 1 - caller, caller)
            payoff_rows.append(rows)
            payoff_values.append(np.where(np.arange(n)[None, :] == winner[:, None], 1.0, -1.0))
        keep = ~called
        deal, last = deal[src[keep]], action[keep]
        mask = mask[src[keep]] | (np.int64(1) << action[keep])
        ids = child_ids[keep]

    parent = np.concatenate(cols["parent"])
    action = np.concatenate(cols["action"])
    h_count = len(parent)
    children = np.full((h_count, width), -1, np.int32)
    children[parent[1:], action[1:]] = np.arange(1, h_count, dtype=np.int32)
    is_terminal = np.zeros(h_count, bool)
    payoffs = np.zeros((h_count, n))
    rows = np.concatenate(payoff_rows)
    is_terminal[rows] = True
    payoffs[rows] = np.concatenate(payoff_values)

    def bid_text(bits):
        return "".join(" {}-{}".format(*rules.unrank_bid(a)) for a in range(b) if bits >> a & 1)

    keys = []
    for p in range(n):
        masks_p, class_p = np.concatenate(info_masks[p]), np.concatenate(info_class[p])
        keys.append(tuple(hand_text[p][c] + bid_text(int(bits)) for c, bits in zip(class_p, masks_p)))
    return Tree(
        num_players=n,
        max_actions=b + 1,
        depth=np.concatenate(cols["depth"]),
        parent=parent,
        edge_actor=np.concatenate(cols["actor"]),
        edge_infoset=np.concatenate(cols["infoset"]),
        edge_action=action,
        children=children,
        is_terminal=is_terminal,
        chance_prob=np.concatenate(cols["prob"]),
        payoffs=payoffs,
        decision_nodes=tuple(np.concatenate(x).astype(np.int32) for x in dec_nodes),
        decision_infosets=tuple(np.concatenate(x).astype(np.int32) for x in dec_infos),
        legal=tuple(np.concatenate(x)[:, : b + 1] for x in legal),
        infoset_keys=tuple(keys),
        tensor_source=rules,
        max_bytes=max_bytes,
    )


def _first_visit_ids(code: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Information-set ids numbered in order of first visit (as ``build_tree``): ``(id per history,
    position of each new information set's first history)``."""
    uniq, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    rank = np.empty(len(uniq), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(uniq))
    return start + rank[inverse.reshape(-1)], np.sort(first)


class _Columns:
    """The per-history columns of a tree, appended level by level."""

    def __init__(self):
        self.parent, self.actor, self.action, self.infoset, self.prob, self.depth = ([] for _ in range(6))
        self.size = 0

    def add(self, parent, actor, action, infoset, prob, depth) -> np.ndarray:
        """Append one level; returns the new histories' ids."""
        k = len(parent)
        self.parent.append(np.asarray(parent, np.int32))
        self.actor.append(np.full(k, actor, np.int32))
        self.action.append(np.asarray(action, np.int32))
        self.infoset.append(np.broadcast_to(np.asarray(infoset, np.int32), (k,)))
        self.prob.append(np.full(k, prob, np.float64))
        self.depth.append(np.full(k, depth, np.int32))
        ids = np.arange(self.size, self.size + k, dtype=np.int64)
        self.size += k
        return ids

    def tree(self, num_players, num_actions, width, terminal_rows, terminal_payoffs, decision, keys, legal, **kw):
        parent, action = np.concatenate(self.parent), np.concatenate(self.action)
        h_count = len(parent)
        children = np.full((h_count, width), -1, np.int32)
        children[parent[1:], action[1:]] = np.arange(1, h_count, dtype=np.int32)
        is_terminal = np.zeros(h_count, bool)
        payoffs = np.zeros((h_count, num_players))
        is_terminal[terminal_rows] = True
        payoffs[terminal_rows] = terminal_payoffs
        return Tree(
            num_players=num_players,
            max_actions=num_actions,
            depth=np.concatenate(self.depth),
            parent=parent,
            edge_actor=np.concatenate(self.actor),
            edge_infoset=np.concatenate(self.infoset),
            edge_action=action,
            children=children,
            is_terminal=is_terminal,
            chance_prob=np.concatenate(self.prob),
            payoffs=payoffs,
            decision_nodes=tuple(np.concatenate(x).astype(np.int32) for x, _ in decision),
            decision_infosets=tuple(np.concatenate(y).astype(np.int32) for _, y in decision),
            legal=tuple(np.concatenate(x)[:, :num_actions] for x in legal),
            infoset_keys=tuple(tuple(k) for k in keys),
            **kw,
        )


def goofspiel_tree(rules: GoofspielRules, max_bytes=None) -> Tree:
    """The tree of turn-based goofspiel with ``imp_info=True``, built level by level with NumPy: the
    very arrays that ``build_tree(rules)`` records by walking the rules (same breadth-first order,
    information-set ids in order of first visit, OpenSpiel's strings as keys), without the walk.

    Levels: per round, a chance level (random order) and one level per player; every history has
    the same length. A history is its hands (bit masks), each player's bids so far (base ``n``),
    the point cards (base ``n``), the round winners (base ``N + 1``, ``N``: a tie), the points
    and this round's bids; the acting player's information set is (own bids, point cards,
    winners), which fixes its hand and the points.
    """
    if not rules.imp_info:
        raise ValueError("rules: goofspiel_tree builds imp_info=True games; use build_tree")
    n, k = rules.num_cards, rules.n_players
    order = rules.points_order
    rounds = max(n - 1, 1)
    full = (1 << n) - 1
    cols = _Columns()
    cols.add([0], ROOT, [0], 0, 1.0, 0)
    ids = np.zeros(1, np.int64)
    hands = np.full((1, k), full, np.int64)
    bids = np.zeros((1, k), np.int64)  # own bid sequences, base n
    cards = np.zeros(1, np.int64)  # point card sequence, base n
    shown = np.zeros(1, np.int64)  # point cards shown, bit mask
    current = np.zeros(1, np.int64)  # this round's point card
    wins = np.zeros(1, np.int64)  # round winners, base N + 1
    points = np.zeros((1, k), np.int64)
    pending = np.zeros((1, k), np.int64)  # this round's bids
    decision = [([], []) for _ in range(k)]
    legal, keys, count = [[] for _ in range(k)], [[] for _ in range(k)], [0] * k
    depth = 0

    def take(src):
        return tuple(a[src] for a in (hands, bids, cards, shown, current, wins, points, pending))

    def deal(card):
        nonlocal cards, shown, current
        cards, shown, current = cards * n + card, shown | (np.int64(1) << card), card

    def resolve(played):
        """The round's bids ``[K, N]`` played: winners, points, hands, own sequences."""
        nonlocal hands, bids, wins, points
        top = played.max(axis=1)
        ties = (played == top[:, None]).sum(axis=1) > 1
        winner = np.where(ties, k, played.argmax(axis=1))
        points = points + np.where(np.arange(k)[None, :] == winner[:, None], current[:, None] + 1, 0)
        wins = wins * (k + 1) + winner
        bids = bids * n + played
        hands = hands & ~(np.int64(1) << played)

    def key_text(j, r, own, seq, won):
        own_bids = [(own // n ** (r - 1 - i)) % n for i in range(r)]
        point_cards = [(seq // n ** (r - i)) % n for i in range(r + 1)]
        winners = [(won // (k + 1) ** (r - 1 - i)) % (k + 1) for i in range(r)]
        total = [0] * k
        for w, c in zip(winners, point_cards):
            if w < k:
                total[w] += c + 1
        hand = [c for c in range(n) if c not in own_bids]
        return (
            f"Current player: {j}\nP{j} hand: " + "".join(f"{c + 1} " for c in hand) + "\n"
            f"P{j} action sequence: " + "".join(f"{b} " for b in own_bids) + "\n"
            "Point card sequence: " + "".join(f"{c + 1} " for c in point_cards) + "\n"
            "Win sequence: " + "".join(f"{w if w < k else -3} " for w in winners) + "\n"
            "Points: " + "".join(f"{v} " for v in total) + "\nTerminal?: 0\n"
        )

    if order != "random":
        deal(np.full(1, 0 if order == "ascending" else n - 1, np.int64))
    for r in range(rounds):
        if order == "random":  # chance deals the point card: the cards not shown yet, in order
            src, card = np.nonzero(((shown[:, None] >> np.arange(n)[None, :]) & 1) == 0)
            depth += 1
            new = cols.add(ids[src], CHANCE, card, 0, 1.0 / (n - r), depth)
            hands, bids, cards, shown, current, wins, points, pending = take(src)
            deal(card.astype(np.int64))
            ids = new
        for j in range(k):  # player j bids one of its cards
            radix = [n**r, n ** (r + 1), (k + 1) ** r]
            if radix[0] * radix[1] * radix[2] >= 2**62:
                raise ValueError(f"num_cards: {n} cards are too many for this builder")
            code = (bids[:, j] * radix[1] + cards) * radix[2] + wins
            info, first = _first_visit_ids(code, count[j])
            count[j] += len(first)
            decision[j][0].append(ids)
            decision[j][1].append(info)
            mask = ((hands[first, j, None] >> np.arange(max(n, 1))[None, :]) & 1) == 1
            legal[j].append(mask)
            keys[j].extend(key_text(j, r, int(bids[f, j]), int(cards[f]), int(wins[f])) for f in first)
            src, card = np.nonzero(((hands[:, j, None] >> np.arange(n)[None, :]) & 1) == 1)
            depth += 1
            new = cols.add(ids[src], j, card, info[src], 1.0, depth)
            hands, bids, cards, shown, current, wins, points, pending = take(src)
            pending = pending.copy()
            pending[:, j] = card
            ids = new
        resolve(pending)
        turn = r + 1
        if turn < n and order != "random":  # every history of the level shows the same point card
            step = 1 if order == "ascending" else -1
            if 0 <= int(current[0]) + step < n:
                deal(current + step)
        if turn == n - 1:  # the last round plays itself
            if order == "random":
                deal(np.log2(full ^ shown).astype(np.int64))  # the one card left
            resolve(np.log2(hands).astype(np.int64))
    # terminal returns
    best = points.max(axis=1, keepdims=True)
    winners = points == best
    if rules.returns_type == "total_points":
        payoffs = points.astype(np.float64)
    elif rules.returns_type == "point_difference":
        payoffs = points - points.mean(axis=1, keepdims=True)
    else:
        num_w = winners.sum(axis=1, keepdims=True)
        payoffs = np.where(winners, 1.0 / num_w, -1.0 / np.maximum(k - num_w, 1))
        payoffs = np.where(num_w == k, 0.0, payoffs)
    return cols.tree(
        k,
        n,
        max(n, rules.max_chance_outcomes()),
        ids,
        payoffs,
        decision,
        keys,
        legal,
        tensor_source=rules,
        max_bytes=max_bytes,
    )


def liars_dice(
    num_dice: int = 1,
    dice_sides: int = 6,
    bidding_rule: str = "reset-face",
    max_histories: int = MAX_HISTORIES,
    max_bytes: int | None = None,
) -> EFGGame:
    """Liar's dice, the same game as OpenSpiel's ``liars_dice(numdice, dice_sides, bidding_rule)``.

    Two players roll ``num_dice`` dice of ``dice_sides`` faces each (player 0's first; chance action
    ``k`` is face ``k + 1``), then bid ``(quantity, face)`` in increasing order (action ids
    ``0..2 num_dice dice_sides - 1``, see ``jaxgames.efg.rules.liars_dice``) until one calls "liar"
    (the last id); the highest face is wild; the winner gets +1, the loser -1. The tree has
    ``dice_sides^(2 num_dice) (2^(2 num_dice dice_sides + 1) - 1)`` histories plus the rolls: one
    six-sided die each (OpenSpiel's default) is 294,883 histories and 12,288 information sets per
    player; the size is checked against ``max_histories`` and ``max_bytes`` before the tree is built.
    (Liar's dice as a solving benchmark: Lanctot et al. 2009, "Monte Carlo sampling for regret
    minimization in extensive games"; the rules are OpenSpiel's, Lanctot et al. 2019.)

    Example::

        game = jaxgames.efg.liars_dice(num_dice=1, dice_sides=4)
        float(game.nash_conv(game.uniform_policy()))
    """
    rules = liars_dice_rules(num_dice, dice_sides, bidding_rule)
    tree = _tree(rules, "num_dice, dice_sides", max_histories, max_bytes, liars_dice_tree)
    name = f"liars_dice(bidding_rule={rules.bidding_rule},dice_sides={rules.dice_sides},numdice={rules.num_dice})"
    return EFGGame(tree, name=name)


def goofspiel(
    num_cards: int = 4,
    imp_info: bool = True,
    points_order: str = "descending",
    returns_type: str = "win_loss",
    num_players: int = 2,
    max_histories: int = MAX_HISTORIES,
    max_bytes: int | None = None,
) -> EFGGame:
    """Turn-based goofspiel: OpenSpiel's ``goofspiel`` under ``pyspiel.convert_to_turn_based``.

    Each player bids its cards ``0..num_cards-1`` (action id = card) for point cards worth
    ``1..num_cards`` revealed in ``points_order`` (``"random"``: a chance node per round, OpenSpiel's
    default order; the default here is ``"descending"``, the usual benchmark); players bid in turn,
    each seeing only its own bid of the round; ``imp_info=True`` hides the others' bids (only each
    round's winner is seen; ``imp_info=False`` shows every hand, and is OpenSpiel's game only up to 3
    cards: from 4 on its information states forget the order of one's own bids, so it lacks perfect
    recall and is refused). ``returns_type``: ``"win_loss"``, ``"point_difference"`` or
    ``"total_points"`` (general-sum). Two players, four cards, descending: 1,077 histories, 81
    information sets per player; the size is checked against ``max_histories`` and ``max_bytes``
    before the tree is built (see the module docstring for sizes). (Goofspiel: Ross 1971, "Goofspiel:
    the game of pure strategy"; the imperfect-information, turn-based form is OpenSpiel's, Lanctot
    et al. 2019.)

    Example::

        game = jaxgames.efg.goofspiel(num_cards=4, points_order="descending")
        float(game.nash_conv(game.uniform_policy()))
    """
    rules = goofspiel_rules(num_cards, imp_info, points_order, returns_type, num_players)
    if not rules.imp_info and rules.num_cards > 3:
        raise ValueError(
            f"imp_info: with imp_info=False OpenSpiel's information states show the hands but not the order in "
            f"which a player bid its cards, so from 4 cards on the game lacks perfect recall (got num_cards="
            f"{rules.num_cards}); use imp_info=True, or num_cards <= 3"
        )
    tree = _tree(rules, "num_cards", max_histories, max_bytes, goofspiel_tree if rules.imp_info else None)
    name = (
        f"turn_based_simultaneous_game(game=goofspiel(imp_info={rules.imp_info},num_cards={rules.num_cards},"
        f"players={rules.n_players},points_order={rules.points_order},returns_type={rules.returns_type}))"
    )
    return EFGGame(tree, name=name)


__all__ = ["liars_dice", "goofspiel", "liars_dice_tree", "goofspiel_tree", "LiarsDiceRules", "GoofspielRules"]
