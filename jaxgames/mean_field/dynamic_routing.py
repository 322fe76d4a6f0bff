"""Mean-field dynamic routing: OpenSpiel's ``python_mfg_dynamic_routing`` (Braess network by default).

Cabannes, Laurière, Pérolat, Marinier, Girgin, Perrin, Pietquin, Bayen, Goubault & Elie (2022),
"Solving N-player dynamic routing games with congestion: a mean field approach" (AAMAS;
arXiv:2110.11943); OpenSpiel's ``open_spiel/python/mfg/games/dynamic_routing.py``.

A population of vehicles (origin-destination demands ``(origin link, destination link,
departure time, counts)``) travels a road network. A vehicle on a link waits there a number of
time steps set, when it enters the link, by the link's congestion (BPR travel time)::

    travel_time(l, v) = free_flow(l) * (1 + a(l) * (v / capacity(l)) ** b(l)),
    v = total_counts * (mass of vehicles on l, any waiting time, at that time),
    waiting = max(0, floor(travel_time / time_step_length) - 1),

then chooses a successor link (the action). It arrives when it enters its destination link;
its only reward is at the end, ``-arrival_time * time_step_length``, with arrival time ``T + 1``
for a vehicle that is not at its destination after ``T`` = ``max_num_time_step`` steps or that
enters a dead end (a link to a node without successors).

As a ``MeanFieldGame``: each OpenSpiel step ``t`` is two of ours, so the horizon is ``2T - 1``:

* step ``2t`` (decision, OpenSpiel's decision nodes at ``t``): states ``(link, waiting, destination)``,
  ``waiting >= 0``. Waiting vehicles take action 0 (OpenSpiel's ``NO_POSSIBLE_ACTION``) and count
  down; a vehicle with ``waiting = 0`` picks a successor link (action = OpenSpiel's link id,
  ``1..num_links``) and enters it with ``waiting = -1`` (not yet assigned), or reaches ``DONE``
  (destination or dead end). The reward is charged here, when it is decided: ``-t len`` on
  arrival, ``-(T + 1) len`` on a dead end or, at ``t = T - 1``, for every vehicle still travelling.
* step ``2t + 1`` (OpenSpiel's mean-field nodes at ``t + 1``): one action; a vehicle with
  ``waiting = -1`` gets its waiting time from the mass on its link under ``mu`` (the only
  ``mu``-dependence, so a transition ``P(mu)``; OpenSpiel sums its support, waiting times ``-1 .. T-1``).

The split is needed because the waiting time depends on the mean field *after* the move (the
other vehicles entering the same link in the same step), which ``P_t(. | x, a, mu_t)`` cannot
see. Vehicles that arrived (or hit a dead end) sit in one absorbing state ``DONE``, their reward
already paid. Waiting vehicles and those in ``DONE`` have only action 0; a vehicle choosing its
next link has exactly OpenSpiel's legal actions (the successor links). OpenSpiel's value
functions memoise by the full state string, so no convention is needed: our exploitability is
OpenSpiel's ``NashConv`` (exactly in float64; in float32 a travel time that falls on a multiple
of ``time_step_length`` can floor to the other waiting time). States: ``dec(l, w, d)``
(``w = 0..W``), ``mf(l, w, d)`` (``w = -1..W``) and ``DONE``, for ``L`` links and ``D``
destinations; ``W`` is the longest waiting time possible (at full congestion, or a departure
time). ``labels`` names them.

OpenSpiel's own ``FictitiousPlay`` fails on this game (its ``to_tabular`` cannot enumerate the
states); without ``to_tabular`` it differs from ``solvers.fictitious_play`` by two of its
conventions, which the tests replay: its greedy best response plays the first legal action at
states its traversal did not visit (values default to 0), and its merged policy is uniform
where no component reaches a state.

Shapes: policies ``[2T - 1, S, L + 1]``; ``S = L (2W + 3) D + 1``.

Example::

    >>> game = dynamic_routing()                       # Braess network, T = 10, 5 vehicles
    >>> game.horizon, game.num_actions, game.num_states
    (19, 8, 64)
    >>> slow = dynamic_routing(max_num_time_step=20, time_step_length=0.2)
    >>> round(float(slow.exploitability(slow.uniform_policy())), 4)       # OpenSpiel's NashConv: 0.55
    0.55
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from jaxgames.core import is_concrete
from jaxgames.mean_field.game import MeanFieldGame, check_model, check_tables, policy_table
from jaxgames.validation import check_int, check_scalar

NO_POSSIBLE_ACTION = 0

#: OpenSpiel's ``dynamic_routing_data.BRAESS_NETWORK`` (adjacency, BPR a, b, capacity, free-flow time).
BRAESS_NUM_PLAYER = 5
BRAESS_NETWORK = {
    "adjacency": {"O": ["A"], "A": ["B", "C"], "B": ["C", "D"], "C": ["D"], "D": ["E"], "E": []},
    "bpr_a": {"O->A": 0.0, "A->B": 1.0, "A->C": 0.0, "B->C": 0.0, "B->D": 0.0, "C->D": 1.0, "D->E": 0.0},
    "bpr_b": {link: 1.0 for link in ("O->A", "A->B", "A->C", "B->C", "B->D", "C->D", "D->E")},
    "capacity": {link: float(BRAESS_NUM_PLAYER) for link in ("O->A", "A->B", "A->C", "B->C", "B->D", "C->D", "D->E")},
    "free_flow": {"O->A": 0.0, "A->B": 1.0, "A->C": 2.0, "B->C": 0.25, "B->D": 2.0, "C->D": 1.0, "D->E": 0.0},
}
#: OpenSpiel's ``BRAESS_NETWORK_OD_DEMAND``: ``(origin, destination, departure_time, counts)``.
BRAESS_OD_DEMAND = (("O->A", "D->E", 0.0, float(BRAESS_NUM_PLAYER)),)


def _links(adjacency) -> list:
    """Links in OpenSpiel's action order (sorted origins, successors as listed): action ``i + 1``."""
    return [f"{o}->{d}" for o, succ in sorted(adjacency.items()) for d in succ]


