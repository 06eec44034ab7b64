"""The ``xpnet`` command line: ``train``, ``evaluate``, ``predict``, ``export``, ``info`` and
``bench``, a module each, with the grammar in [`options`][xpnet.cli.options] and what they share in
[`common`][xpnet.cli.common].

Errors in use (bad flags, bad files, an unavailable backend) print one line to stderr and exit
with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import os
import sys

from ..backend import BackendError
from ..errors import DataError, ModelFileError, TrainingDiverged
from .bench import cmd_bench
from .common import EXIT_USAGE, UsageError
from .evaluate import cmd_evaluate
from .export import cmd_export
from .info import cmd_info
from .options import build_parser
from .predict import cmd_predict
from .train import cmd_train

__all__ = ["EXIT_USAGE", "UsageError", "build_parser", "main"]

COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "predict": cmd_predict,
            "export": cmd_export, "info": cmd_info, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:   # said by the command's own parser, so that it points to its own --help
        parser.commands.get(args.command, parser).error(
            f"unrecognized arguments: {' '.join(unknown)}")
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:   # the reader went away (xpnet evaluate ... | head): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (UsageError, DataError, ModelFileError, BackendError, TrainingDiverged,
            ValueError, TypeError, OSError) as exc:
        if args.debug:
            raise
        print(f"xpnet {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
