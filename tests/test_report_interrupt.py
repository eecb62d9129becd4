"""Ctrl-C during ``ccpm report``: the notebooks run side by side in spawned workers, each
with a kernel in its own session. An interrupt must stop all of them promptly, print no
worker tracebacks and leave nothing running (it printed 2-5 tracebacks, sometimes hung
for minutes in multiprocessing's exit handler and left workers and kernels behind)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from analysis.report.execute import run_side_by_side

SCRIPT = textwrap.dedent('''
    import subprocess, sys, time
    from analysis.report import execute

    def job(n):
        # a stand-in for a notebook kernel: its own session, like jupyter_client's
        kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                  start_new_session=True)
        execute._KERNELS.append(kernel)
        import os
        # one write of one short line: the two workers share the pipe, and a print's text
        # and its newline could go in two writes and interleave ("...9901worker ...")
        os.write(1, f"worker {os.getpid()} kernel {kernel.pid}\\n".encode())
        time.sleep(300)
        return n

    if __name__ == "__main__":
        try:
            execute.run_side_by_side(job, [1, 2])
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
''')


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_workers_and_kernels_promptly(tmp_path):
    script = tmp_path / "side_by_side.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    pids = []
    try:
        while len(pids) < 2:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            pids.append([int(w) for w in line.split()[1::2]])
        time.sleep(0.3)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does: the whole group
        t0 = time.monotonic()
        rc = proc.wait(timeout=20)
        elapsed = time.monotonic() - t0
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for pair in pids:
            for pid in pair:
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
    assert rc == 130, err
    assert elapsed < 10, elapsed
    assert "Traceback" not in err, err
    assert err.strip() == "interrupted", err
    time.sleep(0.5)
    left = [pid for pair in pids for pid in pair if _alive(pid)]
    assert not left, f"still running: {left}"


def test_side_by_side_returns_in_order_and_raises_the_first_failure():
    assert run_side_by_side(int, ["1", "2"]) == [1, 2]
    with pytest.raises(ValueError, match="'x'"):
        run_side_by_side(int, ["3", "x"])


KILLED_PARENT = textwrap.dedent('''
    import os, subprocess, sys, time
    from analysis.report import execute

    def job(real_kernel):
        kernel = None
        if real_kernel:  # a notebook kernel as papermill starts it (jupyter_client)
            from jupyter_client.manager import KernelManager

            km = KernelManager(kernel_name="python3")
            km.start_kernel()
            kernel = km.provisioner.process.pid
        # one write of one line (the workers share the pipe: see the test above)
        os.write(1, f"worker {os.getpid()} kernel {kernel or 0}\\n".encode())
        time.sleep(300)  # a notebook still running when the report is killed

    if __name__ == "__main__":
        execute.run_side_by_side(job, [bool(int(a)) for a in sys.argv[1:]])
''')


def _killed_parent_leaves(tmp_path, real_kernels: list[int]) -> list[int]:
    """Run workers through run_side_by_side, SIGKILL only the parent: the pids left."""
    script = tmp_path / "killed_parent.py"
    script.write_text(KILLED_PARENT)
    proc = subprocess.Popen([sys.executable, str(script), *map(str, real_kernels)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    pids: list[int] = []
    try:
        for _ in real_kernels:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            pids += [int(w) for w in line.split()[1::2] if int(w)]
        proc.kill()  # the parent alone, as the OOM killer does: not its group
        proc.wait(timeout=10)
        t0 = time.monotonic()
        while any(_alive(p) for p in pids) and time.monotonic() - t0 < 8:
            time.sleep(0.1)
        return [p for p in pids if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_workers_die_with_a_report_killed_outright(tmp_path):
    """A report killed by SIGKILL (its workers not told) left its notebook workers running,
    writing notebooks into the output's temporary folder after it was gone."""
    assert _killed_parent_leaves(tmp_path, [0, 0]) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_a_workers_notebook_kernel_dies_with_a_report_killed_outright(tmp_path):
    """The kernel a worker started (its own session, so no signal to the worker's group
    reaches it) ends too: ipykernel exits when its parent, the worker, is gone."""
    pytest.importorskip("ipykernel")
    assert _killed_parent_leaves(tmp_path, [1]) == []
