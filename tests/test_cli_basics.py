"""The CLI's contract: discovery of subcommands, one-line errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

from analysis.cli import build_parser, main


def test_version_and_help_run():
    out = subprocess.run([sys.executable, "-m", "analysis", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.startswith("ccpm ")


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: ccpm" in capsys.readouterr().err


def test_unexpected_error_is_one_line(monkeypatch, capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    p = sub.add_parser("boom")

    def explode(args):
        raise RuntimeError("kaboom")

    p.set_defaults(func=explode)
    monkeypatch.setattr("analysis.cli.build_parser", lambda: parser)
    monkeypatch.delenv("CCPM_DEBUG", raising=False)
    assert main(["boom"]) == 1
    err = capsys.readouterr().err
    assert "RuntimeError: kaboom" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_every_command_writing_ids_refuses_a_salt_without_pseudonymize(tmp_path, capsys):
    """--salt-file alone would silently write raw ids: refused, one line, exit 2."""
    salt = tmp_path / "salt"
    salt.write_text("s" * 32)
    for cmd in ("validate", "panel", "gaming", "compare", "report"):
        out = tmp_path / cmd
        argv = [cmd, "--calls", str(tmp_path / "none.csv"), "--salt-file", str(salt),
                "--out", str(out / "x.parquet" if cmd == "panel" else out)]
        assert main(argv) == 2, cmd
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1] == f"ccpm {cmd}: error: --salt-file needs --pseudonymize", err


def _small_calls(tmp_path):
    from analysis.synth import generate_center, write_center

    return write_center(generate_center(agents=8, days=7, seed=3, gaming="none"),
                        tmp_path / "center")


def test_a_closed_console_pipe_does_not_abort_the_run(tmp_path):
    """``ccpm gaming ... | head -1``: the reader goes away after one line; the run must
    still finish and write its output folder (it died with exit 1 and no output)."""
    import os

    paths = _small_calls(tmp_path)
    for cmd in ("gaming", "validate"):
        r, w = os.pipe()
        os.close(r)  # every console write is a broken pipe
        try:
            proc = subprocess.run([sys.executable, "-m", "analysis", cmd, "--calls",
                                   str(paths["calls"]), "--out", str(tmp_path / cmd)],
                                  stdout=w, stderr=w, timeout=300)
        finally:
            os.close(w)
        assert proc.returncode == 0, cmd
        assert (tmp_path / cmd / "manifest.json").is_file(), cmd


def test_pipe_safe_stream_survives_a_broken_pipe():
    from analysis.cli import _PipeSafe

    class Broken:
        def write(self, text):
            raise BrokenPipeError

        def flush(self):
            raise BrokenPipeError

        def fileno(self):
            raise ValueError("no descriptor")

    s = _PipeSafe(Broken())
    assert s.write("x\n") == 2
    s.flush()
    print("more", file=s)
