"""Data preparation of the multi-task recipe: every task's manifests.

The preparations live in the package; this script runs the three the
recipe's tasks read, at the paths ``hparams/htsat_multitask.yaml`` names:

* ESC-50 / ESC-10 by fold (:func:`speechbrain_tclap.data.prepare.esc50.prepare_esc50`):
  ``<save_folder>/esc10/{train,valid}.json``;
* the Free Spoken Digit Dataset by its split
  (:func:`speechbrain_tclap.benchmark.datasets.prepare_fsdd`):
  ``<save_folder>/fsdd/fsdd_{train,test}.json``;
* generated sound events (:func:`speechbrain_tclap.data.synthetic.prepare_synthetic`):
  ``<synthetic_folder>/{train,valid}.json``.

Each preparation is idempotent. ``train.py`` imports
:func:`prepare_multitask` from here and runs it once, on the main process.

Authors
 * speechbrain-tclap developers 2026
"""

import os
from typing import Dict, Mapping, Optional, Sequence, Tuple

from speechbrain_tclap.benchmark.datasets import prepare_fsdd
from speechbrain_tclap.data.prepare.esc50 import prepare_esc50
from speechbrain_tclap.data.synthetic import prepare_synthetic

__all__ = ["prepare_multitask"]


def prepare_multitask(
    save_folder: str,
    esc50_folder: str,
    fsdd_folder: str,
    synthetic_folder: str,
    esc_train_folds: Sequence[int] = (1, 2, 3),
    esc_valid_folds: Sequence[int] = (4,),
    esc10_only: bool = True,
    synthetic_splits: Optional[Mapping[str, int]] = None,
    sample_rate: int = 16000,
    clip_duration: float = 2.5,
    n_events: Tuple[int, int] = (1, 3),
    synthetic_seed: int = 1234,
) -> Dict[str, Dict[str, str]]:
    """Write the manifests of the ESC-10, FSDD and synthetic-event tasks.

    Arguments
    ---------
    save_folder : str
        Where the ESC-10 (``esc10/``) and FSDD (``fsdd/``) manifests go.
    esc50_folder : str
        ESC-50 root (``meta/esc50.csv``, ``audio/``); the ESC-10 copy works.
    fsdd_folder : str
        FSDD root (``metadata.csv`` with a split column, or ``recordings/``).
    synthetic_folder : str
        Where the generated clips and their manifests go.
    esc_train_folds : sequence of int
        ESC folds of the training split.
    esc_valid_folds : sequence of int
        ESC folds of the validation split.
    esc10_only : bool
        Keep only the ESC-10 clips.
    synthetic_splits : mapping, optional
        ``{split: number of generated clips}``.
    sample_rate : int
        Sample rate of the generated clips.
    clip_duration : float
        Length of the generated clips, in seconds.
    n_events : tuple of int
        Inclusive range of events per generated clip.
    synthetic_seed : int
        Seed of the generator.

    Returns
    -------
    dict
        ``{"esc10", "fsdd", "synthetic"}``, each ``{split: manifest path}``.
    """
    esc = prepare_esc50(
        data_folder=esc50_folder,
        save_folder=os.path.join(save_folder, "esc10"),
        train_folds=esc_train_folds,
        valid_folds=esc_valid_folds,
        test_folds=None,
        esc10_only=esc10_only,
    )
    fsdd = {
        split: prepare_fsdd(
            data_folder=fsdd_folder,
            save_folder=os.path.join(save_folder, "fsdd"),
            split=split,
        )
        for split in ("train", "test")
    }
    synthetic = prepare_synthetic(
        data_folder=synthetic_folder,
        splits=synthetic_splits,
        sample_rate=sample_rate,
        clip_duration=clip_duration,
        n_events=n_events,
        seed=synthetic_seed,
    )
    return {"esc10": esc, "fsdd": fsdd, "synthetic": synthetic}
