"""Zero-shot SED / grounding: decoding (``speechbrain_tclap.events``), F1s
(vs loops and psds_eval) and PSDS (``evaluation.detection_metrics``), the
Brain evaluator (``evaluation.sed``) and the interface."""

import itertools
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from speechbrain_tclap.data.batching import AudioView, CLAPSample, TextView
from speechbrain_tclap.evaluation import sed
from speechbrain_tclap.evaluation.detection_metrics import (
    GROUNDING_PSDS,
    SED_PSDS,
    ScoredClip,
    collar_event_f1,
    detection_metrics,
    intersection_f1,
    psds_available,
    psds_scores,
    staircase_area,
    sweep_levels,
)
from speechbrain_tclap.events import frame_bounds, median_filter_time, scores_to_events


def test_median_filter_reflects_edges():
    x = np.random.default_rng(0).random((9, 3))
    padded = np.concatenate([x[:1], x, x[-1:]])
    expected = np.stack([np.median(padded[t : t + 3], axis=0) for t in range(9)])
    assert np.allclose(median_filter_time(x, 3), expected)
    assert np.array_equal(median_filter_time(x, 1), x)
    with pytest.raises(ValueError, match="odd"):
        median_filter_time(x, 2)


def loop_events(scores, threshold, starts, ends, gap):
    out = []
    for c in range(scores.shape[1]):
        runs, t = [], 0
        while t < scores.shape[0]:
            if scores[t, c] >= threshold:
                first = t
                while t + 1 < scores.shape[0] and scores[t + 1, c] >= threshold:
                    t += 1
                if runs and first - runs[-1][1] - 1 <= gap:
                    runs[-1][1] = t
                else:
                    runs.append([first, t])
            t += 1
        out += [(c, starts[a], ends[b]) for a, b in runs if ends[b] > starts[a]]
    return sorted(out)


@pytest.mark.parametrize("gap", [0, 1, 2])
def test_decoding_matches_a_loop(gap):
    rng = np.random.default_rng(gap)
    times = np.arange(12) * 0.32 + 0.15
    starts, ends = frame_bounds(times, 0.32, 3.7)
    for _ in range(20):
        scores = rng.random((12, 3))
        labels = ["a", "b", "c"]
        events = scores_to_events(scores, times, labels, 0.5, 0.32, 3.7, median_window=1,
                                  fill_gap_seconds=gap * 0.32)
        got = sorted((labels.index(e["event_label"]), e["onset"], e["offset"]) for e in events)
        assert np.allclose(np.array(got).reshape(-1, 3),
                           np.array(loop_events(scores, 0.5, starts, ends, gap)).reshape(-1, 3))


def brute_force_tp(dets, refs, collar, rate):
    best = 0
    for perm in itertools.permutations(range(len(dets)), min(len(dets), len(refs))):
        matched = 0
        for r, d in zip(refs, perm):
            on, off = r
            tol = max(collar, rate * (off - on))
            if abs(dets[d][0] - on) <= collar and abs(dets[d][1] - off) <= tol:
                matched += 1
        best = max(best, matched)
    return best


def test_collar_f1_matches_brute_force_matching():
    rng = np.random.default_rng(1)
    for _ in range(30):
        refs = [(float(o), float(o) + 0.3) for o in rng.uniform(0, 1, 3)]
        dets = [(float(o), float(o) + 0.3) for o in rng.uniform(0, 1, 4)]
        tp = brute_force_tp(dets, refs, 0.2, 0.2)
        det_rows = [{"filename": "f", "event_label": "x", "onset": a, "offset": b} for a, b in dets]
        ref_rows = [{"filename": "f", "label": "x", "onset": a, "offset": b} for a, b in refs]
        got = collar_event_f1(det_rows, ref_rows, 0.2, 0.2)
        assert got["f1_micro"] == pytest.approx(2 * tp / (len(dets) + len(refs)))


def test_collar_f1_is_macro_over_classes_with_references():
    ref = [{"filename": "a", "label": "dog", "onset": 0.0, "offset": 1.0},
           {"filename": "a", "label": "bell", "onset": 2.0, "offset": 3.0}]
    det = [{"filename": "a", "event_label": "dog", "onset": 0.1, "offset": 0.9},
           {"filename": "a", "event_label": "cat", "onset": 2.0, "offset": 3.0}]
    got = collar_event_f1(det, ref)
    assert got["f1_macro"] == pytest.approx(0.5)  # dog 1, bell 0; cat has no reference
    assert got["f1_micro"] == pytest.approx(0.5)


