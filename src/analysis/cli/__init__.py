"""The ``ccpm`` command line.

Subcommands are discovered: every module in this package that defines
``register(subparsers)`` adds one (or more) subcommands, and sets
``func=<callable(args) -> int>`` as the parser default. Adding a command is
adding a module; nothing here changes.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from .. import __version__
from ..errors import CcpmError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccpm",
        description="Contact-center performance-management research toolkit.",
    )
    parser.add_argument("--version", action="version", version=f"ccpm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except CcpmError as exc:
        print(f"ccpm {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"ccpm {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: one line unless asked for more
        if os.environ.get("CCPM_DEBUG"):
            raise
        print(
            f"ccpm {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(set CCPM_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
