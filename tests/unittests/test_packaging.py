"""The wheel ships the YAML files; models load by name from anywhere; clear path errors.

The wheel is built with ``pip wheel --no-deps`` (seconds) and unpacked: a
pure-Python wheel unpacked onto ``PYTHONPATH`` is what an install puts in
``site-packages``. ``scripts/check_wheel.sh`` does the same with a real venv.

Authors
 * speechbrain-tclap developers 2026
"""

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from speechbrain_tclap.pretrained import PRETRAINED, check_checkpoint, resolve_pretrained
from speechbrain_tclap.utils.package_data import hparams_folder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # built from a copy: setuptools writes build/ and *.egg-info into the tree
    tree = out / "tree"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("speechbrain_tclap", "hparams"):
        shutil.copytree(ROOT / name, tree / name, ignore=ignore)
    for name in ("setup.py", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(tree), "--no-deps", "-q", "-w", str(out)],
        check=True, capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(out / "site")
        return out / "site", z.namelist()


def test_wheel_ships_every_yaml_file(unpacked_wheel):
    _, names = unpacked_wheel
    shipped = {n.split("_hparams/")[1] for n in names if n.endswith(".yaml")}
    expected = {
        str(p.relative_to(ROOT / "hparams")) for p in (ROOT / "hparams").rglob("*.yaml")
    }
    assert shipped == expected and len(expected) >= 20
    for entry in PRETRAINED.values():
        assert f"pretrained/{entry.interface_file}" in shipped


def test_loads_by_name_from_the_wheel_in_another_directory(unpacked_wheel, tmp_path):
    site, _ = unpacked_wheel
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_wheel_load.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"yaml folder: {site}" in result.stdout  # the wheel's files, not the checkout's
    assert "from_pretrained('laion-630k-audioset'): ok" in result.stdout
    assert "missing checkpoint: checkpoint" in result.stdout


def test_every_name_resolves_to_a_shipped_interface_file():
    for name, entry in PRETRAINED.items():
        source, file, overrides = resolve_pretrained(name, checkpoint=__file__)
        assert Path(source, file).is_file() and Path(source) == hparams_folder() / "pretrained"
        assert overrides == {"checkpoint": __file__}


def test_interface_files_include_their_model_file():
    from ruamel.yaml import YAML

    for path in (ROOT / "hparams" / "pretrained").glob("*.yaml"):
        tree = YAML().load(path.read_text())
        include = tree["model"].tag.value
        assert include.startswith("!include:../models/"), path.name
        assert (path.parent / include[len("!include:"):]).is_file()
        assert {"checkpoint", "tokenizer_folder", "pretrainer"} <= set(tree), path.name


def test_missing_local_paths_fail_at_once(tmp_path):
    start = time.perf_counter()
    with pytest.raises(FileNotFoundError, match="checkpoint '/no/such.pt': no such file"):
        resolve_pretrained("laion-630k", checkpoint="/no/such.pt")
    with pytest.raises(FileNotFoundError, match="tokenizer_folder '/no/tok': no such folder"):
        resolve_pretrained("msclap-2022", checkpoint=__file__, tokenizer_folder="/no/tok")
    with pytest.raises(FileNotFoundError, match="names: laion-630k, "):
        resolve_pretrained(str(tmp_path / "missing_export"))
    with pytest.raises(ValueError, match="exported folder: its weights are in it"):
        (tmp_path / "hyperparams.yaml").write_text("sample_rate: 16000\n")
        resolve_pretrained(str(tmp_path), checkpoint=__file__)
    assert time.perf_counter() - start < 1.0


def test_offline_hub_file_not_in_cache_fails_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not in the Hugging Face cache and HF_HUB_OFFLINE"):
        check_checkpoint("lukewys/laion_clap/630k-best.pt")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # online: left to the Pretrainer
    assert check_checkpoint("lukewys/laion_clap/630k-best.pt") == "lukewys/laion_clap/630k-best.pt"
