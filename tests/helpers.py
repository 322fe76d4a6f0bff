"""Shared test helpers."""

import contextlib
import functools
import mmap
import pathlib
from unittest import mock

import jax

#: NashConv of the uniform policy in 2-player Kuhn poker (OpenSpiel's python/games/kuhn_poker_test.py,
#: Lanctot et al. 2019); its exploitability is half of it.
KUHN_UNIFORM_NASH_CONV = 11 / 12
#: Player 0's equilibrium value of 2-player Kuhn poker (Kuhn 1950).
KUHN_VALUE = -1 / 18


@functools.cache
def _xla_knows(flag: str) -> bool:
    """Whether the installed XLA registers ``flag`` (its name is in jaxlib's libraries): an unknown flag in
    ``XLA_FLAGS`` aborts the process, so a flag that newer or older versions lack is left out."""
    import jaxlib  # the package only: it does not start the XLA backend

    for lib in pathlib.Path(jaxlib.__file__).parent.glob("*.so"):
        try:
            with open(lib, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                if data.find(flag.encode()) >= 0:
                    return True
        except (OSError, ValueError):  # unreadable or empty
            continue
    return False


def older_emitter_flags() -> str:
    """``XLA_FLAGS`` for XLA's older CPU emitters rather than the fusion emitters (where the installed XLA has
    the choice): they compile faster, and the small loops of the tests and notebooks run as fast or faster
    (a float64 fictitious-play loop: 11 s with the fusion emitters, 3 s without, both at LLVM's ``-O3``)."""
    return "--xla_cpu_use_fusion_emitters=false" if _xla_knows("xla_cpu_use_fusion_emitters") else ""


def quick_compile_flags() -> str:
    """The ``XLA_FLAGS`` every test process compiles with (conftest.py), for the processes a test starts that
    should compile alike: no LLVM optimization passes, and XLA's older CPU emitters rather than the fusion
    emitters (with both, compile-bound test files take about a third less CPU time; results are the same)."""
    return ("--xla_backend_optimization_level=0 " + older_emitter_flags()).strip()


#: ``compiler_options`` of ``jax.jit`` for a program that runs for seconds in a test process: LLVM's basic
#: optimization passes back on (the process's quick flags turn them off), the older emitters kept. CPU time,
#: compile and run, quick flags -> these: Markov fictitious play's 600,000 float64 steps 34 -> 7.5 s,
#: exact N-agent values up to 1,024 agents 6.7 -> 3.7 s; level 3 runs no faster and compiles slower.
LONG_RUN = {"xla_backend_optimization_level": 1}


#: Methods of a game model that answer exact questions about a policy (the "exact model").
EXACT_MODEL_METHODS = (
    "evaluate",
    "best_response",
    "best_response_values",
    "best_response_state_values",
    "nash_conv",
    "exploitability",
    "reach",
    "mix_policies",
    "sequence_gradient",
    "dilated_mirror_step",
    "action_values",
    "state_values",
    "smooth_best_response",
    "regularized_nash_conv",
    "occupancy",
    "joint_action_values",
    "markov_chain",
    "mean_field",
    "_backward",
    "_best_response",
)


@contextlib.contextmanager
def forbid_exact_model(game, extra: tuple = ()):
    """Inside the block, every exact-model method of ``type(game)`` raises ``AssertionError``.

    A sample-based solver's ``init`` / ``step`` must learn from the simulator only; run them
    (un-jitted, or under a *fresh* ``jax.jit``, since a cached trace would not call the methods)
    inside this block to prove it. The simulator may still read the game's array leaves.
    """
    cls = type(game)

    def forbidden(*args, **kwargs):
        raise AssertionError("a sample-based step read the exact model")

    with contextlib.ExitStack() as stack:
        for name in EXACT_MODEL_METHODS + tuple(extra):
            if hasattr(cls, name):
                stack.enter_context(mock.patch.object(cls, name, forbidden))
        yield


def lp_solve(A):
    """Value and maximin strategy of the zero-sum matrix game ``A`` (row maximizes), by SciPy's LP (float64)."""
    import numpy as np
    import scipy.optimize

    A = np.asarray(A, np.float64)
    m, n = A.shape
    res = scipy.optimize.linprog(
        np.r_[np.zeros(m), -1.0],
        A_ub=np.c_[-A.T, np.ones(n)],
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(m), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
    )
    assert res.status == 0
    return res.x[-1], res.x[:m]


def lp_value(A):
    """Value of the zero-sum matrix game ``A`` (row maximizes), by ``lp_solve``."""
    return lp_solve(A)[0]


@jax.tree_util.register_pytree_node_class
class Tables:
    """A pytree of any arrays, standing for a game model (``tests/test_latency.py``)."""

    def __init__(self, *arrays):
        self.arrays = arrays

    def tree_flatten(self):
        return self.arrays, None

    @classmethod
    def tree_unflatten(cls, _, arrays):
        return cls(*arrays)