def _random_events(rng, files, classes, count, prefix):
    rows = []
    for f in files:
        for c in classes:
            cuts = np.sort(rng.uniform(0, 10, 2 * count))
            for k in range(count):
                rows.append({"filename": f, "event_label": c, "onset": float(cuts[2 * k]),
                             "offset": float(cuts[2 * k + 1])})
    return rows


@pytest.mark.skipif(not psds_available(), reason="psds_eval (extra 'sed') not installed")
@pytest.mark.parametrize("dtc,gtc", [(0.5, 0.5), (0.1, 0.7)])
def test_intersection_f1_matches_psds_eval(dtc, gtc):
    import pandas as pd
    from psds_eval import PSDSEval

    rng = np.random.default_rng(2)
    files, classes = ["f0", "f1", "f2"], ["dog", "bell"]
    ref = _random_events(rng, files, classes, 2, "r")
    det = _random_events(rng, files[1:], classes, 3, "d")
    # near copies of f0's references: every class has a true positive
    # (psds_eval leaves classes without one out of its mean, as NaN)
    det += [dict(r, onset=r["onset"] + 0.01) for r in ref if r["filename"] == "f0"]
    columns = ["filename", "onset", "offset", "event_label"]
    evaluator = PSDSEval(dtc, gtc, 0.3, ground_truth=pd.DataFrame(ref, columns=columns),
                         metadata=pd.DataFrame({"filename": files, "duration": [10.0] * 3}))
    expected, _ = evaluator.compute_macro_f_score(pd.DataFrame(det, columns=columns))
    assert intersection_f1(det, ref, dtc, gtc) == pytest.approx(expected)


def test_staircase_area():
    assert staircase_area(np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]), 2.0) == 3.0
    assert staircase_area(np.array([0.0, 1.0]), np.array([1.0, 2.0]), 3.0) == 5.0
    assert staircase_area(np.array([1.0]), np.array([1.0]), 0.5) == 0.0
    with pytest.raises(ValueError, match="non-decreasing"):
        staircase_area(np.array([1.0, 0.0]), np.array([1.0, 1.0]), 2.0)


def _perfect_clips(num=6):
    rng = np.random.default_rng(3)
    times = np.arange(10) * 0.5 + 0.25
    labels = ["dog", "bell", "hiss"]
    clips = []
    for n in range(num):
        scores = rng.random((10, 3)) * 0.1
        c = n % 3
        first = 1 + n % 4
        scores[first : first + 4, c] = 1.0
        event = {"label": labels[c], "onset": first * 0.5, "offset": (first + 4) * 0.5}
        clips.append(ScoredClip(f"clip{n}", scores, times, labels, 5.0, [event]))
    return clips


def test_detection_metrics_of_a_perfect_detector():
    clips = _perfect_clips()
    m = detection_metrics(clips, 0.5, num_thresholds=10, median_window=1)
    assert (m["frame_f1"], m["event_f1"], m["intersection_f1"]) == (1.0, 1.0, 1.0)
    noisy = [ScoredClip(c.name, np.random.default_rng(4).random(c.scores.shape), c.times,
                            c.labels, c.duration, c.events) for c in clips]
    worse = detection_metrics(noisy, 0.5, num_thresholds=10, median_window=1)
    assert worse["event_f1"] < 1.0 and worse["frame_f1"] < 1.0


@pytest.mark.skipif(not psds_available(), reason="psds_eval (extra 'sed') not installed")
def test_psds_of_a_perfect_and_of_an_empty_detector():
    clips = _perfect_clips()
    m = detection_metrics(clips, 0.5, num_thresholds=10, median_window=1,
                              psds_settings=SED_PSDS)
    assert m["psds1"] == pytest.approx(1.0) and m["psds2"] == pytest.approx(1.0)
    ref = [dict(e, filename=c.name) for c in clips for e in c.events]
    empty = psds_scores([[]], ref, {c.name: 5.0 for c in clips}, {"p": SED_PSDS["psds1"]})
    assert empty["p"] == 0.0


