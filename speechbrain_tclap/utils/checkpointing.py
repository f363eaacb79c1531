"""A SpeechBrain ``Checkpointer`` whose checkpoints appear atomically and load safely.

SpeechBrain writes ``CKPT.yaml`` before the parameter files, so a process
killed while saving leaves a checkpoint lacking files ("missing a load path
for optimizer" at the next start). :class:`AtomicCheckpointer` renames the
meta file into place only after every file is written (SpeechBrain ignores
folders without it) and removes such leftovers at the next recovery.

It also loads module and optimiser files with an explicit
``weights_only=True``, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` cannot
override (SpeechBrain's hook would unpickle code), and names a file that
cannot be loaded in the error. :func:`read_checkpoint` reads any checkpoint
file (safetensors, or weights-only torch with numpy data allow-listed)
without running pickled code.

Authors
 * speechbrain-tclap developers 2026
"""

import os
import pathlib
import pickle
import shutil
from typing import Dict, Union

import torch
from speechbrain.utils.checkpoints import (
    CKPT_PREFIX,
    DEFAULT_LOAD_HOOKS,
    METAFNAME,
    Checkpointer,
    get_default_hook,
    hook_on_loading_state_dict_checkpoint,
    torch_recovery,
)
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

PENDING_SUFFIX = ".pending"


class CheckpointLoadError(RuntimeError):
    """A checkpoint file could not be loaded; the message names it."""


def weights_only_recovery(obj, path, end_of_epoch=False):
    """SpeechBrain's ``torch_recovery`` with ``weights_only=True`` passed explicitly.

    Arguments
    ---------
    obj : torch.nn.Module or torch.optim.Optimizer
        What to load into (strictly, for modules).
    path : str or pathlib.Path
        The state-dict file.
    end_of_epoch : bool
        Unused (SpeechBrain's hook signature).

    Example
    -------
    >>> path = getfixture("tmpdir") / "lin.ckpt"
    >>> torch.save(torch.nn.Linear(2, 2).state_dict(), path)
    >>> weights_only_recovery(torch.nn.Linear(2, 2), path)
    """
    del end_of_epoch
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = hook_on_loading_state_dict_checkpoint(state)
    try:
        obj.load_state_dict(state, strict=True)
    except TypeError:  # optimisers take no ``strict``
        obj.load_state_dict(state)


