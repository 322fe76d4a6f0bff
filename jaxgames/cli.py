"""The ``jaxgames`` command: list, run, sweep, bench.

    jaxgames list                         registered games and solvers with their parameters
    jaxgames run CONFIG [FIELD=VALUE ...]   one experiment (--checkpoint-every N: durable, resumable),
                                          or the logit QRE path of a game (a config with kind: qre_path)
    jaxgames sweep CONFIG [FIELD=VALUE ...] a grid as vmapped, chunked, resumable calls
    jaxgames bench [CONFIG] [FIELD=VALUE ...] solvers x games, by family (built-in suites without CONFIG)

Overrides use dotted field paths, e.g. ``solver.learning_rate=0.05`` (short for
``solver.params.learning_rate``), ``num_steps=200`` or ``grid.seed=[0,1,2]``;
values are parsed as YAML; list items are numbered, e.g. ``suites.1.num_games=4``.
Every command accepts ``--out DIR``.

``jaxgames bench`` writes a table per suite, ``results.csv``, ``curves.csv``, one plot per game and
``summary.png`` (exploitability against wall-clock time, one panel per suite); it exits with status 1
when a check of the measurements fails (a missing result, a non-finite exploitability).

``jaxgames run CONFIG --checkpoint-every N`` saves the solver state (orbax) every N steps
under DIR/checkpoints; a run that is killed (even with SIGKILL) continues from its latest
checkpoint when the same command is run again, with the same exploitability trace as an
uninterrupted run. N must be a multiple of the config's eval_every.

``jaxgames run`` of a config with ``kind: qre_path`` traces the logit QRE path of its game
(``jaxgames.equilibria.qre_path``) and writes ``path.csv``, ``path.png`` and ``summary.json``; a path
that fails is reported with the lambda where it stopped, exit status 1 (its points are still written).

A bad config, override or --out is reported as ``FILE: FIELD: what was expected`` with exit
status 2 before any work starts; ``--traceback`` shows the full traceback of an error instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_RESERVED = {"name", "params", "label"}


def _expand(overrides: list[str]) -> list[str]:
    """``solver.learning_rate=...`` -> ``solver.params.learning_rate=...`` (same for ``game.``)."""
    out = []
    for item in overrides:
        path, eq, value = item.partition("=")
        parts = path.split(".")
        if eq and len(parts) == 2 and parts[0] in ("solver", "game") and parts[1] not in _RESERVED:
            path = f"{parts[0]}.params.{parts[1]}"
        out.append(f"{path}{eq}{value}")
    return out


def _default_out(kind: str, config: str | None) -> Path:
    return Path("results") / f"{kind}-{Path(config).stem if config else 'default'}"


def _progress(total: int, desc: str, disable: bool = False):
    from tqdm import tqdm

    bar = tqdm(
        total=total,
        desc=desc,
        unit="pt" if desc == "sweep" else "pair",
        file=sys.stderr,
        disable=True if disable else None,  # None: off when stderr is not a terminal
        dynamic_ncols=True,
    )

    def update(n, skipped=False):
        bar.update(n)
        if skipped:
            bar.set_postfix_str("resumed")

    return bar, update


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="jaxgames",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show the full Python traceback of an error (for bug reports)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="registered games and solvers with their parameters")
    listing.add_argument("--out", type=Path, help="also write the listing to DIR/registry.txt")
    for name, needs in (("run", True), ("sweep", True), ("bench", False)):
        p = sub.add_parser(name, help=f"{name} a config")
        p.add_argument("config", nargs=None if needs else "?", help="YAML config file")
        p.add_argument("overrides", nargs="*", help="FIELD.PATH=VALUE overrides")
        p.add_argument("--out", type=Path, help="results directory (default results/<command>-<config>)")
        if name in ("run", "sweep"):
            group = p.add_argument_group(
                "several processes (jax.distributed; docs: Scaling out)",
                "give all three, or --distributed to read them from the cluster environment (SLURM, TPU pods)",
            )
            group.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
            group.add_argument("--num-processes", type=int, metavar="N", help="how many processes take part")
            group.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0 .. N-1")
            group.add_argument(
                "--distributed", action="store_true", help="jax.distributed.initialize() from the environment"
            )
            group.add_argument(
                "--coordinator-timeout", type=int, default=120, metavar="S", help="seconds to wait for every process"
            )
        if name == "run":
            p.add_argument(
                "--checkpoint-every",
                type=int,
                metavar="N",
                help="save the solver state (orbax) every N steps under OUT/checkpoints; rerunning "
                "the same command resumes from the latest checkpoint, with the same trace as an "
                "uninterrupted run. N: a multiple of eval_every",
            )
    args = parser.parse_args(argv)
    if args.traceback:
        return _dispatch(args)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _USER_ERRORS as err:
        print(f"error: {_message(err)}", file=sys.stderr)
        return 2
    except RuntimeError as err:  # XLA out of memory: sizes the user chose
        if "RESOURCE_EXHAUSTED" not in str(err):
            raise
        print(f"error: out of device memory; choose smaller sizes or fewer points per chunk\n{_HINT}", file=sys.stderr)
        return 2


#: Errors that come from what the user asked for (a config, a value, a path, the disk): a message, exit 2.
#: (``ConfigError``, raised for every config, override and ``--out`` problem, is a ``ValueError``.)
_USER_ERRORS = (ValueError, TypeError, OverflowError, OSError, MemoryError)
_HINT = "(run with jaxgames --traceback ... to see the full traceback)"


def _message(err: BaseException) -> str:
    """One line (or a few) for the user: the config error, or the file and reason of an OS error."""
    from jaxgames.experiments.config import ConfigError

    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, OSError) and err.strerror:
        where = f"{err.filename}: " if err.filename else ""
        return f"{where}{err.strerror}"
    if isinstance(err, MemoryError):
        return f"out of memory; choose smaller sizes\n{_HINT}"
    return f"{str(err).strip() or type(err).__name__}\n{_HINT}"


def _start_distributed(args) -> None:
    """``jax.distributed.initialize`` for ``--coordinator/--num-processes/--process-id`` or ``--distributed``."""
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if not args.distributed and all(v is None for v in explicit):
        return
    from jaxgames.experiments import multihost

    if args.distributed and any(v is not None for v in explicit):
        from jaxgames.experiments.config import ConfigError

        raise ConfigError("--distributed: reads the processes from the environment; drop --coordinator and co.")
    multihost.initialize(*explicit, timeout_s=args.coordinator_timeout)


def _dispatch(args) -> int:
    from jaxgames.experiments import config as cfg
    from jaxgames.experiments.results import atomic_write_text, prepare_out

    if args.command == "list":
        from jaxgames.experiments.registry import describe

        text = describe()
        if args.out:
            out = prepare_out(args.out)
        print(text)
        if args.out:
            atomic_write_text(out / "registry.txt", text + "\n")
        return 0
    if args.command in ("run", "sweep"):
        _start_distributed(args)
    # bench may also be given a YAML with only overrides of the built-in suite
    config_path = args.config
    if args.command == "bench" and config_path and "=" in config_path and not Path(config_path).exists():
        args.overrides.insert(0, config_path)
        config_path = None
    from jaxgames.experiments.bench import DEFAULT_BENCH

    config = cfg.load_config(
        config_path, args.command, _expand(args.overrides), default=DEFAULT_BENCH if args.command == "bench" else None
    )
    out = prepare_out(args.out or _default_out(args.command, config_path))  # before any work
    if args.command == "run" and config.kind == "qre_path":
        from jaxgames.experiments.execute import run_qre_path

        if args.checkpoint_every is not None:
            raise cfg.ConfigError("--checkpoint-every: a qre_path run has no solver steps to checkpoint")
        summary = run_qre_path(config, out)
        if "error" in summary:
            print(f"error: {summary['error']}", file=sys.stderr)
            return 1
    elif args.command == "run":
        from jaxgames.experiments.execute import run_experiment

        run_experiment(config, out, checkpoint_every=args.checkpoint_every)
    elif args.command == "sweep":
        from jaxgames.experiments import multihost
        from jaxgames.experiments.execute import run_sweep

        bar, update = _progress(len(config.points()), "sweep", disable=not multihost.is_writer())
        with bar:
            rows = run_sweep(config, out, progress=update, log=lambda m: print(m, file=sys.stderr))
        if not multihost.is_writer():
            return 0  # process 0 reports
        best = min(rows, key=lambda r: float(r["final_exploitability"]))
        print(
            f"{len(rows)} grid points; best final exploitability {float(best['final_exploitability']):.3e} at "
            + ", ".join(f"{k}={best[k]}" for k in config.grid)
        )
    else:
        from jaxgames.experiments.bench import run_bench

        bar, update = _progress(len(config.pairs()), "bench")
        with bar:
            result = run_bench(config, out, progress=update, log=lambda m: bar.write(m, file=sys.stdout))
        if result.problems:
            print(
                f"results written to {out}/, but {len(result.problems)} check(s) failed (listed above)", file=sys.stderr
            )
            return 1
    from jaxgames.experiments import multihost

    if multihost.is_writer():  # with several processes, process 0 writes (and says so)
        print(f"results written to {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