@flax.struct.dataclass
class DynamicRouting(MeanFieldGame):
    """Mean-field dynamic routing (see the module docstring); build it with ``dynamic_routing()``.

    Leaves: ``initial [S]``, ``decision_transitions [S, A, S]`` (the even steps), ``mf_next [S]``
    (int: each state's next state at a mean-field step, newcomers at waiting 0), ``newcomer_link [S]``
    (int: the link of a ``mf(l, -1, d)`` state, -1 for the others), ``base_reward [2T - 1, S, A]``,
    ``link_mass [S, L]`` (which states count on each link), the BPR coefficients ``free_flow``,
    ``bpr_a``, ``bpr_b``, ``capacity`` ``[L]``, ``total_counts``, ``time_step_length``. Static: the
    sizes, ``max_wait`` ``W``, ``num_destinations``, ``mask`` (the ``[S, A]`` action mask as
    tuples) and ``labels`` (the states' names).
    """

    initial: jax.Array
    decision_transitions: jax.Array
    mf_next: jax.Array
    newcomer_link: jax.Array
    base_reward: jax.Array
    link_mass: jax.Array
    free_flow: jax.Array
    bpr_a: jax.Array
    bpr_b: jax.Array
    capacity: jax.Array
    total_counts: jax.Array
    time_step_length: jax.Array
    num_states: int = flax.struct.field(pytree_node=False)
    num_actions: int = flax.struct.field(pytree_node=False)
    horizon: int = flax.struct.field(pytree_node=False)
    max_wait: int = flax.struct.field(pytree_node=False)
    num_destinations: int = flax.struct.field(pytree_node=False)
    mask: tuple = flax.struct.field(pytree_node=False)
    labels: tuple = flax.struct.field(pytree_node=False)

    def action_mask(self) -> np.ndarray:
        return np.array(self.mask, bool)

    def waiting_times(self, mu) -> jax.Array:
        """``[L]`` int: the waiting time each link assigns to its newcomers under ``mu`` (OpenSpiel's rule)."""
        volume = self.total_counts * (mu @ self.link_mass.astype(mu.dtype))
        travel = self.free_flow * (1.0 + self.bpr_a * (volume / self.capacity) ** self.bpr_b)
        wait = jnp.maximum(0, jnp.floor(travel / self.time_step_length).astype(jnp.int32) - 1)
        return jnp.minimum(wait, self.max_wait)

    def transition(self, t, mu):
        # a mean-field step: newcomers mf(l, -1, d) -> dec(l, wait[l], d), i.e. mf_next + wait[l] * D
        wait = self.waiting_times(mu)[jnp.maximum(self.newcomer_link, 0)]
        nxt = self.mf_next + jnp.where(self.newcomer_link >= 0, wait * self.num_destinations, 0)
        p_mf = jnp.broadcast_to(
            jax.nn.one_hot(nxt, self.num_states, dtype=self.decision_transitions.dtype)[:, None, :],
            self.decision_transitions.shape,
        )
        return jnp.where(t % 2 == 0, self.decision_transitions, p_mf)

    def reward(self, t, mu):
        del mu
        return self.base_reward[t]


