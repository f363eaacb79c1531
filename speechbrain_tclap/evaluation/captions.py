"""Evaluations for free-form caption corpora (AudioCaps, Clotho).

Two ``extra_evaluations`` of :class:`speechbrain_tclap.brain.CLAPBrain` over
the clip embeddings it collected: :class:`CaptionOrderEvaluator` (T-Classify
on real captions against their order-swapped rewrites) and
:class:`MeanRetrievalMetric` (LAION-CLAP's selection score, one key for
``valid_metric``).

Authors
 * speechbrain-tclap developers 2026
"""

import os
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.caption_negatives import caption_items
from speechbrain_tclap.data.manifest import load_manifest
from speechbrain_tclap.evaluation.base import Evaluator
from speechbrain_tclap.lobes.clap import encode_text_chunks
from speechbrain_tclap.metrics import (
    retrieval_chance_with_positives,
    retrieval_metrics_with_positives,
)

logger = get_logger(__name__)


class CaptionOrderEvaluator(Evaluator):
    """Binary T-Classify on a manifest's captions and their order swaps.

    ``tclassify_caption_acc``: fraction of captions (``tclassify_caption_n``)
    whose clip is strictly closer to the caption than to its rewrite (e.g.
    "a dog barks followed by a car horn" and its swap; chance 0.5). Clips the
    Brain did not collect (unreadable audio) are left out.

    Arguments
    ---------
    manifest : str
        The split's manifest (``captions`` or ``caption``), read when first used.
    negatives : callable
        ``(caption_id, caption) -> negative or None``, e.g. a
        :class:`~speechbrain_tclap.data.caption_negatives.CaptionNegativeProvider`.
    stages : sequence of str
        Stages to run at (``"VALID"``, ``"TEST"``).
    batch_size : int
        Captions encoded at once.

    Example
    -------
    >>> import json
    >>> from types import SimpleNamespace
    >>> from speechbrain_tclap.brain import EvaluationCollector
    >>> from speechbrain_tclap.data.caption_negatives import CaptionNegativeProvider
    >>> path = getfixture("tmpdir") / "test.json"
    >>> _ = path.write(json.dumps({"c1": {"wav": "c1.wav",
    ...     "captions": ["a dog barks then a bell rings", "a dog and a bell"]}}))
    >>> class Bag(torch.nn.Module):  # embeds the first word of a text
    ...     def encode_text(self, texts):
    ...         return torch.tensor([[1.0, 0.0] if t.startswith("a dog")
    ...                              else [0.0, 1.0] for t in texts])
    >>> collected = EvaluationCollector()
    >>> collected.append(["c1"], torch.tensor([[1.0, 0.0]]), torch.zeros(0, 2),
    ...                  [], [], [[]])
    >>> brain = SimpleNamespace(modules=SimpleNamespace(clap=Bag()),
    ...                         accumulator=collected)
    >>> evaluator = CaptionOrderEvaluator(str(path), CaptionNegativeProvider())
    >>> evaluator.evaluate(brain, None)
    {'tclassify_caption_n': 1, 'tclassify_caption_acc': 1.0}
    """

    def __init__(
        self,
        manifest: str,
        negatives,
        stages: Sequence[str] = ("VALID", "TEST"),
        batch_size: int = 256,
    ):
        self.manifest = manifest
        self.negatives = negatives
        self.stages = tuple(stages)
        self.batch_size = int(batch_size)
        self._questions: Optional[List[Tuple[str, str, str]]] = None

    def questions(self) -> List[Tuple[str, str, str]]:
        """``(clip id, caption, order-swapped caption)`` of the manifest (cached).

        Returns
        -------
        list of tuple
            One entry per caption that has a negative.
        """
        if self._questions is None:
            if not os.path.isfile(self.manifest):
                raise FileNotFoundError(
                    f"caption-order evaluation: manifest not found: {self.manifest} "
                    "(extra_evaluations in the recipe YAML)"
                )
            rows = load_manifest(self.manifest, required=("id",))
            self._questions = []
            for clip_id, row in rows.items():
                for cid, caption in caption_items({clip_id: row}):
                    negative = self.negatives(cid, caption)
                    if negative is not None:
                        self._questions.append((clip_id, caption, negative))
            logger.info(
                "caption-order T-Classify: %d captions of %s have an order swap",
                len(self._questions),
                self.manifest,
            )
        return self._questions

    def evaluate(self, brain, stage) -> Dict[str, float]:
        """Score the Brain's model on the caption / swapped-caption pairs.

        Arguments as :meth:`Evaluator.evaluate`; the clips are those of
        ``brain.accumulator``.

        Returns
        -------
        dict
            ``tclassify_caption_n`` and, when there are pairs,
            ``tclassify_caption_acc``.
        """
        collected = brain.accumulator
        asked = [q for q in self.questions() if q[0] in collected.index]
        metrics: Dict[str, float] = {"tclassify_caption_n": len(asked)}
        if not asked:
            return metrics
        audio = collected.audio_matrix()[[collected.index[q[0]] for q in asked]]
        positive = self._encode(brain, [q[1] for q in asked])
        negative = self._encode(brain, [q[2] for q in asked])
        correct = (audio * positive).sum(-1) > (audio * negative).sum(-1)
        metrics["tclassify_caption_acc"] = float(correct.float().mean())
        return metrics

    def _encode(self, brain, texts: List[str]) -> torch.Tensor:
        return encode_text_chunks(self.model(brain), texts, self.batch_size)

    def chance_levels(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """Chance of the binary choice (arguments as :meth:`Evaluator.chance_levels`).

        Returns
        -------
        dict
            ``{"tclassify_caption_acc": 0.5}`` when it was measured.
        """
        if "tclassify_caption_acc" not in metrics:
            return {}
        return {"tclassify_caption_acc": 0.5}


class MeanRetrievalMetric(Evaluator):
    """The mean of some retrieval metrics, as one selectable key.

    Default: LAION-CLAP's model selection on AudioCaps / Clotho,
    ``(a2t_mAP@10 + t2a_mAP@10) / 2``, as the Brain's retrieval metrics.

    Arguments
    ---------
    keys : sequence of str
        Retrieval metrics to average.
    name : str
        Key of the mean in the stage's metrics.
    stages : sequence of str
        Stages to run at.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> from speechbrain_tclap.brain import EvaluationCollector
    >>> collected = EvaluationCollector()
    >>> collected.append(["a", "b"], torch.eye(2), torch.eye(2), ["a", "b"],
    ...                  ["dog", "cat"], [[], []])
    >>> metric = MeanRetrievalMetric()
    >>> metric.evaluate(SimpleNamespace(accumulator=collected), None)
    {'mean_mAP@10': 1.0}
    >>> metric.chance_levels({"mean_mAP@10": 1.0})
    {'mean_mAP@10': 0.75}
    """

    def __init__(
        self,
        keys: Sequence[str] = ("a2t_mAP@10", "t2a_mAP@10"),
        name: str = "mean_mAP@10",
        stages: Sequence[str] = ("VALID", "TEST"),
    ):
        self.keys = tuple(keys)
        self.name = name
        self.stages = tuple(stages)
        self._chance: Optional[float] = None

    def _mean(self, values: Dict[str, float]) -> float:
        missing = [k for k in self.keys if k not in values]
        if missing:
            raise KeyError(
                f"MeanRetrievalMetric: no retrieval metric {missing}; "
                f"available: {sorted(values)}"
            )
        return sum(values[k] for k in self.keys) / len(self.keys)

    def evaluate(self, brain, stage) -> Dict[str, float]:
        """The mean over the stage's collected clips and captions.

        Arguments as :meth:`Evaluator.evaluate`.

        Returns
        -------
        dict
            ``{name: mean}``.
        """
        collected = brain.accumulator
        positives = collected.positives()
        sim = collected.audio_matrix() @ collected.text_matrix().T
        self._chance = self._mean(retrieval_chance_with_positives(positives))
        return {self.name: self._mean(retrieval_metrics_with_positives(sim, positives))}

    def chance_levels(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """The same mean of the last evaluation's chance levels.

        Arguments as :meth:`Evaluator.chance_levels`.

        Returns
        -------
        dict
            ``{name: chance}`` when the mean was computed.
        """
        if self.name not in metrics or self._chance is None:
            return {}
        return {self.name: self._chance}
