"""Exported towers (torch.export programs and ONNX files) equal the eager model."""

import os

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.export_cli import main
from speechbrain_tclap.export_onnx import export_towers
from speechbrain_tclap.lobes.htsat import HTSAT
from speechbrain_tclap.lobes.tokenizers import train_sentencepiece

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOLERANCE = 1e-5


def _model(name, tmp_path, overrides=None):
    torch.manual_seed(0)
    with open(os.path.join(ROOT, "hparams", "models", name)) as f:
        model = load_hyperpyyaml(f, overrides)
    texts = ["a dog barks then a car passes by", "rain", "a bell rings twice"] * 10
    model["tokenizer"].load(
        train_sentencepiece(texts, str(tmp_path / "sp"), model["tokenizer_vocab_size"])
    )
    return model


def _check(reports, onnx):
    for report in reports:
        assert report.program_max_diff <= TOLERANCE, report
        if onnx and pytest.importorskip("onnxruntime"):
            assert report.onnx_max_diff is not None and report.onnx_max_diff <= TOLERANCE, report
        assert all(os.path.isfile(f) for f in report.files)


def test_htsat_and_scratch_text_towers_export_with_dynamic_batch_and_length(tmp_path):
    pytest.importorskip("onnxscript")
    model = _model("tiny_clap.yaml", tmp_path)
    reports = export_towers(model["clap"], str(tmp_path / "out"))  # the model's rate and window
    audio, text = reports
    assert audio.dynamic == "wavs[0], wavs[1], wav_lens[0]"
    assert text.dynamic == "ids[0], ids[1], mask[0], mask[1]"
    _check(reports, onnx=True)
    assert os.path.isfile(tmp_path / "out" / "export.json")


def test_cnn14_and_hf_text_towers_export(tmp_path):
    model = _model("tiny_clap_roberta.yaml", tmp_path)
    clap = model["clap"]
    clap.audio_encoder = None  # replaced below by a CNN14 of the same width
    with open(os.path.join(ROOT, "hparams", "models", "tiny_cnn_clap.yaml")) as f:
        cnn = load_hyperpyyaml(f)
    clap.audio_features, clap.audio_encoder = cnn["audio_features"], cnn["audio_encoder"]
    clap.audio_pooling, clap.audio_projection = cnn["audio_pooling"], cnn["audio_projection"]
    reports = export_towers(clap, str(tmp_path), cnn["sample_rate"], cnn["clip_seconds"],
                            onnx=False)
    assert all("[0]" in r.dynamic for r in reports)
    _check(reports, onnx=False)


@pytest.mark.parametrize("time_fill", ["pad", "stretch"])
def test_fused_htsat_exports(tmp_path, time_fill):
    model = _model("tiny_clap.yaml", tmp_path)
    clap = model["clap"]
    plain = clap.audio_encoder
    clap.audio_encoder = HTSAT(
        n_mels=plain.n_mels, spec_size=plain.spec_size, embed_dim=plain.embed_dim,
        depths=plain.depths, num_heads=(2, 4, 8), window_size=4, enable_fusion=True,
        time_fill=time_fill,  # stretch: LAION's and HF's checkpoints
    )
    clap.audio_encoder.fusion_window = 40  # clips of 2.5 s have 126 frames: fused
    reports = export_towers(clap, str(tmp_path), model["sample_rate"], model["clip_seconds"],
                            onnx=False, towers=["audio"])
    lens = ", feat_lens[0]" if time_fill == "pad" else ""  # stretch: views taken whole
    assert reports[0].dynamic == "views[0], views[2], is_longer[0]" + lens
    _check(reports, onnx=False)


def test_codebook_model_with_order_heads_exports(tmp_path):
    """MGA-CLAP's codebook with T-CLAP's order heads (mga_tclap.yaml's model)."""
    model = _model("mgaclap_tiny.yaml", tmp_path, {"order_heads": "temporal_correction"})
    clap = model["clap"]
    assert clap.has_order_heads
    for head in (clap.audio_pooling, clap.text_pooling):  # zero-initialised: make them count
        for p in head.parameters():
            torch.nn.init.normal_(p, std=0.05)
    reports = export_towers(clap, str(tmp_path), model["sample_rate"], model["clip_seconds"],
                            onnx=False)
    _check(reports, onnx=False)


def test_command_line_needs_a_source(capsys):
    with pytest.raises(SystemExit):
        main([])
    assert "--source" in capsys.readouterr().err
