"""The ``ccpm`` command line.

Subcommands are discovered: every module in this package that defines
``register(subparsers)`` adds one (or more) subcommands, and sets
``func=<callable(args) -> int>`` as the parser default. Adding a command is
adding a module; nothing here changes.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sys

from .. import __version__
from ..errors import CcpmError

__all__ = ["main", "build_parser", "add_privacy_arguments", "pseudonymizer_from_args",
           "shown", "os_error_line", "positive", "at_least", "name_list"]


def positive(kind=float):
    """An argparse ``type``: a number > 0 (seconds, hours), the same rule in every command
    (``--short-call-s -1`` was refused by gaming but taken by compare and report)."""
    def parse(s: str):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
        if not v > 0 or v != v or v in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"must be > 0: {s!r}")
        return v

    parse.__name__ = kind.__name__  # argparse names the type in its message
    return parse


def at_least(minimum: int):
    """An argparse ``type``: a whole number >= ``minimum`` (counts: workers, replicates)."""
    def parse(s: str):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {s!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}: {s!r}")
        return v

    parse.__name__ = "int"
    return parse


def name_list(text: str | None, option: str) -> list[str] | None:
    """A comma-separated list of names (None when the option was not given); a list
    with no name in it (``--checks ,``) is refused, not taken as 'all'."""
    from ..errors import ConfigError

    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"{option} {text!r}: no name in the list (leave {option} out "
                          "for the default)")
    return names


def add_privacy_arguments(p: argparse.ArgumentParser) -> None:
    """``--pseudonymize`` and ``--salt-file``, the same for every command that writes ids."""
    g = p.add_argument_group("privacy (docs/privacy.md)")
    g.add_argument("--pseudonymize", action="store_true",
                   help="write agent, rater and customer ids as stable salted pseudonyms "
                        "(A-/C-/F- + 16 hex digits of HMAC-SHA256), in every output file, "
                        "text and the manifest")
    g.add_argument("--salt-file", metavar="FILE",
                   help="salt for --pseudonymize (default: CCPM_SALT, else a salt generated "
                        "once in ~/.config/ccpm/salt); the same salt gives the same "
                        "pseudonyms in every command, so outputs can be joined; a FILE that "
                        "does not exist is refused unless --new-salt")
    g.add_argument("--new-salt", action="store_true",
                   help="generate a new salt in --salt-file FILE when it does not exist "
                        "(an existing salt is kept)")


#: Arguments naming data files whose names are pseudonymized (``alice.csv``).
_DATA_ARGS = ("calls", "ratings", "roster", "okr", "truth", "flags", "panel")
#: Arguments whose Parquet may already be pseudonymized (``validate --pseudonymize``).
_PASS_ARGS = ("calls", "ratings", "roster", "panel")


def pseudonymizer_from_args(args: argparse.Namespace, *, keep=("center",)):
    """The run's :class:`analysis.privacy.Pseudonymizer`, or None without --pseudonymize.

    The salt is checked by :func:`prepare_salt` (a --salt-file that does not exist is
    refused unless --new-salt; a generated salt is announced on stderr). Inputs already
    pseudonymized with the same salt (their Parquet metadata, written by ``validate
    --pseudonymize``, has this salt's ``salt_id``) are passed through; with another
    salt the run is refused. Input file names are pseudonymized wherever written.
    """
    from ..errors import ConfigError

    salt_file = getattr(args, "salt_file", None)
    prepare_salt(args)
    if not getattr(args, "pseudonymize", False):
        return None
    from ..privacy import Pseudonymizer, input_salt_ids

    pz = Pseudonymizer.from_salt_file(salt_file, keep=keep)
    for name in _PASS_ARGS:
        value = getattr(args, name, None)
        seen = input_salt_ids(value) if value else set()
        if seen - {pz.salt_id}:
            raise ConfigError(
                f"--{name} {os.path.basename(str(value).rstrip('/'))} was pseudonymized with "
                f"another salt (salt_id {sorted(seen - {pz.salt_id})[0]}, this run's "
                f"{pz.salt_id}): give the salt that wrote it, or the raw input")
        if seen:
            pz.passthrough = True
    pz.learn_files(*(getattr(args, n, None) for n in _DATA_ARGS))
    return pz


def prepare_salt(args: argparse.Namespace) -> None:
    """Check the run's salt before any work, generating it where that is asked for (the
    default salt file when missing, or ``--salt-file F --new-salt``) and saying so. A
    ``--salt-file`` that does not exist is refused (a typo would give pseudonyms that join
    nothing written before), as is a folder."""
    from ..errors import ConfigError

    salt_file = getattr(args, "salt_file", None)
    new = getattr(args, "new_salt", False)
    if not getattr(args, "pseudonymize", False):
        if salt_file or new:
            raise ConfigError(f"{'--salt-file' if salt_file else '--new-salt'} needs "
                              "--pseudonymize")
        return
    if new and not salt_file:
        raise ConfigError("--new-salt needs --salt-file FILE (the default salt is "
                          "generated when missing)")
    if os.environ.get("CCPM_SALT"):
        return
    from ..privacy import default_salt_file, resolve_salt

    path = os.path.expanduser(salt_file) if salt_file else str(default_salt_file())
    missing = not os.path.exists(path)
    resolve_salt(salt_file, new=new)
    if missing:
        print(f"ccpm: no salt in {path}: generated one there (keep it secret and keep "
              "it: the same salt gives the same pseudonyms)", file=sys.stderr)


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


def shown(args: argparse.Namespace, path) -> str:
    """``path`` as the user will find it: a path inside the staged temporary output of
    the running command (:func:`_run_staged`) is named inside the final output."""
    final = getattr(args, "_out", None)
    if final is None or os.fspath(args.out) == os.fspath(final):
        return str(path)
    folder = getattr(args, "staged", None) == "folder"
    staged = os.fspath(args.out) if folder else os.path.dirname(os.fspath(args.out))
    dest = os.fspath(final) if folder else (os.path.dirname(os.fspath(final)) or ".")
    rel = os.path.relpath(os.path.abspath(os.fspath(path)), os.path.abspath(staged))
    if rel.startswith(".."):
        return str(path)
    return dest if rel == "." else os.path.join(dest, rel)


#: Options that name a run's input files (checked against its output, which ccpm replaces;
#: ``--results-from`` is not: a report may reuse its own previous results in place).
_INPUT_OPTIONS = ("calls", "ratings", "okr", "roster", "truth", "flags", "config", "mapping",
                  "ratings_mapping", "roster_mapping", "salt_file", "schedule")


def _run_staged(args: argparse.Namespace) -> int:
    """Run the command with its output staged (:mod:`analysis.outdir`): ``args.out`` is a
    temporary sibling of the output while the command runs (``args._out`` as typed, which
    the manifest records), moved into place only when the command succeeds."""
    kind = getattr(args, "staged", None)
    if kind not in ("folder", "file") or not getattr(args, "out", None):
        return int(args.func(args) or 0)
    from ..outdir import check_inputs_outside, staged_file, staged_output

    final = args.out
    check_inputs_outside(final, {f"--{a.replace('_', '-')}": getattr(args, a, None)
                                 for a in _INPUT_OPTIONS})
    if kind == "folder":
        with staged_output(final) as tmp:
            args._out, args.out = final, str(tmp)
            try:
                rc = int(args.func(args) or 0)
                if rc:
                    raise _Failed(rc)  # a failing command leaves the previous output
            finally:
                args.out = final
        return rc
    with staged_file(final) as tmp:
        args._out, args.out = final, str(tmp / os.path.basename(os.path.abspath(final)))
        try:
            rc = int(args.func(args) or 0)
            if rc:
                raise _Failed(rc)
        finally:
            args.out = final
    return rc


class _Failed(Exception):
    """A staged command returned a non-zero exit code: its output is not kept."""

    def __init__(self, rc: int):
        super().__init__(rc)
        self.rc = rc


_OS_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "not a folder",
    errno.EISDIR: "is a folder",
    errno.EMFILE: "too many open files",
    errno.ENAMETOOLONG: "file name too long",
    errno.EXDEV: "the output folder and its parent are on different file systems",
}


def os_error_line(exc: BaseException) -> str:
    """One line for an operating-system error (full disk, read-only folder, no
    permission, ...): what happened, where, and what to do."""
    code = getattr(exc, "errno", None)
    what = _OS_REASONS.get(code) or (getattr(exc, "strerror", None) or "").lower() or \
        " ".join(str(exc).split())[:300]
    where = getattr(exc, "filename", None)
    where2 = getattr(exc, "filename2", None)
    line = what + (f": {where}" if where else "") + (f" -> {where2}" if where2 else "")
    hint = {errno.ENOSPC: "free some space and run again",
            errno.EDQUOT: "free some space and run again",
            errno.EROFS: "give an --out on a writable disk",
            errno.EACCES: "check the permissions, or give another --out",
            errno.EPERM: "check the permissions, or give another --out"}.get(code)
    return line + (f" ({hint})" if hint else "")


def _is_duckdb_io(exc: BaseException) -> bool:
    return any(c.__name__ == "IOException" and c.__module__.lstrip("_").startswith("duckdb")
               for c in type(exc).__mro__)


class _PipeSafe:
    """A console stream whose reader may go away (``ccpm gaming ... | head -1``): once the
    pipe is closed, the rest of the console output goes to /dev/null (its descriptor too,
    for child processes) and the run goes on to write its outputs, instead of dying on a
    BrokenPipeError at the next progress line."""

    def __init__(self, stream):
        self._stream = stream

    def _drop(self) -> None:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):  # no descriptor: keep the stream, drop the text
            self._stream = open(os.devnull, "w")

    def write(self, text):
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._drop()
            try:
                return self._stream.write(text)
            except OSError:
                return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._drop()
            try:
                self._stream.flush()
            except OSError:
                pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _no_sigint:
    """SIGINT ignored inside (main thread only)."""

    def __enter__(self):
        import signal
        import threading

        self.old = None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def __exit__(self, *exc):
        import signal

        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)
        return False


def _guard_console():
    """Wrap stdout and stderr in :class:`_PipeSafe`; returns the streams to put back."""
    saved = (sys.stdout, sys.stderr)
    if sys.stdout is not None and not isinstance(sys.stdout, _PipeSafe):
        sys.stdout = _PipeSafe(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, _PipeSafe):
        sys.stderr = _PipeSafe(sys.stderr)
    return saved


def main(argv: list[str] | None = None) -> int:
    saved = _guard_console()
    try:
        return _main(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()  # a closed pipe is found here, not at exit (exit code 120)
        sys.stdout, sys.stderr = saved


def _remove_stale_working_copies() -> None:
    """Remove the raw working copies (``$TMPDIR/ccpm-spill-<host>@<pid>-…``) that ccpm runs
    killed outright left on this host: every command does, whatever it reads."""
    try:
        from ..workcopy import remove_stale

        remove_stale()
    except Exception:  # noqa: BLE001 - a clean-up, never a reason for the command to fail
        pass


def _main(argv: list[str] | None) -> int:
    # first, so that any command removes them (--help and a mistyped option too)
    _remove_stale_working_copies()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return _run_staged(args)
    except _Failed as exc:
        return exc.rc
    except CcpmError as exc:
        print(f"ccpm {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        with _no_sigint():  # a second Ctrl-C must not turn the message into a traceback
            print(f"ccpm {args.command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the machine, not ccpm: full disk, read-only, no permission
        print(f"ccpm {args.command}: error: {os_error_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: one line unless asked for more
        if _is_duckdb_io(exc) and not os.environ.get("CCPM_DEBUG"):
            msg = " ".join(str(exc).split())[:300]
            print(f"ccpm {args.command}: error: {msg}", file=sys.stderr)
            return 2
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
