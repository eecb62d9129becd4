"""Worker processes that do not outlive their parent.

A worker (a report's notebook worker, a batch job) that goes on after its parent is killed
outright (SIGKILL, the out-of-memory killer) keeps executing notebooks and writing raw
results into a temporary folder nobody will move into place; only the next run beside the
output removes it. :func:`die_with_parent`, first thing in a worker, has the Linux kernel
SIGKILL the worker when its parent dies (``prctl(PR_SET_PDEATHSIG)``). The notebook
kernels a worker starts follow it: ipykernel exits within a second when its parent changes
(``JPY_PARENT_PID``, which jupyter_client sets to the process that starts the kernel).

On other systems the request is a no-op (the worker only checks its parent is there).
"""

from __future__ import annotations

import os
import signal
import sys

__all__ = ["die_with_parent"]

#: ``PR_SET_PDEATHSIG`` of ``<linux/prctl.h>``.
_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int | None = None) -> bool:
    """Have this process SIGKILLed when its parent dies (Linux; else nothing); return
    whether the request took effect.

    ``parent`` is the pid of the process that started this one: if it is no longer this
    process's parent (it died before the request was made, and this process was adopted
    by init or a subreaper), this process exits at once (status 1). Without it, an
    adoption by init (pid 1) is taken as the sign.

    The signal comes when the *thread* that started this process ends: start workers from
    a thread that lives as long as they do (the main thread).
    """
    done = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            done = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
        except (OSError, AttributeError, ValueError):
            done = False
    ppid = os.getppid()
    if (parent is not None and ppid != parent) or (parent is None and ppid == 1):
        os._exit(1)
    return done
