"""Evaluation metrics for CLAP models: retrieval, zero-shot classification, T-Classify.

Vectorised torch functions over embeddings or score matrices (CPU or GPU).

Retrieval (:func:`retrieval_metrics_with_positives`) counts a caption as a
hit for every clip holding a caption with the same key
(:func:`positives_from_caption_keys`); with unique captions this is LAION-CLAP's
protocol for several captions per clip (``evaluate_clotho_audiocaps``, after
XinhaoMei/audio-text_retrieval), ``r`` being 0-indexed ranks:

* text -> audio: ``R@k = mean[r < k]``, ``mAP@10 = mean[1/(r+1) if r < 10]``,
  median rank ``floor(median(r)) + 1``, mean rank ``mean(r) + 1``;
* audio -> text: ``R@k`` and ranks use the clip's best-ranked caption;
  ``AP = (1/c) sum_{m : r_(m) < 10} m / (r_(m) + 1)`` over the sorted ranks
  ``r_(1) < r_(2) < ...`` of the clip's ``c`` captions (``c`` capped at 10),
  as XinhaoMei's ``a2t``; LAION's released code skips the sort (AP can then
  exceed 1).

Ties are *pessimistic*: a positive tied with a distractor ranks after it, so
a collapsed model scores chance level or worse, never perfectly (ties among
positives change no metric). Scores must be finite.

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

__all__ = [
    "zero_shot_classify",
    "zero_shot_accuracy",
    "average_precision",
    "mean_average_precision",
    "average_precision_chance",
    "mean_average_precision_chance",
    "macro_f1",
    "positives_from_caption_keys",
    "retrieval_metrics_with_positives",
    "retrieval_chance_with_positives",
    "ordered_pair_captions",
    "swapped_caption_cosine",
    "t_classify_metrics",
    "t_classify_chance",
]


# ---------------------------------------------------------------------------
# Zero-shot classification
# ---------------------------------------------------------------------------
def zero_shot_classify(
    audio_emb: torch.Tensor,
    class_emb: torch.Tensor,
    logit_scale: Union[float, torch.Tensor] = 1.0,
    multi_label: bool = False,
    normalize: bool = True,
) -> torch.Tensor:
    """Score every clip against every class prompt embedding.

    ``logit_scale * audio_emb @ class_emb.T`` on (by default) L2-normalised
    embeddings, then a softmax over classes (single-label, as MS-CLAP) or a
    sigmoid (multi-label). The scale changes calibration, never the argmax.

    Arguments
    ---------
    audio_emb : torch.Tensor
        ``(N, D)`` clip embeddings.
    class_emb : torch.Tensor
        ``(K, D)`` text embeddings of the class prompts.
    logit_scale : float or torch.Tensor
        Multiplier of the cosine similarities (e.g. ``model.logit_scale()``).
    multi_label : bool
        Sigmoid (independent classes) instead of softmax.
    normalize : bool
        L2-normalise both embeddings first.

    Returns
    -------
    torch.Tensor
        ``(N, K)`` scores in ``[0, 1]``; rows sum to 1 when single-label.

    Example
    -------
    >>> audio = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    >>> classes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> zero_shot_classify(audio, classes, logit_scale=10.0).argmax(dim=1)
    tensor([0, 1])
    >>> zero_shot_classify(audio, classes, multi_label=True).round(decimals=3)
    tensor([[0.7310, 0.5000],
            [0.5000, 0.7310]])
    """
    audio_emb = audio_emb.float()
    class_emb = class_emb.float().to(audio_emb.device)
    if normalize:
        audio_emb = F.normalize(audio_emb, dim=-1)
        class_emb = F.normalize(class_emb, dim=-1)
    logits = logit_scale * (audio_emb @ class_emb.t())
    if multi_label:
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=-1)


def zero_shot_accuracy(
    scores: torch.Tensor, labels: torch.Tensor, topk: Sequence[int] = (1,)
) -> Dict[str, float]:
    """Top-k accuracy of single-label predictions.

    A clip counts as correct at ``k`` when fewer than ``k`` other classes
    score ``>=`` its true class (pessimistic ties, as in retrieval).

    Arguments
    ---------
    scores : torch.Tensor
        ``(N, K)`` class scores (probabilities or logits).
    labels : torch.Tensor
        Long ``(N,)`` true class indices.
    topk : Sequence[int]
        The ``k`` values.

    Returns
    -------
    Dict[str, float]
        ``{"acc@k": fraction correct}`` for every ``k``.

    Example
    -------
    >>> scores = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.3, 0.2], [0.4, 0.4, 0.2]])
    >>> zero_shot_accuracy(scores, torch.tensor([0, 1, 1]), topk=(1, 2))
    {'acc@1': 0.3333333333333333, 'acc@2': 1.0}
    """
    if scores.dim() != 2 or labels.dim() != 1 or labels.numel() != scores.shape[0]:
        raise ValueError(
            f"expected scores (N, K) and labels (N,), got {tuple(scores.shape)} "
            f"and {tuple(labels.shape)}"
        )
    labels = labels.to(device=scores.device, dtype=torch.long)
    true = scores.gather(1, labels.unsqueeze(1))
    rank = (scores >= true).sum(dim=1) - 1
    return {f"acc@{k}": (rank < k).double().mean().item() for k in topk}


def average_precision(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Average precision per class (column), as sklearn defines it.

    ``AP = sum_n (R_n - R_{n-1}) P_n`` over distinct score thresholds (ties
    enter together), as ``sklearn.metrics.average_precision_score``; classes
    without a positive get NaN.

    Arguments
    ---------
    scores : torch.Tensor
        ``(N,)`` or ``(N, K)`` scores, higher means more likely positive.
    targets : torch.Tensor
        Same shape, binary (multi-hot) ground truth.

    Returns
    -------
    torch.Tensor
        A 0-d tensor for 1-D input, else ``(K,)`` (float64).

    Example
    -------
    >>> scores = torch.tensor([0.9, 0.8, 0.3, 0.1])
    >>> average_precision(scores, torch.tensor([1, 0, 1, 0]))
    tensor(0.8333, dtype=torch.float64)
    """
    if scores.shape != targets.shape or scores.dim() not in (1, 2):
        raise ValueError(
            f"scores and targets must share a (N,) or (N, K) shape, got "
            f"{tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    squeeze = scores.dim() == 1
    if squeeze:
        scores, targets = scores.unsqueeze(1), targets.unsqueeze(1)
    num = scores.shape[0]
    srt = torch.sort(scores.double(), dim=0, descending=True)
    t_sorted = targets.to(scores.device).double().gather(0, srt.indices)
    tp = t_sorted.cumsum(dim=0)
    position = torch.arange(num, device=scores.device).unsqueeze(1).expand_as(tp)
    precision = tp / (position + 1).double()
    # last index of each tie group: next score differs, or last row
    is_end = torch.ones_like(t_sorted, dtype=torch.bool)
    is_end[:-1] = srt.values[:-1] != srt.values[1:]
    end_idx = torch.where(is_end, position, torch.full_like(position, num))
    end_idx = torch.flip(torch.cummin(torch.flip(end_idx, [0]), dim=0).values, [0])
    prec_at_end = precision.gather(0, end_idx)
    num_pos = t_sorted.sum(dim=0)
    ap = (t_sorted * prec_at_end).sum(dim=0) / num_pos
    ap = torch.where(num_pos > 0, ap, torch.full_like(ap, float("nan")))
    return ap[0] if squeeze else ap


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean over classes with a positive of :func:`average_precision` (mAP).

    Arguments
    ---------
    scores : torch.Tensor
        ``(N, K)`` scores.
    targets : torch.Tensor
        ``(N, K)`` multi-hot ground truth.

    Returns
    -------
    float
        The mAP (NaN if no class has a positive).

    Example
    -------
    >>> scores = torch.tensor([[0.9, 0.1, 0.2], [0.8, 0.7, 0.1], [0.3, 0.2, 0.6]])
    >>> targets = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    >>> round(mean_average_precision(scores, targets), 4)
    0.9167
    """
    ap = average_precision(scores, targets)
    ap = ap[~torch.isnan(ap)]
    return ap.mean().item() if ap.numel() else float("nan")


def average_precision_chance(num_items: int, num_positives: int) -> float:
    """Expected average precision of a random ranking (no ties).

    ``E[AP] = q + (1 - q) H_N / N`` with ``q = (P - 1) / (N - 1)`` and ``H_N``
    the N-th harmonic number: slightly above the prevalence ``P / N``.

    Arguments
    ---------
    num_items : int
        Number of ranked items ``N``.
    num_positives : int
        Number of positives ``P`` (``1 <= P <= N``).

    Returns
    -------
    float
        The expectation.

    Example
    -------
    >>> round(average_precision_chance(100, 10), 4)
    0.1381
    """
    if not 1 <= num_positives <= num_items:
        raise ValueError("need 1 <= num_positives <= num_items")
    return _expected_ap(num_items, num_positives, num_items)


def mean_average_precision_chance(targets: torch.Tensor) -> float:
    """Expected :func:`mean_average_precision` of random scores for ``targets``.

    Arguments
    ---------
    targets : torch.Tensor
        ``(N, K)`` multi-hot ground truth (classes without positives skipped).

    Returns
    -------
    float
        Mean over classes of :func:`average_precision_chance`.

    Example
    -------
    >>> targets = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 0]])
    >>> round(mean_average_precision_chance(targets), 4)
    0.6007
    """
    num = targets.shape[0]
    counts = [int(c) for c in targets.sum(dim=0).tolist() if c > 0]
    if not counts:
        return float("nan")
    return sum(average_precision_chance(num, c) for c in counts) / len(counts)


def macro_f1(
    predictions: torch.Tensor,
    targets: torch.Tensor,
    num_classes: Optional[int] = None,
    threshold: float = 0.5,
) -> float:
    """Macro-averaged F1 for single-label or multi-label classification.

    * single-label: ``targets`` is ``(N,)`` class indices; ``predictions`` is
      ``(N,)`` class indices or ``(N, K)`` scores (argmax is taken);
    * multi-label: ``targets`` is ``(N, K)`` multi-hot; ``predictions`` is
      boolean ``(N, K)`` or scores thresholded with ``>= threshold``.

    Per-class ``2 TP / (2 TP + FP + FN)``, averaged over classes occurring in
    targets or predictions (single-label: sklearn's ``f1_score(average="macro")``).

    Arguments
    ---------
    predictions : torch.Tensor
        Predicted labels, scores or a boolean matrix.
    targets : torch.Tensor
        ``(N,)`` labels or ``(N, K)`` multi-hot.
    num_classes : int, optional
        ``K`` for single-label index inputs (default: inferred).
    threshold : float
        Decision threshold for multi-label scores.

    Returns
    -------
    float
        The macro F1 (NaN if no class occurs anywhere).

    Example
    -------
    >>> macro_f1(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]))
    0.7777777777777777
    >>> macro_f1(torch.tensor([[0.9, 0.2], [0.6, 0.7]]), torch.tensor([[1, 0], [0, 1]]))
    0.8333333333333333
    """
    if targets.dim() == 1:
        if predictions.dim() == 2:
            predictions = predictions.argmax(dim=1)
        predictions = predictions.long().to(targets.device)
        targets = targets.long()
        if num_classes is None:
            num_classes = int(max(predictions.max(), targets.max())) + 1
        pred_mat = F.one_hot(predictions, num_classes).bool()
        true_mat = F.one_hot(targets, num_classes).bool()
    elif targets.dim() == 2:
        if predictions.shape != targets.shape:
            raise ValueError("multi-label predictions and targets differ in shape")
        if predictions.dtype == torch.bool:
            pred_mat = predictions
        else:
            pred_mat = predictions >= threshold
        pred_mat = pred_mat.to(targets.device)
        true_mat = targets.bool()
    else:
        raise ValueError("targets must be (N,) labels or (N, K) multi-hot")
    tp = (pred_mat & true_mat).sum(dim=0).double()
    fp = (pred_mat & ~true_mat).sum(dim=0).double()
    fn = (~pred_mat & true_mat).sum(dim=0).double()
    denom = 2 * tp + fp + fn
    valid = denom > 0
    if not bool(valid.any()):
        return float("nan")
    return (2 * tp[valid] / denom[valid]).mean().item()


# ---------------------------------------------------------------------------
# Retrieval: several clips and captions can be correct for one query
# ---------------------------------------------------------------------------
def _median_rank(ranks: torch.Tensor) -> float:
    """LAION's median rank: ``floor(median(ranks)) + 1`` with numpy's median
    (mean of the two middle values for an even count), ranks 0-indexed."""
    srt = torch.sort(ranks.double()).values
    n = srt.numel()
    mid = (srt[(n - 1) // 2] + srt[n // 2]) / 2
    return float(math.floor(mid.item()) + 1)


def _first_hit_cdf(num_items: int, num_pos: int, b: int) -> float:
    """P(at least one of ``num_pos`` random positives among the first ``b``
    of ``num_items`` randomly ordered items) (hypergeometric)."""
    if b >= num_items:
        return 1.0
    miss = 1.0
    for i in range(b):
        miss *= (num_items - num_pos - i) / (num_items - i)
        if miss <= 0.0:
            return 1.0
    return 1.0 - miss


def _expected_ap(num_items: int, num_pos: int, cutoff: int) -> float:
    """Expected AP@cutoff (denominator ``num_pos``) of a random ranking:
    ``(1/N) sum_{p < K} (1 + (c - 1) p / (N - 1)) / (p + 1)``."""
    n, c, k = num_items, num_pos, min(cutoff, num_items)
    if n == 1:
        return 1.0
    return sum((1 + (c - 1) * p / (n - 1)) / (p + 1) for p in range(k)) / n


def positives_from_caption_keys(
    audio_caption_keys: Sequence[Sequence[str]], text_keys: Sequence[str]
) -> torch.Tensor:
    """Positive mask for retrieval where identical captions are equivalent.

    A caption is a hit for every clip that has a caption with the same key.
    With unique captions this is exactly "the caption's own clip".

    Arguments
    ---------
    audio_caption_keys : sequence of sequence of str
        The caption keys of each clip.
    text_keys : sequence of str
        The key of each caption query.

    Returns
    -------
    torch.Tensor
        Boolean ``(Na, Nt)``.

    Example
    -------
    >>> positives_from_caption_keys([["a"], ["a"], ["b"]], ["a", "b"]).int()
    tensor([[1, 0],
            [1, 0],
            [0, 1]], dtype=torch.int32)
    """
    clips_of_key: Dict[str, List[int]] = {}
    for clip, keys in enumerate(audio_caption_keys):
        for key in set(keys):
            clips_of_key.setdefault(key, []).append(clip)
    mask = torch.zeros(len(audio_caption_keys), len(text_keys), dtype=torch.bool)
    for col, key in enumerate(text_keys):
        mask[clips_of_key.get(key, []), col] = True
    return mask


def _ranked_hits(sim: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    """Rows of ``positives`` by descending score, non-positives first among ties."""
    order = torch.argsort(positives.to(torch.int8), dim=1, stable=True)
    by_score = torch.argsort(
        torch.gather(sim, 1, order), dim=1, descending=True, stable=True
    )
    return torch.gather(positives, 1, torch.gather(order, 1, by_score))


def _query_metrics(
    sim: torch.Tensor, positives: torch.Tensor, ks: Sequence[int], map_k: int
) -> Dict[str, float]:
    """R@k, AP@map_k and first-hit ranks for queries along rows."""
    hits = _ranked_hits(sim, positives)
    num_pos = hits.sum(dim=1)
    first = hits.float().argmax(dim=1)  # 0-indexed rank of the first hit
    out = {f"R@{k}": float((first < k).float().mean()) for k in ks}
    top = hits[:, :map_k].float()
    precision = top.cumsum(dim=1) / torch.arange(1, top.shape[1] + 1)
    ap = (precision * top).sum(dim=1) / num_pos.clamp(max=map_k).float()
    out[f"mAP@{map_k}"] = float(ap.mean())
    out["median_rank"] = _median_rank(first.float())
    out["mean_rank"] = float(first.float().mean() + 1)
    return out


def retrieval_metrics_with_positives(
    sim: torch.Tensor,
    positives: torch.Tensor,
    ks: Sequence[int] = (1, 5, 10),
    map_k: int = 10,
) -> Dict[str, float]:
    """Retrieval metrics where several items can be correct for one query.

    ``R@k``: a hit in the top ``k``; ranks: of the first hit; ``mAP@K``: AP
    over the top ``K`` with ``min(#positives, K)`` as denominator (LAION's
    protocol with unique captions, see the module docstring). Queries without
    a positive are left out.

    Arguments
    ---------
    sim : torch.Tensor
        ``(Na, Nt)`` similarities.
    positives : torch.Tensor
        Boolean ``(Na, Nt)``.
    ks : sequence of int
        Recall cut-offs.
    map_k : int
        mAP cut-off.

    Returns
    -------
    dict
        ``t2a_*`` and ``a2t_*`` metrics.

    Example
    -------
    >>> sim = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.3]])
    >>> pos = positives_from_caption_keys([["a"], ["a"], ["b"]], ["a", "b"])
    >>> m = retrieval_metrics_with_positives(sim, pos, ks=(1,))
    >>> m["t2a_R@1"], m["a2t_R@1"]
    (1.0, 1.0)
    """
    if sim.shape != positives.shape:
        raise ValueError(
            f"similarity {tuple(sim.shape)} and positives "
            f"{tuple(positives.shape)} differ in shape"
        )
    if not torch.isfinite(sim).all():
        raise ValueError("retrieval: similarity matrix has NaN or Inf")
    sim, positives = sim.float().cpu(), positives.bool().cpu()
    metrics = {}
    for name, s, p in (("t2a", sim.T, positives.T), ("a2t", sim, positives)):
        keep = p.any(dim=1)
        for key, value in _query_metrics(s[keep], p[keep], ks, map_k).items():
            metrics[f"{name}_{key}"] = value
    return metrics


def retrieval_chance_with_positives(
    positives: torch.Tensor, ks: Sequence[int] = (1, 5, 10), map_k: int = 10
) -> Dict[str, float]:
    """Exact chance levels of :func:`retrieval_metrics_with_positives`.

    Expected recall, mAP and mean rank of the first hit under random scores.

    Arguments
    ---------
    positives : torch.Tensor
        Boolean ``(Na, Nt)``.
    ks, map_k : sequence of int, int
        Recall and mAP cut-offs.

    Returns
    -------
    dict
        Chance levels under the same keys.

    Example
    -------
    >>> pos = torch.eye(4, dtype=torch.bool)
    >>> retrieval_chance_with_positives(pos, ks=(1,))["t2a_R@1"]
    0.25
    """
    out = {}
    for name, p in (("t2a", positives.T), ("a2t", positives)):
        counts = p.sum(dim=1)
        counts = counts[counts > 0].tolist()
        n = p.shape[1]
        groups = {c: counts.count(c) for c in set(counts)}
        total = len(counts)

        def mean_of(fn):
            return sum(fn(c) * m for c, m in groups.items()) / total

        for k in ks:
            out[f"{name}_R@{k}"] = mean_of(lambda c: _first_hit_cdf(n, c, k))
        out[f"{name}_mAP@{map_k}"] = mean_of(
            lambda c: _expected_ap(n, c, map_k) * c / min(c, map_k)
        )
        # E[first hit rank] (1-based) of c random positives among n: (n+1)/(c+1).
        out[f"{name}_mean_rank"] = mean_of(lambda c: (n + 1) / (c + 1))
    return out


# ---------------------------------------------------------------------------
# T-Classify (T-CLAP): is "A followed by B" preferred to "B followed by A"?
# ---------------------------------------------------------------------------
def ordered_pair_captions(
    classes: Sequence[str], template: str = "{A} followed by {B}"
) -> Tuple[List[str], List[Tuple[int, int]]]:
    """All ordered pairs of distinct classes as captions.

    Arguments
    ---------
    classes : sequence of str
        Class names as they should appear in text.
    template : str
        Caption with ``{A}`` (first event) and ``{B}`` (second event).

    Returns
    -------
    tuple
        ``(captions, pairs)`` with ``pairs[k] = (i, j)`` the class indices of
        ``captions[k]``.

    Example
    -------
    >>> caps, pairs = ordered_pair_captions(["dog", "bell"])
    >>> caps, pairs
    (['dog followed by bell', 'bell followed by dog'], [(0, 1), (1, 0)])
    """
    pairs = [(i, j) for i in range(len(classes)) for j in range(len(classes)) if i != j]
    captions = [template.format(A=classes[i], B=classes[j]) for i, j in pairs]
    return captions, pairs


def swapped_caption_cosine(
    caption_emb: torch.Tensor, pairs: Sequence[Tuple[int, int]]
) -> float:
    """Mean cosine of each ordered-pair caption with its order-swapped twin.

    1.0 for a text tower blind to event order (T-CLAP's premise).

    Arguments
    ---------
    caption_emb : torch.Tensor
        ``(P, D)`` embeddings of the captions of :func:`ordered_pair_captions`.
    pairs : sequence of (int, int)
        Class indices of each caption.

    Returns
    -------
    float
        Mean cosine over the captions whose twin is present.

    Example
    -------
    >>> emb = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> swapped_caption_cosine(emb, [(0, 1), (1, 0)])
    0.0
    """
    row = {pair: k for k, pair in enumerate(pairs)}
    emb = torch.nn.functional.normalize(caption_emb.float(), dim=-1)
    twins = [(k, row[(j, i)]) for k, (i, j) in enumerate(pairs) if (j, i) in row]
    if not twins:
        return float("nan")
    first, second = zip(*twins)
    return float((emb[list(first)] * emb[list(second)]).sum(-1).mean())


def t_classify_metrics(
    audio_emb: torch.Tensor,
    true_pairs: torch.Tensor,
    caption_emb: torch.Tensor,
    pairs: Sequence[Tuple[int, int]],
    ks: Sequence[int] = (5,),
) -> Dict[str, float]:
    """Binary and N-way T-Classify accuracy and temporal retrieval R@k.

    Binary: the correct-order caption beats its swap strictly; N-way: it wins
    among all ``K(K-1)`` captions; ``R@k``: it is in the top ``k`` (ties
    pessimistic).

    Arguments
    ---------
    audio_emb : torch.Tensor
        ``(N, D)`` normalised embeddings of two-event clips.
    true_pairs : torch.Tensor
        ``(N, 2)`` class indices (first, second event).
    caption_emb : torch.Tensor
        ``(P, D)`` embeddings of the ordered-pair captions.
    pairs : sequence of (int, int)
        Class indices of each caption (from :func:`ordered_pair_captions`).
    ks : sequence of int
        Cut-offs of the temporal retrieval recall.

    Returns
    -------
    dict
        ``tclassify_binary``, ``tclassify_nway``, ``tclassify_R@k``, ``tclassify_n``.

    Example
    -------
    >>> caps, pairs = ordered_pair_captions(["a", "b", "c"])
    >>> emb = torch.eye(6)
    >>> m = t_classify_metrics(emb[:2], torch.tensor([[0, 1], [0, 2]]), emb, pairs)
    >>> m["tclassify_binary"], m["tclassify_nway"]
    (1.0, 1.0)
    """
    index = {pair: k for k, pair in enumerate(pairs)}
    correct = torch.tensor([index[(int(a), int(b))] for a, b in true_pairs.tolist()])
    swapped = torch.tensor([index[(int(b), int(a))] for a, b in true_pairs.tolist()])
    scores = audio_emb.float().cpu() @ caption_emb.float().cpu().T
    rows = torch.arange(len(correct))
    true_score = scores[rows, correct]
    binary = (true_score > scores[rows, swapped]).float().mean()
    # Pessimistic rank: every other caption scoring >= the correct one is ahead.
    ahead = (scores >= true_score.unsqueeze(1)).sum(dim=1) - 1
    out = {
        "tclassify_binary": float(binary),
        "tclassify_nway": float((ahead == 0).float().mean()),
        "tclassify_n": len(correct),
    }
    for k in ks:
        out[f"tclassify_R@{k}"] = float((ahead < k).float().mean())
    return out


def t_classify_chance(num_classes: int, ks: Sequence[int] = (5,)) -> Dict[str, float]:
    """Chance levels of :func:`t_classify_metrics`.

    Arguments
    ---------
    num_classes : int
        K.
    ks : sequence of int
        Recall cut-offs.

    Returns
    -------
    dict
        Chance values under the same keys.

    Example
    -------
    >>> t_classify_chance(3)["tclassify_nway"]
    0.16666666666666666
    """
    num_pairs = num_classes * (num_classes - 1)
    out = {"tclassify_binary": 0.5, "tclassify_nway": 1.0 / num_pairs}
    for k in ks:
        out[f"tclassify_R@{k}"] = min(k, num_pairs) / num_pairs
    return out
