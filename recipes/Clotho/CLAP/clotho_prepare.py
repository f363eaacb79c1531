"""Clotho v2 data preparation (caption CSVs + audio folders -> JSON manifests): the recipe's entry point.

The preparation, with the expected layout and file names, lives in the
package, :mod:`speechbrain_tclap.data.prepare.clotho` (manifests at
``<save_folder>/<split>.json``); ``train.py`` imports :func:`prepare_clotho`
from here.

Authors
 * speechbrain-tclap developers 2026
"""

from speechbrain_tclap.data.prepare.clotho import prepare_clotho

__all__ = ["prepare_clotho"]
