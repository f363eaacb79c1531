"""Tests for speechbrain_tclap.metrics against loop-written references.

Authors
 * speechbrain-tclap developers 2026
"""

import math

import pytest
import torch

from speechbrain_tclap.metrics import (
    average_precision,
    average_precision_chance,
    macro_f1,
    mean_average_precision,
    mean_average_precision_chance,
    retrieval_chance_with_positives,
    retrieval_metrics_with_positives,
    zero_shot_accuracy,
    zero_shot_classify,
)

# ---------------------------------------------------------------------------
# loop references
# ---------------------------------------------------------------------------


def ref_retrieval(sim, text_to_audio, ks=(1, 5, 10), map_k=10):
    """Item-by-item reference of the LAION protocol with pessimistic ties."""
    sim = sim.tolist()
    t2a = text_to_audio.tolist()
    na, nt = len(sim), len(t2a)
    out = {}
    # text -> audio: count other clips scoring >= the true clip
    ranks = []
    for j in range(nt):
        true = sim[t2a[j]][j]
        ranks.append(sum(1 for i in range(na) if i != t2a[j] and sim[i][j] >= true))
    for k in ks:
        out[f"t2a_R@{k}"] = sum(r < k for r in ranks) / nt
    out[f"t2a_mAP@{map_k}"] = sum(1 / (r + 1) for r in ranks if r < map_k) / nt
    srt = sorted(ranks)
    out["t2a_median_rank"] = math.floor((srt[(nt - 1) // 2] + srt[nt // 2]) / 2) + 1
    out["t2a_mean_rank"] = sum(ranks) / nt + 1
    # audio -> text: explicit ranked list per clip
    best, aps = [], []
    for a in range(na):
        own = [j for j in range(nt) if t2a[j] == a]
        if not own:
            continue
        ranked = sorted(range(nt), key=lambda j: (-sim[a][j], t2a[j] == a, j))
        pos = [ranked.index(j) for j in own]
        best.append(min(pos))
        kept = sorted(p for p in pos if p < map_k)
        aps.append(sum((m + 1) / (p + 1) for m, p in enumerate(kept)) / len(own))
    for k in ks:
        out[f"a2t_R@{k}"] = sum(b < k for b in best) / len(best)
    out[f"a2t_mAP@{map_k}"] = sum(aps) / len(aps)
    srt = sorted(best)
    n = len(srt)
    out["a2t_median_rank"] = math.floor((srt[(n - 1) // 2] + srt[n // 2]) / 2) + 1
    out["a2t_mean_rank"] = sum(best) / n + 1
    return out


def ref_average_precision(scores, targets):
    """sklearn's step-wise AP over distinct thresholds, written as a loop."""
    scores, targets = scores.tolist(), targets.tolist()
    num_pos = sum(targets)
    ap, prev_recall = 0.0, 0.0
    for thr in sorted(set(scores), reverse=True):
        sel = [t for s, t in zip(scores, targets) if s >= thr]
        tp = sum(sel)
        recall = tp / num_pos
        ap += (recall - prev_recall) * tp / len(sel)
        prev_recall = recall
    return ap


def keyed(sim, text_to_audio, **kwargs):
    """The keyed retrieval with unique captions: a caption's one positive is its clip."""
    positives = text_to_audio.unsqueeze(0) == torch.arange(sim.shape[0]).unsqueeze(1)
    return retrieval_metrics_with_positives(sim, positives, **kwargs)


def assert_metrics_close(got, want, tol=1e-6):  # the metrics average in float32
    assert set(got) == set(want)
    for key in want:
        assert got[key] == pytest.approx(want[key], abs=tol), key


# ---------------------------------------------------------------------------
# retrieval
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("captions", [1, 5])
def test_retrieval_with_unique_captions_is_laions_protocol(captions):
    gen = torch.Generator().manual_seed(captions)
    na = 23
    text_to_audio = torch.arange(na).repeat_interleave(captions)
    sim = torch.randn(na, na * captions, generator=gen)
    # a better-than-chance model so that the high-rank branches are exercised
    sim[text_to_audio, torch.arange(na * captions)] += 1.5
    got = keyed(sim, text_to_audio)
    assert_metrics_close(got, ref_retrieval(sim, text_to_audio))
    assert 0.0 < got["a2t_R@1"] < 1.0 and 0.0 < got["t2a_R@1"] < 1.0


def test_retrieval_shuffled_captions_and_missing_clip():
    gen = torch.Generator().manual_seed(3)
    na, nt = 12, 40
    text_to_audio = torch.randint(
        0, na - 1, (nt,), generator=gen
    )  # clip 11: no caption
    sim = torch.randn(na, nt, generator=gen)
    got = keyed(sim, text_to_audio, ks=(1, 3), map_k=5)
    want = ref_retrieval(sim, text_to_audio, ks=(1, 3), map_k=5)
    assert_metrics_close(got, want)
    # permuting the captions changes nothing
    perm = torch.randperm(nt, generator=gen)
    again = keyed(sim[:, perm], text_to_audio[perm], ks=(1, 3), map_k=5)
    assert_metrics_close(again, got)


def test_audio_to_text_average_precision_sorts_the_ranks():
    # clip 0: its 2nd caption ranks first, its 1st caption ranks third
    sim = torch.tensor([[0.5, 0.9, 0.7, 0.1], [0.1, 0.2, 0.3, 0.4]])
    text_to_audio = torch.tensor([0, 0, 1, 1])
    # clip 0 ranks: caption 1 -> 0, caption 0 -> 2
    # clip 1 ranks: caption 3 -> 0, caption 2 -> 1
    ap0 = (1 / 1 + 2 / 3) / 2
    ap1 = (1 / 1 + 2 / 2) / 2
    assert keyed(sim, text_to_audio)["a2t_mAP@10"] == pytest.approx((ap0 + ap1) / 2)


def test_ties_are_pessimistic():
    na, c = 4, 3
    text_to_audio = torch.arange(na).repeat_interleave(c)
    sim = torch.ones(na, na * c)
    m = keyed(sim, text_to_audio, ks=(1, 4))
    assert m["t2a_R@1"] == 0.0 and m["t2a_R@4"] == 1.0
    assert m["t2a_mean_rank"] == na
    # every distractor caption comes before the clip's own captions
    assert m["a2t_mean_rank"] == na * c - c + 1
    assert m["a2t_R@1"] == 0.0
    assert_metrics_close(m, ref_retrieval(sim, text_to_audio, ks=(1, 4)))
    # a single tie with one distractor costs exactly one rank
    sim = torch.tensor([[0.8, 0.1], [0.8, 0.9]])
    m = keyed(sim, torch.tensor([0, 1]), ks=(1, 2))
    assert m["t2a_R@1"] == 0.5 and m["t2a_mAP@10"] == pytest.approx(0.75)


def test_retrieval_refuses_bad_inputs():
    sim = torch.randn(6, 12)
    positives = torch.eye(6, dtype=torch.bool).repeat_interleave(2, dim=1)
    with pytest.raises(ValueError, match="shape"):
        retrieval_metrics_with_positives(sim, positives[:, :5])
    bad = sim.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        retrieval_metrics_with_positives(bad, positives)


def test_retrieval_chance_closed_forms():
    ch = retrieval_chance_with_positives(torch.eye(10, dtype=torch.bool), ks=(1, 20))
    harmonic = sum(1 / r for r in range(1, 11)) / 10
    for side in ("t2a", "a2t"):
        assert ch[f"{side}_R@1"] == pytest.approx(0.1)
        assert ch[f"{side}_R@20"] == 1.0
        assert ch[f"{side}_mAP@10"] == pytest.approx(harmonic)
        assert ch[f"{side}_mean_rank"] == pytest.approx(5.5)


# ---------------------------------------------------------------------------
# zero-shot classification
# ---------------------------------------------------------------------------


def test_zero_shot_classify_softmax_and_sigmoid():
    audio = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    classes = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    p = zero_shot_classify(audio, classes, logit_scale=2.0)
    cos = torch.tensor([[1.0, 0.0, -1.0], [0.6, 0.8, -0.6]])
    assert torch.allclose(p, torch.softmax(2.0 * cos, dim=1))
    assert torch.allclose(p.sum(dim=1), torch.ones(2))
    q = zero_shot_classify(audio, classes, logit_scale=2.0, multi_label=True)
    assert torch.allclose(q, torch.sigmoid(2.0 * cos))


def test_zero_shot_accuracy_hand_cases_and_ties():
    scores = torch.tensor(
        [[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5], [0.4, 0.4, 0.2]]
    )
    labels = torch.tensor([1, 2, 0, 0])
    acc = zero_shot_accuracy(scores, labels, topk=(1, 2, 3))
    # ranks: 0, 1, 2, 1 (the tie in the last row counts against it)
    assert acc == {"acc@1": 0.25, "acc@2": 0.75, "acc@3": 1.0}


def test_average_precision_hand_cases():
    s = torch.tensor([0.9, 0.5, 0.5, 0.1])
    assert average_precision(s, torch.tensor([1, 0, 1, 0])).item() == pytest.approx(
        0.5 + 0.5 * 2 / 3
    )
    assert average_precision(s, torch.tensor([0, 1, 0, 1])).item() == pytest.approx(
        0.5 / 3 + 0.5 * 0.5
    )
    assert average_precision(s, torch.tensor([1, 1, 1, 1])).item() == pytest.approx(1.0)
    assert math.isnan(average_precision(s, torch.zeros(4)).item())


def test_average_precision_matches_loop_with_ties():
    gen = torch.Generator().manual_seed(5)
    scores = torch.randint(0, 6, (40, 7), generator=gen).float()  # many ties
    targets = (torch.rand(40, 7, generator=gen) < 0.3).long()
    targets[:, 6] = 0  # class without positives: skipped
    ap = average_precision(scores, targets)
    for k in range(6):
        assert ap[k].item() == pytest.approx(
            ref_average_precision(scores[:, k], targets[:, k])
        )
    assert math.isnan(ap[6].item())
    assert mean_average_precision(scores, targets) == pytest.approx(
        ap[:6].mean().item()
    )


def test_average_precision_against_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    gen = torch.Generator().manual_seed(6)
    scores = torch.randint(0, 5, (50,), generator=gen).float()
    targets = (torch.rand(50, generator=gen) < 0.4).long()
    want = metrics.average_precision_score(targets.numpy(), scores.numpy())
    assert average_precision(scores, targets).item() == pytest.approx(want)


def test_average_precision_chance_monte_carlo():
    gen = torch.Generator().manual_seed(2)
    n, p, trials = 30, 5, 3000
    targets = torch.zeros(n, trials)
    targets[:p] = 1
    ap = average_precision(torch.rand(n, trials, generator=gen), targets)
    assert ap.mean().item() == pytest.approx(average_precision_chance(n, p), abs=0.01)
    multi = torch.tensor([[1, 0], [0, 0], [1, 1]])
    want = (average_precision_chance(3, 2) + average_precision_chance(3, 1)) / 2
    assert mean_average_precision_chance(multi) == pytest.approx(want)


def test_macro_f1_against_loop():
    gen = torch.Generator().manual_seed(4)
    preds = torch.randint(0, 5, (60,), generator=gen)
    labels = torch.randint(0, 4, (60,), generator=gen)  # class 4 only predicted
    f1s = []
    for k in range(5):
        tp = sum(int(p == k and t == k) for p, t in zip(preds, labels))
        fp = sum(int(p == k and t != k) for p, t in zip(preds, labels))
        fn = sum(int(p != k and t == k) for p, t in zip(preds, labels))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    assert macro_f1(preds, labels) == pytest.approx(sum(f1s) / 5)
    scores = torch.nn.functional.one_hot(preds, 5).float()
    assert macro_f1(scores, labels) == pytest.approx(sum(f1s) / 5)


def test_macro_f1_multi_label():
    scores = torch.tensor([[0.9, 0.6, 0.1], [0.2, 0.4, 0.1], [0.7, 0.5, 0.0]])
    targets = torch.tensor([[1, 1, 0], [0, 1, 0], [0, 1, 0]])
    # class 0: tp 1, fp 1 -> 2/3; class 1: tp 2, fn 1 -> 4/5; class 2: absent
    assert macro_f1(scores, targets) == pytest.approx((2 / 3 + 4 / 5) / 2)
