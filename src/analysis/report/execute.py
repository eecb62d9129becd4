"""Run notebook templates with papermill into a build folder (never in place).

A failed cell stops the run: papermill saves the partial executed notebook (kept for
diagnosis) and :class:`CellError` carries the cell's ``ename: evalue`` on one line.
After execution, ``#| fig-cap: i18n:<key>`` cell options are replaced by the
translated caption, so both render engines see captions in the report's language.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import nbformat

from ..errors import CcpmError, InputError
from . import i18n

__all__ = ["CellError", "execute_notebook", "localize_notebook", "parameters_cell",
           "run_side_by_side", "kill_kernels", "REPORT_NOTEBOOKS"]

#: Templates of a full report, in the order they are executed (the summary reads what the
#: others computed) and the order they appear in the PDF.
REPORT_NOTEBOOKS = {
    "execute": ("data_quality", "gaming_checks", "model_comparison", "management_summary"),
    "render": ("management_summary", "model_comparison", "gaming_checks", "data_quality"),
    # notebooks in one phase share no cached result, so they may run side by side; the
    # comparison may use the gaming flags, and the summary reads everyone's results
    "phases": (("data_quality", "gaming_checks"), ("model_comparison",),
               ("management_summary",)),
}

_I18N_OPT = re.compile(r"^(#\|\s*[\w-]+:\s*)i18n:([\w.]+)\s*$")


class CellError(CcpmError):
    """A notebook cell raised: ``str(exc)`` is ``<notebook> cell <n>: <ename>: <evalue>``."""

    exit_code = 1

    def __init__(self, message: str, notebook: Path | None = None) -> None:
        super().__init__(message)
        self.notebook = notebook


def parameters_cell(nb) -> int | None:
    """Index of the cell tagged ``parameters`` (None when there is none)."""
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    return None


def localize_notebook(nb, lang: str):
    """Replace ``i18n:<key>`` cell-option values by their ``lang`` text (in place)."""
    for cell in nb.cells:
        if cell.cell_type != "code" or "i18n:" not in cell.source:
            continue
        lines = []
        for line in cell.source.splitlines():
            m = _I18N_OPT.match(line)
            if m:
                text = i18n.t(m.group(2), lang).replace('"', "'")
                line = f'{m.group(1)}"{text}"'
            lines.append(line)
        cell.source = "\n".join(lines)
    return nb


def _one_line(text: str, limit: int = 400) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(text))  # ANSI colours in tracebacks
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


#: how often a notebook kernel that dies before answering is started again
KERNEL_START_ATTEMPTS = 3


def _kernel_start_failed(exc: BaseException) -> bool:
    """True for jupyter_client's errors of a kernel that never answered (not a cell's)."""
    text = str(exc)
    return "Kernel died before replying" in text or "didn't respond in" in text


def _log_tail(log: Path, lines: int = 3) -> str:
    """The kernel's last stderr lines on one line ("no output" when there are none)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return _one_line(" | ".join(text.splitlines()[-lines:])) if text else "no output"


#: the notebook kernels started by this process (each leads its own session, so Ctrl-C
#: at the terminal does not reach it): what :func:`kill_kernels` stops
_KERNELS: list[subprocess.Popen] = []


def kill_kernels() -> None:
    """Stop every notebook kernel this process started that still runs (with its own
    children): on Ctrl-C, or when a notebook worker is told to stop."""
    while _KERNELS:
        proc = _KERNELS.pop()
        try:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        except (OSError, subprocess.SubprocessError):
            pass


def _kernel_manager_class(log_path: Path):
    """An AsyncKernelManager whose kernel writes its stderr (start-up warnings, shutdown
    noise) to ``log_path`` instead of the terminal; cell errors still reach papermill."""
    from jupyter_client.manager import AsyncKernelManager

    class _LoggedKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):  # type: ignore[override]
            if "stderr" in kw:
                return await AsyncKernelManager._async_start_kernel(self, **kw)
            with open(log_path, "ab") as fh:  # the kernel process keeps its own copy
                kw["stderr"] = fh
                started = await AsyncKernelManager._async_start_kernel(self, **kw)
            proc = getattr(self.provisioner, "process", None)
            if isinstance(proc, subprocess.Popen):
                _KERNELS.append(proc)
            return started

    return _LoggedKernelManager


