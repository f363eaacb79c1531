"""Folder locks: one training run per output folder, one preparation per data folder.

A lock is an ``flock`` on ``<folder>/.lock`` naming its holder (PID, host,
purpose); the kernel drops it when the process ends, even by SIGKILL, so no
lock goes stale. A training run holds its output folder until it exits
(:func:`hold_folder`, refusing a second run); a data preparation waits for
another one of the same folder (:func:`folder_lock`).

Authors
 * speechbrain-tclap developers 2026
"""

import contextlib
import fcntl
import os
import socket
import time
from typing import Dict, IO

from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

#: Name of the lock file inside a locked folder.
LOCK_FILE = ".lock"

#: Folders this process holds until it exits (real path -> open lock file).
_HELD: Dict[str, IO] = {}


class FolderInUseError(RuntimeError):
    """Another process holds the folder; the message names it."""


def _acquire(folder: str, purpose: str, wait: bool) -> IO:
    """Open and lock ``<folder>/.lock``, then write this process into it."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, LOCK_FILE)
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        if not wait:
            handle.close()
            raise FolderInUseError(
                f"{folder} is in use by {holder}; one run per output folder: "
                "wait for it to end or choose another --output_folder"
            ) from None
        logger.info("waiting for %s to finish with %s", holder, folder)
        fcntl.flock(handle, fcntl.LOCK_EX)
    handle.seek(0)
    previous = handle.read().strip()
    if previous:  # its process ended without releasing (e.g. SIGKILL)
        logger.warning("%s: taking over the lock left by %s, which has ended", folder, previous)
    handle.seek(0)
    handle.truncate()
    handle.write(
        f"PID {os.getpid()} on {socket.gethostname()} ({purpose}, since "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n"
    )
    handle.flush()
    return handle


def _release(handle: IO) -> None:
    """Empty the lock file, unlock and close it."""
    handle.seek(0)
    handle.truncate()
    handle.flush()
    fcntl.flock(handle, fcntl.LOCK_UN)
    handle.close()


@contextlib.contextmanager
def folder_lock(folder: str, purpose: str):
    """Hold ``folder`` for the ``with`` block, waiting while another process does.

    Arguments
    ---------
    folder : str
        The folder (created).
    purpose : str
        What the holder does, shown to processes that wait.

    Yields
    ------
    None

    Example
    -------
    >>> folder = str(getfixture("tmpdir") / "data")
    >>> with folder_lock(folder, "preparing data"):
    ...     print(open(os.path.join(folder, LOCK_FILE)).read().split()[0])
    PID
    """
    handle = _acquire(os.path.abspath(folder), purpose, wait=True)
    try:
        yield
    finally:
        _release(handle)


def hold_folder(folder: str, purpose: str) -> None:
    """Hold ``folder`` until this process exits; refuse when another holds it.

    Holding a folder twice in one process is allowed (and does nothing).

    Arguments
    ---------
    folder : str
        The folder (created).
    purpose : str
        What the holder does, shown to processes refused.

    Raises
    ------
    FolderInUseError
        Another live process holds the folder (its PID and host are named).

    Example
    -------
    >>> folder = str(getfixture("tmpdir") / "run")
    >>> hold_folder(folder, "training")
    >>> hold_folder(folder, "training")  # this process already holds it
    >>> release_folder(folder)
    """
    key = os.path.realpath(folder)
    if key not in _HELD:
        _HELD[key] = _acquire(key, purpose, wait=False)


def release_folder(folder: str) -> None:
    """Release a folder held by :func:`hold_folder` (process exit does it too).

    Arguments
    ---------
    folder : str
        The folder.
    """
    handle = _HELD.pop(os.path.realpath(folder), None)
    if handle is not None:
        _release(handle)
