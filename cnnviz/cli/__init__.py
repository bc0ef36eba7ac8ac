"""Command line: ``cnnviz`` (or ``python -m cnnviz``) ``info|train|import|activations|attribution|sanity|oip|sweep|
open-rates|reproducibility|exemplars|hand|dissect|timeline|circuit|compare|card|atlas``.

The parser needs no TensorFlow, so ``--help`` and argument errors answer at once; TensorFlow loads (quietly) once a
command runs. Every command prints a report for people, or JSON with ``--json``; a user error is one line on stderr
and exit status 2; a closed pipe (``| head``) ends quietly.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import CnnvizError
from . import commands, dossier, insight
from .common import CLIError

__all__ = ["CLIError", "build_parser", "entry", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cnnviz", description="Look inside a convolutional network: the articles' MNIST "
                                "CNN or any Keras image classifier.")
    sub = p.add_subparsers(dest="command", required=True)
    commands.add_commands(sub)
    insight.add_commands(sub)
    dossier.add_commands(sub)
    return p


def entry() -> None:
    """The ``cnnviz`` console script."""
    sys.exit(main())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from ..device import quiet_tensorflow

        quiet_tensorflow()
        args.func(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`cnnviz info --json | head`): nothing more to say, and no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (ValueError, CnnvizError, OSError) as e:  # USER_ERRORS, and files that cannot be written
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0
