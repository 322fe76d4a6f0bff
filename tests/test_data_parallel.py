"""Data-parallel training of the neural learners (``solvers.run(..., mesh=...)``, ``solvers.neural.parallel``).

The batch is split over the devices and XLA averages the gradients across them; the program is the
one-device program partitioned, so the same key must give the same exploitability trace as one
device, up to the order of float32 sums. Checked on four fake CPU devices in one process
(``--xla_force_host_platform_device_count=4``), and on two local processes of two CPU devices each
(``jax.distributed``, gloo collectives; the harness of ``test_multihost``), against one device.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

NUM_STEPS, EVAL_EVERY = 12, 4
TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}  # float32 sums in another order


def case(name: str):
    """``(solver, game)``: tiny networks and batches (multiples of 4), a few steps each."""
    import jax

    import jaxgames
    import solvers
    from jaxgames.matrix import random_contextual_preference
    from jaxgames.mean_field import crowd_modelling

    kuhn, small = jaxgames.kuhn_poker(), dict(hidden_sizes=(16,))
    rng = np.random.default_rng(0)
    markov = jaxgames.markov.zero_sum(
        rng.dirichlet(np.ones(3), size=(3, 2, 2)), rng.uniform(-1.0, 1.0, (3, 2, 2)), 0.8, np.full(3, 1 / 3)
    )
    return {
        "ppo": lambda: (solvers.ppo(**small, batch_size=32, num_minibatches=2), kuhn),
        "mmd_rl": lambda: (solvers.mmd_rl(**small, batch_size=32, num_minibatches=2, magnet_every=4), kuhn),
        "mmd_rl_markov": lambda: (solvers.mmd_rl(**small, batch_size=16, unroll_length=8, magnet_every=4), markov),
        "rnad": lambda: (solvers.rnad(**small, batch_size=32, period=4), kuhn),
        "nfsp": lambda: (
            solvers.nfsp(
                **small, num_envs=32, batch_size=32, updates_per_step=2, replay_capacity=256, reservoir_capacity=256
            ),
            kuhn,
        ),
        "neural_nlhf": lambda: (
            solvers.neural_nlhf("nash_md", **small, num_samples=32),
            random_contextual_preference(jax.random.key(3), 4, 4),
        ),
        "deep_mirror_descent": lambda: (
            solvers.deep_mirror_descent(**small, num_agents=64, num_episodes=4, regression_steps=4),
            crowd_modelling(),
        ),
    }[name]()


def trace(name: str, mesh=None) -> list[float]:
    import jax

    import solvers

    solver, game = case(name)
    _, tr = solvers.run(solver, game, NUM_STEPS, eval_every=EVAL_EVERY, key=jax.random.key(0), mesh=mesh)
    return np.asarray(tr.exploitability).tolist()


def errors(mesh) -> list[str]:
    """The messages of the runs whose batch the 4 devices cannot split."""
    import jax

    import jaxgames
    import solvers

    out = []
    for solver in (
        solvers.ppo(hidden_sizes=(4,), batch_size=30, num_minibatches=1),
        solvers.ppo(hidden_sizes=(4,), batch_size=4, num_minibatches=4),  # minibatches of 4 x 5 / 4 decisions
        solvers.nfsp(hidden_sizes=(4,), num_envs=8, batch_size=6, replay_capacity=64, reservoir_capacity=64),
    ):
        try:
            solvers.run(solver, jaxgames.kuhn_poker(), 2, key=jax.random.key(0), mesh=mesh)
            out.append("no error")
        except ValueError as err:
            out.append(str(err))
    return out


def worker(argv: list[str]) -> None:
    """``devices NAME...``: one process, its 4 devices; ``process PID PORT NAME...``: one of two processes."""
    if argv[0] == "process":
        from jaxgames.experiments import multihost

        multihost.initialize(f"localhost:{argv[2]}", 2, int(argv[1]))
        names = argv[3:]
    else:
        names = argv[1:]
    import jax

    from solvers.neural.parallel import data_mesh

    mesh = data_mesh()
    result = {"devices": jax.device_count(), "local": jax.local_device_count()}
    for name in names:
        result[name] = {"parallel": trace(name, mesh)}
        if argv[0] == "devices":
            result[name]["one"] = trace(name)
    if argv[0] == "devices":
        result["errors"] = errors(mesh)
    else:  # each process its own key: refused on both
        import jaxgames
        import solvers

        try:
            solver = solvers.ppo(hidden_sizes=(4,), batch_size=4)
            solvers.run(solver, jaxgames.kuhn_poker(), 2, key=jax.random.key(jax.process_index()), mesh=mesh)
            result["errors"] = ["no error"]
        except ValueError as err:
            result["errors"] = [str(err)]
    print(json.dumps(result))


def run_worker(args, devices: int) -> subprocess.Popen:
    """This file as a worker process with ``devices`` CPU devices (``test_multihost``'s environment)."""
    from test_multihost import env

    environ = env()
    environ["XLA_FLAGS"] = environ["XLA_FLAGS"].replace("device_count=2", f"device_count={devices}")
    cmd = [sys.executable, __file__, *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ)


def result_of(proc: subprocess.Popen, timeout_s: int = 240) -> dict:
    stdout, stderr = proc.communicate(timeout=timeout_s)
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def check_four_devices(names):
    out = result_of(run_worker(["devices", *names], devices=4))
    assert (out["devices"], out["local"]) == (4, 4)
    for name in names:
        one, parallel = np.array(out[name]["one"]), np.array(out[name]["parallel"])
        assert one.shape == (NUM_STEPS // EVAL_EVERY,) and np.all(np.diff(one) != 0), one  # it learns
        np.testing.assert_allclose(parallel, one, **TOLERANCE, err_msg=name)
    return out


@pytest.mark.slow
def test_four_devices_give_the_one_device_trace_and_refuse_batches_they_cannot_split():
    """The on-policy learner and the off-policy one (replay and reservoir buffers split over the devices);
    the others (``rnad``, ``mmd_rl``: ``ppo``'s program with a regularization term; ``mmd_rl_markov``,
    ``neural_nlhf``, ``deep_mirror_descent``) are ``case``s for a manual run that checks nothing, prints the
    traces: ``python tests/test_data_parallel.py devices rnad neural_nlhf deep_mirror_descent`` (measured
    equal to ~1.5e-6); in the suite they would cost ~15 s more."""
    out = check_four_devices(["ppo", "nfsp"])
    ppo_batch, minibatch, nfsp_batch = out["errors"]
    assert ppo_batch.startswith("batch_size: data-parallel training splits batch_size = 30 over the 4 devices")
    assert "expected a multiple of 4" in ppo_batch
    assert minibatch.startswith("num_minibatches: data-parallel training splits each minibatch (20 / 4 decisions)")
    assert nfsp_batch.startswith("batch_size: data-parallel training splits batch_size = 6 over the 4 devices")


@pytest.mark.slow  # two processes: ~10 s each to start and compile
def test_two_processes_give_the_one_device_trace_and_refuse_different_keys():
    from test_multihost import free_port

    port = free_port()
    procs = [run_worker(["process", str(pid), str(port), "ppo"], devices=2) for pid in range(2)]
    outs = [result_of(p) for p in procs]
    for name in ("ppo",):
        one = np.array(trace(name))  # this process: one device
        for out in outs:
            assert (out["devices"], out["local"]) == (4, 2)
            np.testing.assert_allclose(out[name]["parallel"], one, **TOLERANCE, err_msg=name)
    for out in outs:
        assert out["errors"][0].startswith("key or state: differs between processes (process 1 has another"), out


def test_bad_meshes_are_refused():
    import jax
    from jax.sharding import Mesh

    import jaxgames
    import solvers

    solver, game = solvers.ppo(hidden_sizes=(4,)), jaxgames.kuhn_poker()
    with pytest.raises(ValueError, match="mesh: expected a jax.sharding.Mesh with a 'data' axis"):
        solvers.run(solver, game, 2, key=jax.random.key(0), mesh="data")
    with pytest.raises(ValueError, match=r"mesh: expected a mesh with a 'data' axis, got axes \('grid',\)"):
        solvers.run(solver, game, 2, key=jax.random.key(0), mesh=Mesh(np.array(jax.devices()), ("grid",)))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    worker(sys.argv[1:])
