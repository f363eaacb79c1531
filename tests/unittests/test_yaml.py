"""Every model file builds offline.

The recipe YAMLs (offline loading, every key used, the schedule sized by the
Brain) are checked in ``test_recipe_conventions.py``.
"""

from pathlib import Path

import pytest
from hyperpyyaml import load_hyperpyyaml

ROOT = Path(__file__).resolve().parents[2]
MODEL_FILES = sorted((ROOT / "hparams" / "models").glob("*.yaml"))


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_files_build_offline(path):
    with open(path) as f:
        hparams = load_hyperpyyaml(f)
    for key in ("sample_rate", "clip_seconds", "clap", "loadables"):
        assert key in hparams, key
    assert "clap" in hparams["loadables"]
    assert hparams["clap"].logit_scale() > 0
