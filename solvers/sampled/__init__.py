"""Sample-based solvers: each learns from a game's simulator only (``jaxgames.make_env``), carries
its PRNG key in its state, and is a ``Solver`` like the exact ones, so ``solvers.run(solver, game,
num_steps, key=key)`` records exact exploitability inside the jitted loop and ``jax.vmap`` over keys
trains independent seeds in one call."""

from solvers.sampled.mccfr import external_sampling_mccfr, mccfr, outcome_sampling_mccfr
from solvers.sampled.mean_field import sampled_fictitious_play, sampled_mirror_descent
from solvers.sampled.nlhf import egpo, nash_md, nash_mp, online_ipo, sppo
from solvers.sampled.psro import psro
from solvers.sampled.q_learning import decentralized_q_learning, minimax_q

__all__ = [
    "mccfr",
    "outcome_sampling_mccfr",
    "external_sampling_mccfr",
    "psro",
    "online_ipo",
    "nash_md",
    "sppo",
    "egpo",
    "nash_mp",
    "minimax_q",
    "decentralized_q_learning",
    "sampled_mirror_descent",
    "sampled_fictitious_play",
]
