"""Synthetic sound-event data preparation (seeded generator -> audio + JSON manifests): the recipe's entry point.

The generator and its preparation live in the package,
:func:`speechbrain_tclap.data.synthetic.prepare_synthetic` (clips of 1-3
procedural sound events with their onsets and offsets, written once and
reused while the arguments are the same, manifests at
``<data_folder>/<split>.json``); ``train.py`` imports
:func:`prepare_synthetic` from here.

Authors
 * speechbrain-tclap developers 2026
"""

from speechbrain_tclap.data.synthetic import prepare_synthetic

__all__ = ["prepare_synthetic"]
