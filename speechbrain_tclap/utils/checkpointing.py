"""A SpeechBrain ``Checkpointer`` whose checkpoints appear atomically and load safely.

SpeechBrain writes ``CKPT.yaml`` before the parameter files, so a process
killed while saving leaves a checkpoint lacking files ("missing a load path
for optimizer" at the next start). :class:`AtomicCheckpointer` renames the
meta file into place only after every file is written (SpeechBrain ignores
folders without it) and removes such leftovers at the next recovery.

It also loads module and optimiser files with an explicit
``weights_only=True``, which ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` cannot
override (SpeechBrain's hook would unpickle code), and names a file that
cannot be loaded in the error.

Authors
 * speechbrain-tclap developers 2026
"""

import os
import pathlib
import shutil

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
