"""Exported folders are Hub-ready: model card, safetensors weights, upload, load back offline.

Authors
 * speechbrain-tclap developers 2026
"""

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from speechbrain_tclap.cli import main
from speechbrain_tclap.export import REPO_PLACEHOLDER
from speechbrain_tclap.inference import CLAP


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_export_writes_card_and_safetensors(tiny_export):
    folder = Path(tiny_export)
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "clap.safetensors", "hyperparams.yaml", "tokenizer.ckpt"
    ]
    card = (folder / "README.md").read_text()
    front = _front_matter(card)
    assert front["license"] == "mit" and front["datasets"] == ["esc50"]
    assert "speechbrain" in front["tags"] and front["library_name"] == "speechbrain"
    (metric,) = front["model-index"][0]["results"][0]["metrics"]
    assert metric == {"type": "zero_shot_acc", "value": 0.75, "name": "zero_shot_acc (chance 0.5000)"}
    for text in ("| zero_shot_acc | 0.7500 | 0.5000 |", "dog, rain", "`the sound of {}`",
                 f'source="{REPO_PLACEHOLDER}"', "`clap.safetensors`"):
        assert text in card


def test_old_ckpt_exports_still_load(tiny_export, tmp_path):
    new = CLAP.from_pretrained(tiny_export, savedir=str(tmp_path / "new"))
    old = tmp_path / "old_export"
    shutil.copytree(tiny_export, old)
    (old / "clap.safetensors").unlink()
    torch.save(new.mods.clap.state_dict(), old / "clap.ckpt")
    text = (old / "hyperparams.yaml").read_text()
    interface = text[text.index("pretrainer:"):]
    (old / "hyperparams.yaml").write_text(text.replace(interface, (
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
        "    loadables:\n"
        "        clap: !ref <model[loadables][clap]>\n"
        "        tokenizer: !ref <model[loadables][tokenizer]>\n"
    )))
    loaded = CLAP.from_hparams(source=str(old), savedir=str(tmp_path / "old"))
    wav = torch.randn(16000)
    torch.testing.assert_close(loaded.encode_audio(wav), new.encode_audio(wav))


def test_publish_uploads_and_the_upload_loads_offline(tiny_export, tmp_path, monkeypatch):
    import huggingface_hub

    folder = tmp_path / "export"
    shutil.copytree(tiny_export, folder)
    hub = tmp_path / "hub"
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            self.token = token

        def create_repo(self, repo_id, private=False, exist_ok=False):
            calls.append(("create", repo_id, private))

        def upload_folder(self, folder_path, repo_id, commit_message):
            shutil.copytree(folder_path, hub / repo_id)
            calls.append(("upload", repo_id))
            return type("Commit", (), {"commit_url": f"https://hub/{repo_id}/commit/1"})()

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert main(["publish", str(folder), "--repo_id", "me/tiny-clap", "--private"]) == 0
    assert calls == [("create", "me/tiny-clap", True), ("upload", "me/tiny-clap")]
    published = hub / "me" / "tiny-clap"
    card = (published / "README.md").read_text()
    assert 'source="me/tiny-clap"' in card and REPO_PLACEHOLDER not in card
    reference = CLAP.from_pretrained(tiny_export, savedir=str(tmp_path / "a"))
    loaded = CLAP.from_pretrained(str(published), savedir=str(tmp_path / "b"))
    texts = ["the sound of a dog", "a bell rings"]
    torch.testing.assert_close(loaded.encode_text(texts), reference.encode_text(texts))


def test_publish_refuses_a_folder_without_export(tmp_path):
    with pytest.raises(FileNotFoundError, match="no hyperparams.yaml"):
        main(["publish", str(tmp_path), "--repo_id", "me/x"])
