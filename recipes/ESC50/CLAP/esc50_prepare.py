"""Data preparation for ESC-50 (and its ESC-10 subset).

The preparation lives in the package, :mod:`speechbrain_tclap.data.prepare.esc50`
(fold-disjoint train / valid / test manifests from ``meta/esc50.csv`` and
``audio/``, at ``<save_folder>/<split>.json``); this script keeps the
recipe's entry points: ``train.py`` imports :func:`prepare_esc50` from here,
and a command line::

    python recipes/ESC50/CLAP/esc50_prepare.py <data_folder> <save_folder> \
        [--train_folds 1 2 3] [--valid_folds 4] [--test_folds 5] [--esc10_only]

Authors
 * speechbrain-tclap developers 2026
"""

import json

from speechbrain_tclap.data.prepare.esc50 import prepare_esc50

__all__ = ["prepare_esc50"]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_folder")
    parser.add_argument("save_folder")
    parser.add_argument("--train_folds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--valid_folds", type=int, nargs="*", default=[4])
    parser.add_argument("--test_folds", type=int, nargs="*", default=[5])
    parser.add_argument("--esc10_only", action="store_true")
    parser.add_argument("--sample_rate", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(prepare_esc50(**vars(args)), indent=2))