def nonfinite_entries(state_dict) -> list:
    """Names of the floating-point tensors of a state dict that hold NaN or Inf.

    Arguments
    ---------
    state_dict : mapping
        Name -> tensor.

    Returns
    -------
    list of str
        The names, in order.

    Example
    -------
    >>> nonfinite_entries({"w": torch.tensor([1.0, float("nan")]), "n": torch.tensor(3)})
    ['w']
    """
    return [
        name for name, value in state_dict.items()
        if torch.is_tensor(value) and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def _naming_errors(hook, name):
    """``hook`` whose errors name the file and the recoverable."""

    def load(obj, path, end_of_epoch):
        try:
            hook(obj, path, end_of_epoch)
        except Exception as exc:  # re-raised with the file named
            raise CheckpointLoadError(
                f"cannot resume from {path} ({name}): {type(exc).__name__}: {exc}. "
                "Delete that checkpoint folder to resume from an older one, or "
                "start again with --fresh_start=True"
            ) from exc

    return load


class AtomicCheckpointer(Checkpointer):
    """``Checkpointer`` that never exposes a partially written checkpoint
    and loads every file with ``weights_only=True``.

    Arguments are those of :class:`speechbrain.utils.checkpoints.Checkpointer`.

    Example
    -------
    >>> import torch
    >>> ckpt = AtomicCheckpointer(getfixture("tmpdir"), {"lin": torch.nn.Linear(2, 2)})
    >>> saved = ckpt.save_checkpoint()
    >>> (saved.path / "CKPT.yaml").exists(), (saved.path / "lin.ckpt").exists()
    (True, True)
    """

    def _save_checkpoint_metafile(self, fpath, meta_to_include={}, end_of_epoch=True):
        fpath = pathlib.Path(fpath)
        pending = fpath.with_name(fpath.name + PENDING_SUFFIX)
        meta = super()._save_checkpoint_metafile(pending, meta_to_include, end_of_epoch)
        self._pending_meta = (pending, fpath)
        return meta

    def save_checkpoint(self, meta={}, end_of_epoch=True, name=None, verbosity=20):
        """Save as SpeechBrain does, then publish the checkpoint by renaming.

        Arguments
        ---------
        meta : mapping
            Extra meta information.
        end_of_epoch : bool
            Whether the checkpoint is at the end of an epoch.
        name : str, optional
            Custom checkpoint name.
        verbosity : int
            Logging level of the save message.

        Returns
        -------
        Checkpoint
            The saved checkpoint (None on non-main processes).
        """
        self._pending_meta = None
        checkpoint = super().save_checkpoint(
            meta=meta, end_of_epoch=end_of_epoch, name=name, verbosity=verbosity
        )
        if self._pending_meta is not None:
            pending, final = self._pending_meta
            os.replace(pending, final)
            self._pending_meta = None
        return checkpoint

    def _call_load_hooks(self, checkpoint):
        """SpeechBrain's loading, each hook made safe and its errors named."""
        hooks = {}
        for name, obj in self.recoverables.items():
            hook = self.custom_load_hooks.get(name) or get_default_hook(obj, DEFAULT_LOAD_HOOKS)
            if hook is torch_recovery:
                hook = weights_only_recovery
            if hook is not None:
                hooks[name] = _naming_errors(hook, name)
        custom, self.custom_load_hooks = self.custom_load_hooks, hooks
        try:
            super()._call_load_hooks(checkpoint)
        finally:
            self.custom_load_hooks = custom

    def remove_incomplete_checkpoints(self) -> int:
        """Delete folders left by a save that was interrupted.

        Returns
        -------
        int
            Number of folders removed.
        """
        removed = 0
        if not if_main_process() or not self.checkpoints_dir.exists():
            return removed
        for path in self.checkpoints_dir.iterdir():
            if (
                path.is_dir()
                and path.name.startswith(CKPT_PREFIX)
                and not (path / METAFNAME).exists()
            ):
                logger.warning("removing incomplete checkpoint %s (interrupted save)", path)
                shutil.rmtree(path)
                removed += 1
        return removed

    def recover_if_possible(self, *args, **kwargs):
        """Remove incomplete checkpoints, then recover as SpeechBrain does.

        Arguments
        ---------
        *args, **kwargs
            As :meth:`speechbrain.utils.checkpoints.Checkpointer.recover_if_possible`.

        Returns
        -------
        Checkpoint or None
            The recovered checkpoint.
        """
        self.remove_incomplete_checkpoints()
        return super().recover_if_possible(*args, **kwargs)


_NUMPY_DATA = {
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
}
# dtypes whose values may hold Python objects
_NUMPY_UNSAFE_DTYPES = ("ObjectDType", "VoidDType")


def _numpy_safe_globals(names):
    """Allow-list entries for numpy scalars, arrays and dtypes; ``None`` if any
    name is something else. ``numpy.core`` (numpy 1) and ``numpy._core``
    (numpy 2) names both map onto the installed numpy."""
    import numpy

    def is_dtype_class(name):
        attr = name.rpartition(".")[2]
        return (
            name.startswith("numpy.dtypes.")
            and attr.endswith("DType")
            and attr not in _NUMPY_UNSAFE_DTYPES
        )

    if not names or any(n not in _NUMPY_DATA and not is_dtype_class(n) for n in names):
        return None
    core = numpy._core if hasattr(numpy, "_core") else numpy.core
    dtypes = getattr(numpy, "dtypes", None)
    allowed = []
    for name in names:
        attr = name.rpartition(".")[2]
        if name in ("numpy.dtype", "numpy.ndarray"):
            allowed.append((getattr(numpy, attr), name))
        elif ".multiarray." in name:
            allowed.append((getattr(core.multiarray, attr), name))
        elif dtypes is not None and hasattr(dtypes, attr):
            allowed.append((getattr(dtypes, attr), name))
    if "numpy.dtype" in names and dtypes is not None:
        # unpickling a dtype builds an instance of its numpy.dtypes class
        allowed.extend(
            getattr(dtypes, n)
            for n in dir(dtypes)
            if n.endswith("DType") and n not in _NUMPY_UNSAFE_DTYPES
        )
    return allowed


def _is_safetensors(path: str) -> bool:
    """Sniffs a safetensors header: 8-byte length, then a JSON object."""
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and not head.startswith(b"PK")


def read_checkpoint(path: Union[str, os.PathLike]) -> Dict:
    """Reads a checkpoint file without running pickled code.

    safetensors files are recognised by their header, whatever the name (the
    ``Pretrainer`` links them as ``<name>.ckpt``); anything else is read with
    ``torch.load(weights_only=True)``, allow-listing only numpy scalars,
    arrays and dtypes (never object arrays); any other global is refused.

    Arguments
    ---------
    path : str or os.PathLike
        The file.

    Returns
    -------
    dict
        What the file holds (a state dict, or a wrapper around one).

    Example
    -------
    >>> path = getfixture("tmpdir") / "x.pt"
    >>> torch.save({"state_dict": {"w": torch.ones(2)}, "epoch": 3}, str(path))
    >>> read_checkpoint(path)["epoch"]
    3
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    if path.endswith(".safetensors") or _is_safetensors(path):
        from safetensors.torch import load_file

        try:
            return load_file(path, device="cpu")
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"cannot read safetensors file {path}: {err}") from err
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        try:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:  # not a zip checkpoint: nothing to inspect
            names = []
        refusal = (
            f"{path} pickles objects other than tensors and numpy data "
            f"({names or err}); refusing to load it with arbitrary code. "
            "Load it yourself if you trust it and save its state dict."
        )
        allowed = _numpy_safe_globals(names)
        if allowed is None:
            raise ValueError(refusal) from err
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as again:  # e.g. numpy object arrays
            raise ValueError(refusal) from again
    except (RuntimeError, EOFError, OSError) as err:
        raise ValueError(
            f"cannot read checkpoint {path} (truncated or corrupted "
            f"download?): {err}"
        ) from err