@pytest.mark.skipif(not psds_available(), reason="psds_eval (extra 'sed') not installed")
def test_psds_with_one_class_as_grounding_scores_it():
    # grounding scores one "caption" class per query: psds_eval's cross-
    # trigger mean over no other class was NaN and made every PSDS 0
    clips = [ScoredClip(c.name, c.scores[:, [n % 3]], c.times, ["caption"], c.duration,
                            [dict(e, label="caption") for e in c.events])
             for n, c in enumerate(_perfect_clips())]
    perfect = detection_metrics(clips, 0.5, num_thresholds=10, median_window=1,
                                    psds_settings=GROUNDING_PSDS)
    assert perfect["psds1"] == pytest.approx(1.0) and perfect["psds2"] == pytest.approx(1.0)
    shifted = [ScoredClip(c.name, np.roll(c.scores, 5, axis=0), c.times, c.labels,
                              c.duration, c.events) for c in clips]
    worse = detection_metrics(shifted, 0.5, num_thresholds=10, median_window=1,
                                  psds_settings=GROUNDING_PSDS)
    assert 0.0 <= worse["psds1"] < 0.5


def test_threshold_sweep_reaches_the_highest_score():
    # PSDS needs operating points with few false positives: the sweep ends at
    # the maximum score, not at the last even quantile
    levels = sweep_levels(50)
    assert levels[-1] == 1.0 and np.all(np.diff(levels) > 0)
    assert levels[49] == pytest.approx(0.99) and len(levels) == 50 + 12


# ---------------------------------------------------------------------------
# The evaluator on a tiny model
# ---------------------------------------------------------------------------
def _model():
    from speechbrain_tclap.lobes.clap import CLAP
    from speechbrain_tclap.lobes.features import CLAPFeatures
    from speechbrain_tclap.lobes.htsat import HTSAT
    from speechbrain_tclap.lobes.text import TransformerTextEncoder

    def tokenize(texts):
        ids = torch.tensor([[ord(c) % 64 for c in t[:6].ljust(6)] for t in texts])
        return ids, torch.ones_like(ids, dtype=torch.bool)

    torch.manual_seed(0)
    return CLAP(
        CLAPFeatures(sample_rate=8000, n_fft=256, hop_length=80, n_mels=16, f_max=4000.0),
        HTSAT.from_preset("test"), torch.nn.Linear(16, 8),
        TransformerTextEncoder(tokenize, vocab_size=64, d_model=8, nhead=2, num_layers=1, max_length=8),
        torch.nn.Linear(8, 8), clip_seconds=0.5,
    ).eval()


def _builder(row, train):
    wav = torch.randn(int(row["seconds"] * 8000), generator=torch.Generator().manual_seed(len(row["id"])))
    if not row.get("events"):
        return CLAPSample(row["id"], [AudioView(wav, "x")], [TextView("x")])
    return CLAPSample(row["id"], [AudioView(wav, "x")], [TextView("x")], meta={"events": row["events"]})


@pytest.fixture
def manifest(tmp_path):
    rows = {
        f"c{i}": {"seconds": 0.6 if i % 2 else 0.4,
                  "events": [{"label": ["dog", "bell"][i % 2], "onset": 0.1, "offset": 0.3}]}
        for i in range(5)
    }
    rows["no_events"] = {"seconds": 0.5}
    path = tmp_path / "test.json"
    path.write_text(json.dumps(rows))
    return str(path)


def test_evaluator_metrics_chance_and_pictures(manifest, tmp_path):
    model = _model()
    brain = SimpleNamespace(modules=SimpleNamespace(clap=model),
                            hparams=SimpleNamespace(output_folder=str(tmp_path)))
    evaluator = sed.FrameEventEvaluator({"test": manifest}, _builder, num_thresholds=8,
                                        num_plots=2, max_clips={"test": 4}, psds_stages=[])
    assert evaluator.stages == ("TEST",)
    stage = SimpleNamespace(name="TEST")
    first = evaluator.evaluate(brain, stage)
    assert first == evaluator.evaluate(brain, stage)  # deterministic
    assert len(evaluator.load_clips("TEST")) == 4
    for key in ("sed_frame_f1", "sed_event_f1", "grounding_frame_f1", "grounding_event_f1"):
        assert 0.0 <= first[key] <= 1.0
    chance = evaluator.chance_levels(first)
    assert "sed_event_f1" in chance and "sed_threshold" not in chance
    pictures = sorted((tmp_path / "frame_scores").iterdir())
    assert [p.name for p in pictures] == ["test-c0.png", "test-c1.png"]
    with pytest.raises(ValueError, match="no manifest for stage VALID"):
        evaluator.load_clips("VALID")


