"""Durable runs (solvers/checkpoint.py): exact orbax round trips, resume after SIGKILL, bad input."""

import os
import signal
import subprocess
import sys
import textwrap

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgames
import solvers
from jaxgames import matrix
from jaxgames.cli import main
from jaxgames.experiments.results import read_csv
from solvers.checkpoint import latest_step, restore_state, run_checkpointed, save_state
from solvers.sampled.mccfr import MCCFRState

from helpers import quick_compile_flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def assert_trees_equal(a, b):
    """Same structure, dtypes and bits; typed keys compared by implementation and key data."""
    chex.assert_trees_all_equal_structs(a, b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype and x.shape == y.shape, (x.dtype, y.dtype, x.shape, y.shape)
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert jax.random.key_impl(x) == jax.random.key_impl(y)
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def assert_traces_equal(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ----------------------------------------------------------------------------- (1) round trip
@pytest.mark.slow
def test_orbax_round_trip_of_a_state_with_keys_and_named_tuples_is_exact(tmp_path):
    ks = jax.random.split(jax.random.key(3), 4)
    tables = tuple(jax.random.normal(k, (6, 2)) for k in jax.random.split(ks[0]))  # Kuhn's [infosets, A]
    params = {"dense": {"kernel": jax.random.normal(ks[1], (11, 8)), "bias": jnp.zeros(8, jnp.bfloat16)}}
    opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    opt_state = jax.jit(opt.update)(params, opt.init(params), params)[1]  # count = 1, non-zero moments
    state = solvers.SolverState(
        policy=tables,
        average=tuple(t * 2 for t in tables),
        step=jnp.int32(7),
        extra=(
            MCCFRState(regrets=tables, strategy_sums=tables, key=ks[2]),
            opt_state,
            jax.random.split(ks[3], 5),  # a batch of typed keys [5]
            jax.random.PRNGKey(5),  # a raw uint32 key
            None,
            (),
        ),
    )
    save_state(tmp_path / "s", state)
    assert_trees_equal(restore_state(tmp_path / "s", state), state)
    assert_trees_equal(restore_state(tmp_path / "s", jax.eval_shape(lambda: state)), state)  # abstract
    back = restore_state(tmp_path / "s", lambda: state)  # a function returning a template: traced only
    assert_trees_equal(back, state)
    assert isinstance(back.extra[0], MCCFRState) and isinstance(back.extra[1][1][0], optax.ScaleByAdamState)
    # the restored key draws the same numbers
    np.testing.assert_array_equal(
        jax.random.uniform(back.extra[0].key, (3,)), jax.random.uniform(state.extra[0].key, (3,))
    )


# ----------------------------------------------------------------------------- (2) SIGKILL, resume
CHILD = textwrap.dedent("""
    import os, signal, sys
    import jax, jaxgames, solvers
    from solvers.checkpoint import run_checkpointed

    def hook(done):   # SIGKILL ourselves once the checkpoint at step {kill_at} is on disk
        if done == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

    run_checkpointed(solvers.outcome_sampling_mccfr(), jaxgames.kuhn_poker(), {num_steps}, {eval_every},
                     jax.random.key({seed}), directory=sys.argv[1], checkpoint_every={every}, on_checkpoint=hook)
    print("finished without being killed")
""")


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_with_an_identical_trace(tmp_path):
    num_steps, eval_every, every, seed = 60, 10, 20, 4
    directory = tmp_path / "ckpt"
    env = dict(os.environ)
    # the same XLA flags as this process (conftest: quick_compile_flags), so both compile alike
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + quick_compile_flags()).strip()
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    script = CHILD.format(kill_at=every, num_steps=num_steps, eval_every=eval_every, seed=seed, every=every)
    child = subprocess.run(
        [sys.executable, "-c", script, str(directory)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr
    assert latest_step(directory) == every
    # a kill in the middle of the next save leaves only orbax's temporary folder: ignored, cleaned up
    partial = directory / "40.orbax-checkpoint-tmp-1700000000"
    (partial / "state").mkdir(parents=True)
    (partial / "state" / "half_written").write_bytes(b"\0" * 10)
    assert latest_step(directory) == every

    solver, game, key = solvers.outcome_sampling_mccfr(), jaxgames.kuhn_poker(), jax.random.key(seed)
    saved = []
    state, trace = run_checkpointed(
        solver,
        game,
        num_steps,
        eval_every,
        key,
        directory=directory,
        checkpoint_every=every,
        on_checkpoint=saved.append,
    )
    assert saved == [40, 60]  # resumed after step 20, not from scratch
    ref_state, ref_trace = solvers.run(solver, game, num_steps, eval_every, key=key)
    assert_traces_equal(trace, ref_trace)
    assert_trees_equal(state, ref_state)
    np.testing.assert_array_equal(trace.step, np.arange(10, 61, 10))
    assert float(trace.exploitability[-1]) < float(trace.exploitability[0])
    # a finished run called again restores the last checkpoint and runs nothing
    again = run_checkpointed(
        solver,
        game,
        num_steps,
        eval_every,
        key,
        directory=directory,
        checkpoint_every=every,
        on_checkpoint=saved.append,
    )
    assert saved == [40, 60] and sorted(int(p.name) for p in directory.iterdir()) == [40, 60]  # max_to_keep=2
    assert_traces_equal(again[1], ref_trace)


@pytest.mark.slow
def test_neural_solver_resumes_exactly_after_a_crash(tmp_path):
    from solvers.neural.policy_gradient import ppo

    solver = ppo(hidden_sizes=(8,), batch_size=8, num_epochs=1, num_minibatches=1)
    game, key = jaxgames.kuhn_poker(), jax.random.key(1)

    class Crash(Exception):
        pass

    def crash(done):
        raise Crash(done)

    with pytest.raises(Crash):
        run_checkpointed(solver, game, 4, 1, key, directory=tmp_path, checkpoint_every=2, on_checkpoint=crash)
    assert latest_step(tmp_path) == 2
    state, trace = run_checkpointed(solver, game, 4, 1, key, directory=tmp_path, checkpoint_every=2)
    # the reference continues in memory with the same compiled 2-step chunk (one compile less than an
    # uninterrupted solvers.run(..., 4, 1), which also matches: chunking is covered by the tests above)
    half, first = solvers.run(solver, game, 2, 1, key=key)
    ref_state, second = solvers.run(solver, game, 2, 1, state=half)
    np.testing.assert_array_equal(trace.exploitability, np.concatenate([first.exploitability, second.exploitability]))
    np.testing.assert_array_equal(trace.step, [1, 2, 3, 4])
    assert_trees_equal(state, ref_state)  # flax params, optax state, key: restored exactly mid-run


@pytest.mark.slow
def test_chunks_that_do_not_divide_num_steps_match_too(tmp_path):
    solver, game, key = solvers.mirror_descent(0.1), matrix.rock_paper_scissors(), jax.random.key(2)
    state, trace = run_checkpointed(solver, game, 45, 10, key, directory=tmp_path, checkpoint_every=20)
    ref_state, ref_trace = solvers.run(solver, game, 45, 10, key=key)
    np.testing.assert_array_equal(trace.step, [10, 20, 30, 40, 45])
    assert_traces_equal(trace, ref_trace)
    assert_trees_equal(state, ref_state)


# ----------------------------------------------------------------------------- (3) mismatch
def test_a_checkpoint_of_another_run_raises(tmp_path):
    game, key = matrix.rock_paper_scissors(), jax.random.key(0)
    run_checkpointed(
        solvers.mirror_descent(0.1), game, 4, 1, key, directory=tmp_path, checkpoint_every=2, fingerprint="exp-1"
    )
    cases = {
        "solver": {"solver": solvers.mirror_descent(0.2)},
        "game": {"game": matrix.biased_rock_paper_scissors()},
        "key": {"key": jax.random.key(1)},
        "num_steps": {"num_steps": 6},
        "eval_every": {"eval_every": 2},
        "fingerprint": {"fingerprint": "exp-2"},
        "state": {"solver": solvers.regret_matching()},
    }
    for field, change in cases.items():
        args = {
            "solver": solvers.mirror_descent(0.1),
            "game": game,
            "num_steps": 4,
            "eval_every": 1,
            "key": key,
            "fingerprint": "exp-1",
        } | change
        with pytest.raises(
            ValueError,
            match=f"holds a checkpoint \\(step 4\\) of a different run; it differs in [a-z_, ]*\\b{field}\\b",
        ):
            run_checkpointed(**args, directory=tmp_path, checkpoint_every=2)
    assert latest_step(tmp_path) == 4
    # the same run is accepted (and is already done); checkpoint_every may change
    run_checkpointed(
        solvers.mirror_descent(0.1),
        game,
        4,
        1,
        key,
        directory=tmp_path,
        checkpoint_every=4,
        fingerprint="exp-1",
        on_checkpoint=pytest.fail,
    )


# ----------------------------------------------------------------------------- (4) bad input
@pytest.mark.parametrize("every", [0, -10, 15, 2.5, True, None])
def test_checkpoint_every_must_be_a_positive_multiple_of_eval_every(tmp_path, every):
    with pytest.raises(ValueError, match="checkpoint_every: expected a positive multiple of eval_every \\(10\\)"):
        run_checkpointed(
            solvers.mirror_descent(), matrix.matching_pennies(), 100, 10, directory=tmp_path, checkpoint_every=every
        )
    with pytest.raises(ValueError, match="checkpoint_every: .*eval_every \\(10\\)"):  # default: num_steps // 100
        run_checkpointed(
            solvers.mirror_descent(), matrix.matching_pennies(), 1000, directory=tmp_path, checkpoint_every=5
        )
    assert latest_step(tmp_path) is None


def test_other_bad_arguments_raise(tmp_path):
    game = matrix.matching_pennies()
    with pytest.raises(ValueError, match="max_to_keep: expected an integer >= 1"):
        run_checkpointed(solvers.mirror_descent(), game, 4, 1, directory=tmp_path, checkpoint_every=2, max_to_keep=0)
    with pytest.raises(ValueError, match="directory: expected a folder"):
        run_checkpointed(solvers.mirror_descent(), game, 4, 1, directory=None, checkpoint_every=2)
    with pytest.raises(ValueError, match="solver: expected a solvers.Solver"):
        run_checkpointed("mirror_descent", game, 4, 1, directory=tmp_path, checkpoint_every=2)
    with pytest.raises(ValueError, match="key: a sample-based solver needs a PRNG key"):
        run_checkpointed(
            solvers.outcome_sampling_mccfr(), jaxgames.kuhn_poker(), 4, 1, directory=tmp_path, checkpoint_every=2
        )


# ----------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_run_with_checkpoint_every_resumes(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(
        "kind: run\ngame: {name: random_zero_sum}\nsolver: {name: mirror_prox}\n"
        "num_games: 2\nnum_steps: 20\neval_every: 5\n"
    )
    assert main(["run", str(config), "--out", str(tmp_path / "plain")]) == 0
    out = tmp_path / "ckpt"
    assert main(["run", str(config), "--checkpoint-every", "10", "--out", str(out)]) == 0
    assert latest_step(out / "checkpoints") == 20
    plain = read_csv(tmp_path / "plain" / "trace.csv")
    assert read_csv(out / "trace.csv") == plain and len(plain) == 8  # 2 games x 4 evaluations, same bits
    # as if killed after the first checkpoint: the rerun resumes from step 10
    import shutil

    shutil.rmtree(out / "checkpoints" / "20")
    (out / "trace.csv").unlink()
    capsys.readouterr()
    assert main(["run", str(config), "--checkpoint-every", "10", "--out", str(out)]) == 0
    assert "found a checkpoint at step 10 of 20" in capsys.readouterr().out
    assert read_csv(out / "trace.csv") == plain
    # another config in the same --out, or a bad N, is an error (exit 2), not a silent restart
    assert main(["run", str(config), "solver.learning_rate=0.5", "--checkpoint-every", "10", "--out", str(out)]) == 2
    assert "differs in config" in capsys.readouterr().err
    assert main(["run", str(config), "--checkpoint-every", "7", "--out", str(out)]) == 2
    assert "--checkpoint-every: expected a positive multiple of eval_every (5), got 7" in capsys.readouterr().err
