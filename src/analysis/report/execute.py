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
import time
from pathlib import Path

import nbformat

from ..errors import CcpmError, InputError
from . import i18n

__all__ = ["CellError", "execute_notebook", "localize_notebook", "parameters_cell", "REPORT_NOTEBOOKS"]

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
                return await AsyncKernelManager._async_start_kernel(self, **kw)

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