def test_prompt_mean_normalization_ignores_what_all_prompts_share(manifest, tmp_path, monkeypatch):
    # a frame-level offset common to every prompt (how silence scores in our
    # small models) must not change what "prompt_mean" decodes
    model = _model()
    kwargs = dict(num_thresholds=8, num_plots=0, psds_stages=[], score_normalization="prompt_mean")
    plain = sed.FrameEventEvaluator({"test": manifest}, _builder, **kwargs)
    reference = plain.evaluate_model(model, "TEST")
    original = sed.frame_text_scores

    def with_shared_offset(*args, **kw):
        out = original(*args, **kw)
        rng = np.random.default_rng(0)
        shifted = [s + 5.0 * rng.random((s.shape[0], 1)) for s in out.scores]
        return out._replace(scores=shifted)

    monkeypatch.setattr(sed, "frame_text_scores", with_shared_offset)
    shifted = sed.FrameEventEvaluator({"test": manifest}, _builder, **kwargs).evaluate_model(model, "TEST")
    for key in ("sed_frame_f1", "sed_event_f1", "grounding_frame_f1", "grounding_event_f1"):
        assert shifted[key] == pytest.approx(reference[key])
    raw = sed.FrameEventEvaluator({"test": manifest}, _builder, **dict(kwargs, score_normalization="none"))
    assert raw.evaluate_model(model, "TEST") != shifted
    with pytest.raises(ValueError, match="score normalization must be one of"):
        sed.FrameEventEvaluator({"test": manifest}, _builder, score_normalization="softmax")


def test_evaluator_refuses_manifests_without_events(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"a": {"seconds": 0.5}}))
    evaluator = sed.FrameEventEvaluator({"valid": str(path)}, _builder)
    with pytest.raises(ValueError, match="reference events"):
        evaluator.load_clips("VALID")


def test_interface_detects_events_and_plots(tmp_path):
    from speechbrain_tclap.inference import CLAP

    model = _model()
    clap = CLAP(modules={"clap": model}, run_opts={"device": "cpu"},
                hparams={"sample_rate": 8000, "clap": model})
    wav = torch.randn(12000)  # 1.5 s: three windows stitched
    scores = clap.frame_scores(wav, ["a dog", "a bell"])
    threshold = float(scores.scores[0, :, 0].median())
    events = clap.detect_events(wav, ["a dog", "a bell"], threshold, median_window=1)[0]
    assert events and all(0.0 <= e["onset"] < e["offset"] <= 1.5 for e in events)
    mask = scores.scores[0, :, 0] >= threshold
    dog = [e for e in events if e["text"] == "a dog"]
    covered = sum(e["offset"] - e["onset"] for e in dog)
    period = float(scores.times[1] - scores.times[0])
    assert covered == pytest.approx(int(mask.sum()) * period, abs=period)
    centred = clap.frame_scores(wav, ["a dog", "a bell"], score_normalization="prompt_mean")
    expected = scores.scores - scores.scores.mean(-1, keepdim=True)
    assert torch.allclose(centred.scores, expected * scores.mask.unsqueeze(-1), atol=1e-6)
    centred_events = clap.detect_events(wav, ["a dog", "a bell"], 0.0, median_window=1,
                                        score_normalization="prompt_mean")[0]
    assert {e["text"] for e in centred_events} <= {"a dog", "a bell"}
    path = clap.plot_frame_scores(wav, ["a dog", "a bell"], str(tmp_path / "p.png"),
                                  events=[{"text": "a dog", "onset": 0.2, "offset": 0.9}])
    assert path and (tmp_path / "p.png").stat().st_size > 0
    with pytest.raises(ValueError, match="one clip"):
        clap.plot_frame_scores(torch.randn(2, 8000), ["a dog"], str(tmp_path / "q.png"))