def execute_notebook(
    template: str | os.PathLike,
    output: str | os.PathLike,
    parameters: dict,
    *,
    lang: str = "en",
    cwd: str | os.PathLike | None = None,
    kernel_name: str = "python3",
    timeout: int | None = 1800,
) -> Path:
    """Execute ``template`` with ``parameters`` into ``output``; return ``output``.

    Raises
    ------
    InputError
        The template does not exist or has no ``parameters`` cell.
    CellError
        A cell failed; the partial executed notebook is at ``output``.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    template, output = Path(template), Path(output)
    if not template.is_file():
        raise InputError(f"notebook template not found: {template}")
    nb = nbformat.read(template, as_version=4)
    if parameters_cell(nb) is None:
        raise InputError(f"{template.name}: no cell tagged 'parameters'")
    output.parent.mkdir(parents=True, exist_ok=True)
    log = output.with_suffix(".kernel.log")
    for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
        try:
            pm.execute_notebook(
                str(template),
                str(output),
                parameters=parameters,
                cwd=str(cwd or output.parent),
                kernel_name=kernel_name,
                progress_bar=False,
                request_save_on_cell_execute=False,
                execution_timeout=timeout,
                kernel_manager_class=_kernel_manager_class(log),
            )
            break
        except KeyboardInterrupt:  # the kernel, in its own session, did not see Ctrl-C
            kill_kernels()
            raise
        except PapermillExecutionError as exc:
            msg = f"{template.stem} cell {exc.exec_count}: {exc.ename}: {_one_line(exc.evalue)}"
            raise CellError(msg, output) from None
        except RuntimeError as exc:
            if not _kernel_start_failed(exc):
                raise
            if attempt == KERNEL_START_ATTEMPTS:
                raise CellError(
                    f"{template.stem}: the notebook kernel died while starting, "
                    f"{KERNEL_START_ATTEMPTS} times; its last words: {_log_tail(log)}",
                    output) from None
            # kernels started side by side can race for the same free TCP ports (the
            # port is picked, released, then bound by the kernel): start again shortly
            time.sleep(0.5 + random.random() * attempt)
    done = nbformat.read(output, as_version=4)
    localize_notebook(done, lang)
    nbformat.write(done, output)
    return output


def _worker(func, job, conn, parent: int | None = None) -> None:
    """A notebook worker (spawned by :func:`run_side_by_side`): SIGINT ignored (the parent
    alone answers Ctrl-C), SIGTERM stops its kernels and exits; on Linux SIGKILLed when
    the parent (pid ``parent``) dies, even by SIGKILL, its kernels following within a
    second (:func:`analysis._parent.die_with_parent`); sends back ``("ok", result)`` or
    ``("error", exception)``."""
    from .._parent import die_with_parent

    die_with_parent(parent)  # first: a killed report's workers wrote notebooks on
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def stop(signum, frame):
        kill_kernels()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    try:
        reply = ("ok", func(job))
    except Exception as exc:  # noqa: BLE001 - carried to the parent, raised there
        reply = ("error", exc)
    try:
        conn.send(reply)
    except Exception as exc:  # an exception that does not pickle: its text
        conn.send(("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]}"
                                         if reply[0] == "error" else exc)))
    conn.close()


class _NoSigint:
    """In the main thread: SIGINT held back (blocked, its disposition SIG_IGN, which
    processes spawned meanwhile inherit) and delivered when the block ends."""

    def __enter__(self):
        self.main = threading.current_thread() is threading.main_thread()
        if self.main:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            self.old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        return self

    def __exit__(self, *exc):
        if self.main:
            signal.signal(signal.SIGINT, self.old)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        return False


def _stop(procs, grace: float = 5.0) -> None:
    """Terminate worker processes (each then stops its kernels) and reap them."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join(1.0)


def run_side_by_side(func, jobs: list) -> list:
    """``[func(job) for job in jobs]``, each job in its own spawned process.

    The workers die with this process, even when it is killed outright (on Linux; start
    them from the main thread, see :func:`analysis._parent.die_with_parent`).
    The first failure (in job order) is raised after all have finished. Ctrl-C is the
    parent's alone (the workers ignore SIGINT): on KeyboardInterrupt, or any other
    exception in the parent, every worker is terminated (stopping its notebook kernels)
    and reaped before the exception goes on, so nothing is left running and nothing is
    left for multiprocessing's exit handler to wait for.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context("spawn")
    procs, conns = [], []
    try:
        for job in jobs:
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, args=(func, job, send, os.getpid()), daemon=True)
            with _NoSigint():
                p.start()
            send.close()
            procs.append(p)
            conns.append(recv)
        replies: dict[int, tuple] = {}
        pending = dict(enumerate(conns))
        while pending:
            for conn in wait(list(pending.values())):
                i = next(k for k, c in pending.items() if c is conn)
                try:
                    replies[i] = conn.recv()
                except EOFError:  # died without a word (killed, out of memory)
                    procs[i].join(5)
                    replies[i] = ("error", CcpmError(
                        f"a notebook worker stopped unexpectedly (exit code "
                        f"{procs[i].exitcode})"))
                del pending[i]
        for p in procs:
            p.join(10)
    except BaseException:
        with _NoSigint():  # a second Ctrl-C must not cut the clean-up short
            _stop(procs)
        raise
    finally:
        for c in conns:
            c.close()
    for i in range(len(jobs)):
        if replies[i][0] == "error":
            raise replies[i][1]
    return [replies[i][1] for i in range(len(jobs))]
