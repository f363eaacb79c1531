"""How many CPU threads torch uses, chosen once per process and logged.

On a shared machine torch's intra-op threads wait for each other at every
operation (a quick-start step: 16.7 s with 2 threads beside another job on 2
cores, 1.3 s with 1), so the recipes and command lines take ``num_threads``
(README, "Threads").

Authors
 * speechbrain-tclap developers 2026
"""

import os
from typing import Optional

import torch
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)


def default_num_threads() -> int:
    """``OMP_NUM_THREADS`` when set, otherwise the cores this process may use.

    Returns
    -------
    int
        A thread count of at least 1.

    Example
    -------
    >>> default_num_threads() >= 1
    True
    """
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cores()


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity).

    Returns
    -------
    int
        At least 1.

    Example
    -------
    >>> usable_cores() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def set_num_threads(num_threads: Optional[int] = None) -> int:
    """Set torch's intra-op CPU threads and log the choice.

    Arguments
    ---------
    num_threads : int, optional
        Threads to use; None: :func:`default_num_threads`.

    Returns
    -------
    int
        The thread count set.

    Raises
    ------
    ValueError
        ``num_threads`` is not a positive integer.

    Example
    -------
    >>> before = torch.get_num_threads()
    >>> set_num_threads(1), torch.get_num_threads()
    (1, 1)
    >>> _ = set_num_threads(before)
    """
    if num_threads is None:
        chosen, why = default_num_threads(), "default: OMP_NUM_THREADS, else the cores this process may use"
    else:
        if isinstance(num_threads, bool) or not str(num_threads).isdigit() or int(num_threads) < 1:
            raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}")
        chosen, why = int(num_threads), "num_threads"
    torch.set_num_threads(chosen)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if chosen > 1 and load > usable_cores():
        logger.warning(
            "the machine is busy (load average %.1f): with %d threads each step "
            "waits for the slowest core; --num_threads=1 is faster on a shared machine",
            load,
            chosen,
        )
    logger.info(
        "torch uses %d CPU thread(s) (%s); running several jobs on one machine, "
        "give each --num_threads=1",
        chosen,
        why,
    )
    return chosen
