"""A SpeechBrain ``Checkpointer`` whose checkpoints appear atomically.

SpeechBrain writes a checkpoint's ``CKPT.yaml`` first and the parameter files
after it, so a process killed while saving leaves a folder that looks like a
checkpoint but lacks files (the next start then fails with "missing a load
path for optimizer"). :class:`AtomicCheckpointer` writes the meta file under a
temporary name and renames it into place only after every parameter file is
written; SpeechBrain ignores folders without ``CKPT.yaml``, so a half-written
checkpoint is never recovered from. Such leftovers are removed (and logged)
at the next recovery.

Authors
 * speechbrain-tclap developers 2026
"""

import os
import pathlib
import shutil

from speechbrain.utils.checkpoints import CKPT_PREFIX, METAFNAME, Checkpointer
from speechbrain.utils.distributed import if_main_process
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

PENDING_SUFFIX = ".pending"


class AtomicCheckpointer(Checkpointer):
    """``Checkpointer`` that never exposes a partially written checkpoint.

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
