"""Checkpointable random-number-generator state.

SpeechBrain's checkpoints hold no RNG state; an :class:`RNGState` among the
recoverables makes a resumed run continue the same random streams (Python,
NumPy, torch CPU and CUDA) as the uninterrupted one.

Authors
 * speechbrain-tclap developers 2026
"""

import random

import numpy as np
import torch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)


@register_checkpoint_hooks
class RNGState:
    """Saves and restores the global random states with a checkpoint.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "rng.ckpt")
    >>> state = RNGState()
    >>> state.save(path)
    >>> a = torch.rand(1)
    >>> state.load(path)
    >>> bool(torch.equal(a, torch.rand(1)))
    True
    """

    @mark_as_saver
    def save(self, path: str) -> None:
        """Write the current random states to ``path``.

        Arguments
        ---------
        path : str
            File to write.
        """
        version, mt_state, gauss = random.getstate()
        np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
        state = {
            "python": [version, list(mt_state), gauss],
            "numpy": [
                np_name,
                torch.from_numpy(np_keys.astype(np.int64)),
                int(np_pos),
                int(np_has_gauss),
                float(np_gauss),
            ],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }
        torch.save(state, path)

    @mark_as_loader
    def load(self, path: str, end_of_epoch: bool = False) -> None:
        """Restore the random states saved at ``path``.

        Arguments
        ---------
        path : str
            File written by :meth:`save`.
        end_of_epoch : bool
            Unused (SpeechBrain's loader signature).
        """
        state = torch.load(path, weights_only=True)
        version, mt_state, gauss = state["python"]
        random.setstate((version, tuple(mt_state), gauss))
        np_name, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
        np.random.set_state(
            (np_name, np_keys.numpy().astype(np.uint32), np_pos, np_has_gauss, np_gauss)
        )
        torch.set_rng_state(state["torch"])
        if state["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
