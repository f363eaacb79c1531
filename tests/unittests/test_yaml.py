"""Every model file builds offline; widths follow the encoders; --model_file.

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


def _tiny_clap(overrides):
    with open(ROOT / "hparams" / "models" / "tiny_clap.yaml") as f:
        return load_hyperpyyaml(f, overrides)


def test_model_file_widths_follow_the_encoder():
    """Another HTSAT width needs one change: pooling and projection follow it."""
    import torch

    hparams = _tiny_clap({"audio_encoder": {"embed_dim": 16}, "audio_pooling_kind": "temporal_transformer"})
    clap = hparams["clap"].eval()
    assert hparams["audio_width"] == clap.audio_encoder.output_dim == 64
    assert clap.audio_projection.input_size == clap.audio_pooling.input_size == 64
    with torch.no_grad():
        assert clap.encode_audio(torch.randn(1, 16000)).shape == (1, hparams["joint_dim"])


def test_width_mismatch_names_the_yaml_key():
    with pytest.raises(ValueError, match=r"audio_projection takes 100-d inputs but audio_encoder gives 128"):
        _tiny_clap({"audio_projection": {"input_size": 100}})
    with pytest.raises(ValueError, match=r"text_projection takes 64-d inputs but text_encoder gives 128"):
        _tiny_clap({"text_projection": {"input_size": 64}})


def test_model_file_chosen_on_the_command_line(tmp_path):
    """``--model_file`` swaps the included model file, keeping the recipe's settings."""
    import torch

    from speechbrain_tclap.lobes.cnn14 import CNN14
    from speechbrain_tclap.recipe import load_recipe_hparams

    recipe = str(ROOT / "recipes" / "Synthetic" / "CLAP" / "hparams" / "clap.yaml")
    threads = torch.get_num_threads()
    try:
        argv = [recipe, f"--output_folder={tmp_path}", "--num_threads=1",
                f"--model_file={ROOT / 'hparams' / 'models' / 'tiny_cnn_clap.yaml'}"]
        hparams_file, _, overrides, hparams = load_recipe_hparams(argv)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert isinstance(hparams["model"]["clap"].audio_encoder, CNN14)
    assert hparams["model"]["audio_pooling_kind"] == hparams["audio_pooling"]  # kept
    assert overrides.strip() == f"output_folder: {tmp_path}"
    assert Path(hparams_file).name == "clap.yaml"
    with pytest.raises(FileNotFoundError, match="--model_file='missing.yaml'"):
        load_recipe_hparams([recipe, "--model_file=missing.yaml"])
