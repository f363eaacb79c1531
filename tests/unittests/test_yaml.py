"""Every shipped YAML builds offline, and every recipe key is used."""

import re
from pathlib import Path

import pytest
from hyperpyyaml import load_hyperpyyaml

ROOT = Path(__file__).resolve().parents[2]
MODEL_FILES = sorted((ROOT / "hparams" / "models").glob("*.yaml"))
RECIPE_FILES = sorted((ROOT / "recipes").glob("*/*/hparams/*.yaml"))
PYTHON_READERS = [
    ROOT / "speechbrain_tclap" / "brain.py",
    ROOT / "speechbrain_tclap" / "recipe.py",
]


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.name)
def test_model_files_build_offline(path):
    with open(path) as f:
        hparams = load_hyperpyyaml(f)
    for key in ("sample_rate", "clip_seconds", "clap", "loadables"):
        assert key in hparams, key
    assert "clap" in hparams["loadables"]
    assert hparams["clap"].logit_scale() > 0


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.parent.parent.name + "/" + p.name)
def test_recipe_keys_are_all_used(path, tmp_path):
    text = path.read_text()
    keys = re.findall(r"^([A-Za-z_][\w]*):", text, flags=re.M)
    readers = [path.parent.parent / "train.py", *PYTHON_READERS]
    sources = "\n".join(p.read_text() for p in readers if p.exists())
    unused = [
        k
        for k in keys
        if not k.startswith("__")
        and f"<{k}" not in text
        and f'"{k}"' not in sources
        and f".{k}" not in sources
    ]
    assert not unused, f"{path.name}: keys neither referenced nor read: {unused}"
    with open(path) as f:
        hparams = load_hyperpyyaml(
            f, {"output_folder": str(tmp_path), "data_folder": str(tmp_path)}
        )
    assert hparams["modules"]["clap"] is hparams["model"]["clap"]
