"""TeminAL stage A / B samples, fold-disjoint pairs, and the freezing policy.

Authors
 * speechbrain-tclap developers 2026
"""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.data.batching import collate_clap_samples, view_names
from speechbrain_tclap.data.manifest import load_manifest
from speechbrain_tclap.data.teminal import STAGE_VIEWS, TeminALViewBuilder
from speechbrain_tclap.data.temporal import TemporalViewBuilder, make_pair_rows
from speechbrain_tclap.losses import TemporalNCELoss
from speechbrain_tclap.recipe import write_pair_manifests
from speechbrain_tclap.utils.freezing import FreezingRule

ROOT = Path(__file__).resolve().parents[2]
SR = 8000
CLASSES = ["dog", "sea_waves", "bell", "rain"]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two folds of 0.2-s clips, two per class, each a distinct sine."""
    root = tmp_path_factory.mktemp("teminal_clips")
    manifests = {}
    for fold in (1, 2):
        rows = {}
        for c, label in enumerate(CLASSES):
            for take in range(2):
                clip_id = f"{fold}-{label}-{take}"
                t = np.arange(int(0.2 * SR)) / SR
                wav = 0.3 * np.sin(2 * np.pi * (200 + 100 * c + 10 * take + fold) * t)
                path = root / f"{clip_id}.wav"
                sf.write(str(path), wav.astype(np.float32), SR)
                rows[clip_id] = {"wav": str(path), "labels": [label], "fold": fold}
        manifests[f"fold{fold}"] = root / f"fold{fold}.json"
        manifests[f"fold{fold}"].write_text(json.dumps(rows))
    return manifests


def _pairs(clips, n=3, seed=0):
    rows = load_manifest(str(clips["fold1"]), required=("id", "wav"))
    return make_pair_rows(rows, n, seed=seed)


def _builder(stage, **kwargs):
    pairs = TemporalViewBuilder(SR, segment_seconds=0.1, **kwargs)
    return TeminALViewBuilder(pairs, stage=stage)


def test_stage_a_views_and_captions(clips):
    row = _pairs(clips)[0]
    a, b = row["labels"]
    name = {"sea_waves": "sea waves"}
    sample = _builder("A")(row, train=False)
    assert [v.view for v in sample.audio] == ["single", "main"]
    assert [t.text for t in sample.texts] == [
        f"Single sound of {name.get(a, a)}",
        f"Combined sound of {name.get(a, a)} and {name.get(b, b)}",
    ]
    single, combined = sample.audio
    # A alone (one 0.1-s segment, padded to the 0.2-s clip), then A then B.
    assert single.wav.shape[0] == combined.wav.shape[0] == int(0.2 * SR)
    assert single.valid_samples == int(0.1 * SR) and combined.valid_samples == int(0.2 * SR)
    torch.testing.assert_close(single.wav[: int(0.1 * SR)], combined.wav[: int(0.1 * SR)])
    assert float(single.wav[int(0.1 * SR):].abs().max()) == 0.0
    assert sample.labels == [a, b] and sample.meta["stage"] == "A"
    assert [v.key for v in sample.audio] == [t.key for t in sample.texts]


def test_stage_b_triplet(clips):
    row = _pairs(clips)[0]
    a, b = (lab.replace("_", " ") for lab in row["labels"])
    sample = _builder("B")(row, train=False)
    assert [v.view for v in sample.audio] == ["main", "reversed", "overlay"]
    assert [t.text for t in sample.texts] == [
        f"{a} before {b}", f"{b} before {a}", " while ".join(sorted((a, b))),
    ]
    main, rev, over = (v.wav for v in sample.audio)
    half = int(0.1 * SR)
    torch.testing.assert_close(main[:half], rev[half:])
    torch.testing.assert_close(main[half:], rev[:half])
    torch.testing.assert_close(over[:half], main[:half] + main[half:])
    assert sample.audio[2].valid_samples == half
    assert not any(t.negative for t in sample.texts)


def test_joint_holds_both_stages_and_the_losses_find_their_views(clips):
    samples = [_builder("AB")(row, train=True) for row in _pairs(clips, n=3)]
    assert [v.view for v in samples[0].audio] == list(STAGE_VIEWS["AB"])
    batch = collate_clap_samples(samples)
    assert batch.wavs.shape[0] == 15 and len(batch.texts) == 15
    emb = torch.nn.functional.normalize(torch.randn(15, 6), dim=-1)
    from speechbrain_tclap.losses import ContrastiveInputs

    inputs = ContrastiveInputs(
        emb, emb, torch.tensor(5.0), batch.audio_keys, batch.text_keys,
        batch.text_is_negative, batch.audio_views, batch.text_views,
        batch.audio_sample, batch.text_sample,
    )
    audio_rows, _ = TemporalNCELoss(["main", "reversed", "overlay"]).items(inputs)
    assert view_names(batch.audio_views[audio_rows]) == (
        ["main"] * 3 + ["reversed"] * 3 + ["overlay"] * 3
    )
    assert TemporalNCELoss(["single", "combined"])(inputs).shape == ()


def test_all_captions_cover_both_stages(clips):
    builder = _builder("A")
    captions = builder.all_captions(CLASSES)
    n = len(CLASSES)
    # singles, combined and "before" (ordered pairs), "while" (unordered)
    assert len(captions) == n + 2 * n * (n - 1) + n * (n - 1) // 2
    for row in _pairs(clips, n=4):
        for stage in ("A", "B"):
            sample = _builder(stage)(row, train=False)
            assert {t.text for t in sample.texts} <= set(captions)


def test_determinism_by_seed_and_epoch(clips):
    row = _pairs(clips)[0]

    def draw(seed, epoch):
        builder = _builder("B", segment_crop="random", seed=seed)
        builder.set_epoch(epoch)
        return builder(row, train=True).audio[0].wav

    torch.testing.assert_close(draw(1, 0), draw(1, 0))
    assert not torch.equal(draw(1, 0), draw(2, 0))
    assert not torch.equal(draw(1, 0), draw(1, 3))
    # Evaluation is deterministic whatever the seed and epoch.
    evaluated = [_builder("B", segment_crop="random", seed=s)(row, train=False) for s in (1, 2)]
    torch.testing.assert_close(evaluated[0].audio[0].wav, evaluated[1].audio[0].wav)
    assert [p["id"] for p in _pairs(clips, seed=5)] == [p["id"] for p in _pairs(clips, seed=5)]


def test_pair_manifests_are_split_disjoint(clips, tmp_path):
    manifests = {"train": str(clips["fold1"]), "test": str(clips["fold2"])}
    out = write_pair_manifests(manifests, {"train": 6, "test": 4}, 3, str(tmp_path), False)
    for split, fold in (("train", 1), ("test", 2)):
        rows = load_manifest(out[split], required=("id", "a", "b"))
        assert out[split].endswith(f"{split}_pairs.json")
        assert {r[k]["fold"] for r in rows.values() for k in ("a", "b")} == {fold}
        assert all(r["labels"][0] != r["labels"][1] for r in rows.values())
    mixed = write_pair_manifests(manifests, {"train": 6, "test": 4}, 3, str(tmp_path), True)
    assert len(load_manifest(mixed["train"], required=("id",))) == 8 + 6
    # Repeated single clips (training only): copies keep the audio and labels.
    repeated = write_pair_manifests(
        manifests, {"train": 6, "test": 4}, 3, str(tmp_path), True, single_repeats={"train": 3}
    )
    train_rows = load_manifest(repeated["train"], required=("id",))
    singles = [r for r in train_rows.values() if "wav" in r]
    assert len(singles) == 3 * 8 and len(train_rows) == 3 * 8 + 6
    assert {r["wav"] for r in singles} == {r["wav"] for r in singles if "@" not in r["id"]}
    assert len(load_manifest(repeated["test"], required=("id",))) == 8 + 4
    with pytest.raises(ValueError, match="single_repeats"):
        write_pair_manifests(manifests, {"train": 6, "test": 4}, 3, str(tmp_path), True, {"train": 0})


def test_errors():
    with pytest.raises(ValueError, match="stage"):
        _builder("C")
    with pytest.raises(ValueError, match="single-sound template"):
        TeminALViewBuilder(TemporalViewBuilder(SR, 0.1), single_template="{A} and {B}")
    with pytest.raises(TypeError, match="TemporalViewBuilder"):
        TeminALViewBuilder(object())


def test_recipe_freezing_policy_survives_train_mode(tmp_path):
    path = ROOT / "recipes" / "Synthetic" / "CLAP" / "hparams" / "teminal_stage_b.yaml"
    with open(path) as f:
        hparams = load_hyperpyyaml(f, {"output_folder": str(tmp_path)})
    modules = torch.nn.ModuleDict({"clap": hparams["modules"]["clap"]})
    rule = hparams["freezing"]
    rule.apply(modules)
    trainable = {n for n, p in modules.named_parameters() if p.requires_grad}
    # The paper's policy: last text layer + final norm + projection; last
    # audio stage + norm + pooling + projection; the logit scale.
    assert any(n.startswith("clap.text_encoder.encoder.layers.1.") for n in trainable)
    assert not any(n.startswith("clap.text_encoder.encoder.layers.0.") for n in trainable)
    assert "clap.text_encoder.token_embedding.weight" not in trainable
    assert any(n.startswith("clap.audio_encoder.layers.2.") for n in trainable)
    assert not any(n.startswith("clap.audio_encoder.layers.1.") for n in trainable)
    for prefix in ("clap.audio_projection.", "clap.text_projection.", "clap.audio_pooling."):
        assert any(n.startswith(prefix) for n in trainable), prefix
    assert "clap.log_logit_scale" in trainable
    modules.train()
    rule.enforce_eval(modules)
    assert not modules["clap"].text_encoder.encoder.layers[0].training
    assert not modules["clap"].audio_encoder.layers[0].training
    assert modules["clap"].text_encoder.encoder.layers[1].training


def test_unfreeze_last_counts_and_errors():
    stack = torch.nn.ModuleDict(
        {"enc": torch.nn.Sequential(*[torch.nn.Linear(2, 2) for _ in range(12)])}
    )
    rule = FreezingRule(freeze=["*"], unfreeze_last={"enc": 3})
    frozen = rule.apply(stack)
    assert rule.unfreeze_patterns(stack) == ["enc.9.*", "enc.10.*", "enc.11.*"]
    assert len(frozen) == 18  # 9 layers x (weight, bias)
    with pytest.raises(ValueError, match="fewer than the 13"):
        FreezingRule(freeze=["*"], unfreeze_last={"enc": 13}).apply(stack)
    with pytest.raises(ValueError, match="0 numbered layers"):
        FreezingRule(freeze=["*"], unfreeze_last={"dec": 1}).apply(stack)
    with pytest.raises(ValueError, match=">= 1"):
        FreezingRule(unfreeze_last={"enc": 0})
