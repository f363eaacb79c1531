"""AudioCaps data preparation (official caption CSVs + audio -> JSON manifests): the recipe's entry point.

The preparation, with the expected layout and file names, lives in the
package, :mod:`speechbrain_tclap.data.prepare.audiocaps` (manifests at
``<save_folder>/<split>.json``); ``train.py`` imports :func:`prepare_audiocaps`
from here.

Authors
 * speechbrain-tclap developers 2026
"""

from speechbrain_tclap.data.prepare.audiocaps import prepare_audiocaps

__all__ = ["prepare_audiocaps"]