def _state_indexer(num_links, max_wait, num_dest):
    """``dec(i, w, d)`` (``w = 0..W``), ``mf(i, w, d)`` (``w = -1..W``), ``done``: state indices."""
    n_dec = num_links * (max_wait + 1) * num_dest

    def dec(i, w, d):
        return (i * (max_wait + 1) + w) * num_dest + d

    def mf(i, w, d):
        return n_dec + (i * (max_wait + 2) + (w + 1)) * num_dest + d

    done = n_dec + num_links * (max_wait + 2) * num_dest
    return dec, mf, done, done + 1


def dynamic_routing(
    max_num_time_step: int = 10,
    time_step_length: float = 0.5,
    network: dict | None = None,
    od_demand=None,
    *,
    max_bytes: int | None = None,
) -> DynamicRouting:
    """OpenSpiel's ``python_mfg_dynamic_routing`` (default: the Braess network and its demand).

    Args:
      max_num_time_step: OpenSpiel's horizon ``T`` (>= 1); our policies are ``[2T - 1, S, L + 1]``.
      time_step_length: length of a step (> 0), in the free-flow travel time's unit.
      network: ``{"adjacency": {node: [successor nodes]}, "bpr_a", "bpr_b", "capacity", "free_flow":
        {link "u->v": value}}`` (missing links: a = 0, b = 1, capacity 1, free flow 1, OpenSpiel's
        defaults); ``None`` is ``BRAESS_NETWORK``.
      od_demand: ``[(origin link, destination link, departure_time, counts)]``; ``None`` is
        ``BRAESS_OD_DEMAND``.
      max_bytes: ceiling on any dense table (``[S, A, S]``, ``[2T - 1, S, A]``); ``None``: the default.
    """
    horizon_os = check_int(max_num_time_step, "max_num_time_step", low=1)
    check_scalar(time_step_length, "time_step_length", 0.0, low_open=True)
    if not is_concrete(time_step_length):
        raise ValueError("time_step_length: it sets the waiting times (the state space): expected a number, not traced")
    step = float(time_step_length)
    network = BRAESS_NETWORK if network is None else network
    if not isinstance(network, dict) or not isinstance(network.get("adjacency"), dict):
        raise ValueError("network: expected a dict with an 'adjacency' dict {node: [successor nodes]}")
    od_demand = BRAESS_OD_DEMAND if od_demand is None else tuple(tuple(od) for od in od_demand)
    adjacency = {node: list(succ) for node, succ in network["adjacency"].items()}
    links = _links(adjacency)
    index = {link: i for i, link in enumerate(links)}
    for origin, dest, departure, counts in od_demand:
        if origin not in index or dest not in index:
            raise ValueError(f"od_demand: origin and destination must be links of the network, got {origin}, {dest}")
        if departure < 0 or counts <= 0:
            raise ValueError(f"od_demand: expected departure_time >= 0 and counts > 0, got {departure}, {counts}")

    def coef(name, default):
        return np.array([float(network.get(name, {}).get(link, default)) for link in links])

    bpr_a, bpr_b, capacity, free_flow = (
        coef("bpr_a", 0.0),
        coef("bpr_b", 1.0),
        coef("capacity", 1.0),
        coef("free_flow", 1.0),
    )
    num_links, num_actions = len(links), len(links) + 1
    dests = sorted({od[1] for od in od_demand})
    num_dest = len(dests)
    total = float(sum(od[3] for od in od_demand))
    end_node = [link.split("->")[1] for link in links]
    successors = [[index[f"{end_node[i]}->{v}"] for v in adjacency.get(end_node[i], [])] for i in range(num_links)]

    def wait_of(travel):
        return max(0, int(travel / step) - 1)

    full = free_flow * (1.0 + bpr_a * (total * (1.0 + 1e-4) / capacity) ** bpr_b)  # the largest volume
    max_wait = max([wait_of(x) for x in full] + [int(od[2] / step) for od in od_demand] + [0])
    horizon = 2 * horizon_os - 1
    dec, mf, done, num_states = _state_indexer(num_links, max_wait, num_dest)
    check_tables(
        [
            (
                "max_num_time_step",
                f"the transition tensor [S, A, S'] = [{num_states}, {num_actions}, {num_states}]",
                (num_states, num_actions, num_states),
            ),
            policy_table(horizon, num_states, num_actions),
        ],
        max_bytes,
    )

    mask = np.zeros((num_states, num_actions), bool)
    mask[:, NO_POSSIBLE_ACTION] = True
    p_dec = np.zeros((num_states, num_actions, num_states))
    reward = np.zeros((horizon, num_states, num_actions))
    last = -(horizon_os + 1) * step
    p_dec[done, :, done] = 1.0
    for i in range(num_links):
        for d in range(num_dest):
            dest = index[dests[d]]
            for w in range(-1, max_wait + 1):
                p_dec[mf(i, w, d), :, mf(i, w, d)] = 1.0  # no mean-field state at a decision step
            for w in range(1, max_wait + 1):
                p_dec[dec(i, w, d), :, mf(i, w - 1, d)] = 1.0
                reward[2 * (horizon_os - 1), dec(i, w, d), :] = last
            x = dec(i, 0, d)
            if not successors[i]:  # a dead-end link: never a decision state (the vehicle is DONE)
                p_dec[x, :, done] = 1.0
                continue
            mask[x, NO_POSSIBLE_ACTION] = False
            for a in range(num_actions):  # illegal actions copy the first successor
                nxt = successors[i][0] if a - 1 not in successors[i] else a - 1
                mask[x, a] = a - 1 in successors[i]
                if nxt == dest:
                    p_dec[x, a, done] = 1.0
                    reward[0::2, x, a] = -np.arange(horizon_os) * step
                elif not successors[nxt]:
                    p_dec[x, a, done] = 1.0
                    reward[0::2, x, a] = last
                else:
                    p_dec[x, a, mf(nxt, -1, d)] = 1.0
                    reward[2 * (horizon_os - 1), x, a] = last
    # mean-field steps: mf(i, w, d) -> dec(i, w, d) (w >= 0); newcomers mf(i, -1, d) -> dec(i, wait_l, d)
    mf_next = np.arange(num_states)  # decision states and DONE stay put
    newcomer_link = np.full(num_states, -1)
    for i in range(num_links):
        for d in range(num_dest):
            for w in range(max_wait + 1):
                mf_next[mf(i, w, d)] = dec(i, w, d)
            mf_next[mf(i, -1, d)], newcomer_link[mf(i, -1, d)] = dec(i, 0, d), i
    link_mass = np.zeros((num_states, num_links))
    for i in range(num_links):
        for d in range(num_dest):
            for w in range(-1, min(max_wait, horizon_os - 1) + 1):  # OpenSpiel's support: waiting -1 .. T-1
                link_mass[mf(i, w, d), i] = 1.0
    initial = np.zeros(num_states)
    for origin, dest, departure, counts in od_demand:
        initial[dec(index[origin], int(departure / step), dests.index(dest))] += counts / total
    labels = (
        [
            f"dec({links[i]}, {w}, {dests[d]})"
            for i in range(num_links)
            for w in range(max_wait + 1)
            for d in range(num_dest)
        ]
        + [
            f"mf({links[i]}, {w}, {dests[d]})"
            for i in range(num_links)
            for w in range(-1, max_wait + 1)
            for d in range(num_dest)
        ]
        + ["DONE"]
    )
    dtype = jnp.result_type(float)
    game = DynamicRouting(
        initial=jnp.asarray(initial, dtype),
        decision_transitions=jnp.asarray(p_dec, dtype),
        mf_next=jnp.asarray(mf_next, jnp.int32),
        newcomer_link=jnp.asarray(newcomer_link, jnp.int32),
        base_reward=jnp.asarray(reward, dtype),
        link_mass=jnp.asarray(link_mass, dtype),
        free_flow=jnp.asarray(free_flow, dtype),
        bpr_a=jnp.asarray(bpr_a, dtype),
        bpr_b=jnp.asarray(bpr_b, dtype),
        capacity=jnp.asarray(capacity, dtype),
        total_counts=jnp.asarray(total, dtype),
        time_step_length=jnp.asarray(step, dtype),
        num_states=num_states,
        num_actions=num_actions,
        horizon=horizon,
        max_wait=max_wait,
        num_destinations=num_dest,
        mask=tuple(map(tuple, mask.tolist())),
        labels=tuple(labels),
    )
    return check_model(game)
