"""A notebook kernel that dies before it answers is started again (kernels launched side
by side can race for the same TCP ports; CI saw "Kernel died before replying to
kernel_info" from ``make report``), and one that never starts is reported on one line
with what it printed."""

from __future__ import annotations

import sys

import nbformat
import pytest

from analysis.report import execute


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nb.metadata["language_info"] = {"name": "python"}
    params = nbformat.v4.new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("y = x + 1\nprint(y)")]
    nbformat.write(nb, path)
    return path


def _dying_first(n_dead: int):
    """A kernel manager class whose first ``n_dead`` kernels exit before answering."""
    real = execute._kernel_manager_class
    starts = {"n": 0}

    def factory(log_path):
        base = real(log_path)

        class Dying(base):
            def format_kernel_cmd(self, extra_arguments=None):
                starts["n"] += 1
                if starts["n"] <= n_dead:
                    return [sys.executable, "-c",
                            "import sys; sys.stderr.write('zmq: Address already in use\\n');"
                            " sys.exit(1)"]
                return super().format_kernel_cmd(extra_arguments)

        return Dying

    return factory, starts


def test_a_kernel_that_dies_at_start_is_started_again(tmp_path, monkeypatch):
    factory, starts = _dying_first(1)
    monkeypatch.setattr(execute, "_kernel_manager_class", factory)
    monkeypatch.setattr(execute.time, "sleep", lambda s: None)
    out = execute.execute_notebook(_notebook(tmp_path / "t.ipynb"), tmp_path / "out.ipynb",
                                   {"x": 41})
    assert starts["n"] == 2
    done = nbformat.read(out, as_version=4)
    assert "42" in "".join(o.get("text", "") for c in done.cells if c.cell_type == "code"
                            for o in c.get("outputs", []))


def test_a_kernel_that_never_starts_is_one_line_with_its_stderr(tmp_path, monkeypatch):
    factory, starts = _dying_first(99)
    monkeypatch.setattr(execute, "_kernel_manager_class", factory)
    monkeypatch.setattr(execute.time, "sleep", lambda s: None)
    with pytest.raises(execute.CellError) as err:
        execute.execute_notebook(_notebook(tmp_path / "t.ipynb"), tmp_path / "out.ipynb", {})
    assert starts["n"] == execute.KERNEL_START_ATTEMPTS
    msg = str(err.value)
    assert "died while starting" in msg and "Address already in use" in msg
    assert "\n" not in msg
