"""The ``faceforge`` command line: one file per subcommand (parse -> io -> one library call -> io).

Exit codes: 0 success, 1 internal error, 2 usage, 3 unreadable/invalid input, 4 no face found,
5 model asset missing or corrupt (see ``faceforge.errors``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from faceforge import __version__
from faceforge.errors import FaceforgeError

# Subcommand modules in help order; each defines ``register(subparsers)`` which sets ``func(args) -> int``.
COMMANDS = ("demo", "reconstruct", "regress", "assets", "model", "export", "render", "track", "eval", "bench")

EPILOG = "exit codes: 0 ok, 1 internal error, 2 usage, 3 unreadable/invalid input, 4 no face found, 5 missing asset"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceforge", description="CPU-first 3D face modeling.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"faceforge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"faceforge.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (never raises for user errors)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or usage error (2)
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    # faceforge's NumPy work is small matrices (a few hundred rows): a second BLAS thread never pays off and, on a
    # busy machine, turns a 10 ms landmark fit into 200 ms of thread contention. Torch keeps its own setting.
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    try:
        return int(args.func(args))
    except FaceforgeError as exc:
        print(f"faceforge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("faceforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
