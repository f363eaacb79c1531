"""ZSTE: zero-shot temporal evaluation of CLAP models (Sinha et al. 2024).

Pairs (A, B) of single-event clips of different classes are synthesised into
"A before B", "B before A" and "A while B" and scored against prompts by
cosine similarity, in the five tasks of the authors' ``ZSTE/ZS1-5.py``
(:data:`TASK_DESCRIPTIONS`; the full table, chance levels and the task-4
distractor pool are in docs/teminal.md, "ZSTE"). On purpose unlike the
authors' scripts: every draw is seeded and results are mean ± std over
seeds; audio is synthesised deterministically (no random crop); pairs stay
inside one split; task-4 candidates are distinct and never repeat the
target; ties count as errors.

Run it with :meth:`ZSTE.run` on any CLAP module, as :class:`ZSTEEvaluator`
in a recipe's ``extra_evaluations``, or from
:mod:`speechbrain_tclap.evaluation.zste_cli`.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import math
import os
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.manifest import load_manifest
from speechbrain_tclap.data.temporal import (
    TemporalViewBuilder,
    make_pair_rows,
    single_label,
)
from speechbrain_tclap.data.zste_prompts import (
    DEFAULT_PROMPT,
    DEFAULT_SLOT_TEMPLATES,
    ZSTEPrompts,
)
from speechbrain_tclap.evaluation.base import Evaluator
from speechbrain_tclap.evaluation.seeds import mean_std
from speechbrain_tclap.windows import AudioEmbedder

logger = get_logger(__name__)

#: Metric names, in table order.
TASKS = ("zste1_acc", "zste2_acc", "zste3_acc", "zste4_acc", "zste5_acc", "zste5_paper_target_acc")
TASK_DESCRIPTIONS = {
    "zste1_acc": "1: single event, top-1 of K class prompts",
    "zste2_acc": "2: overlay, both classes in the top-2 of K",
    "zste3_acc": "3: order, top-1 of before / reversed / while",
    "zste4_acc": "4: 'A before B' top-1 among N pair captions",
    "zste5_acc": "5: slots {first A, second B} are the top-2 of 2K",
    "zste5_paper_target_acc": "5 (authors' target {first A, first B})",
}
DISTRACTORS = ("paper", "uniform")


@dataclass
class ZSTEItem:
    """One pair's questions for one seed.

    Arguments
    ---------
    pair : dict
        The pair row (``id``, ``a``, ``b``, ``labels``).
    first : int
        Class index of A.
    second : int
        Class index of B.
    task1_view : str
        ``"single_a"`` or ``"single_b"``.
    task3_view : str
        ``"main"`` or ``"reversed"``.
    task3_candidates : list of str
        "A before B", "B before A", "A while B" prompts.
    task3_target : int
        Index of the right one (0 or 1).
    task4_candidates : list of str
        Distinct prompts; the target ("A before B") first.

    Example
    -------
    >>> ZSTEItem({"id": "x"}, 0, 1, "single_a", "main", [], 0, []).task1_target
    0
    """

    pair: Dict[str, Any]
    first: int
    second: int
    task1_view: str
    task3_view: str
    task3_candidates: List[str]
    task3_target: int
    task4_candidates: List[str]

    @property
    def id(self) -> str:
        """Pair id."""
        return str(self.pair["id"])

    @property
    def task1_target(self) -> int:
        """Class index of the clip of task 1."""
        return self.first if self.task1_view == "single_a" else self.second

    def audio_views(self) -> List[str]:
        """The audio views this item's questions use."""
        return sorted({self.task1_view, "overlay", self.task3_view, "main"})


def top_set_correct(scores: torch.Tensor, targets: Sequence[int]) -> bool:
    """Whether ``targets`` are exactly the top ``len(targets)`` (ties are errors).

    Arguments
    ---------
    scores : torch.Tensor
        ``(N,)`` candidate scores.
    targets : sequence of int
        Distinct candidate indices.

    Returns
    -------
    bool
        ``min(scores[targets]) > max(scores[others])``.

    Example
    -------
    >>> top_set_correct(torch.tensor([0.9, 0.1, 0.8]), [0, 2])
    True
    >>> top_set_correct(torch.tensor([0.5, 0.5, 0.1]), [0])
    False
    """
    mask = torch.zeros(scores.shape[0], dtype=torch.bool)
    mask[list(targets)] = True
    if bool(mask.all()):
        return True
    return bool(scores[mask].min() > scores[~mask].max())


def zste_chance(num_classes: int, num_candidates: int) -> Dict[str, float]:
    """Chance levels of the ZSTE metrics.

    Arguments
    ---------
    num_classes : int
        K.
    num_candidates : int
        Candidates of task 4.

    Returns
    -------
    dict
        Metric -> expected accuracy of random embeddings.

    Example
    -------
    >>> c = zste_chance(50, 50)
    >>> round(c["zste1_acc"], 3), round(c["zste2_acc"], 5), round(c["zste5_acc"], 6)
    (0.02, 0.00082, 0.000202)
    """
    k = int(num_classes)
    slots = 1.0 / math.comb(2 * k, 2)
    return {
        "zste1_acc": 1.0 / k,
        "zste2_acc": 1.0 / math.comb(k, 2),
        "zste3_acc": 1.0 / 3.0,
        "zste4_acc": 1.0 / int(num_candidates),
        "zste5_acc": slots,
        "zste5_paper_target_acc": slots,
    }


@dataclass
class ZSTEResult:
    """Per-seed ZSTE metrics, their mean ± std, chance levels and settings.

    Arguments
    ---------
    per_seed : list of dict
        ``{"seed": s, "zste1_acc": ..., ...}`` for every seed.
    chance : dict
        Chance level of every metric.
    info : dict
        Settings and counts (classes, pairs per seed, window, ...).

    Example
    -------
    >>> r = ZSTEResult([{"seed": 0, "zste1_acc": 0.5}, {"seed": 1, "zste1_acc": 0.7}],
    ...                {"zste1_acc": 0.1}, {})
    >>> {k: round(v, 3) for k, v in r.metrics().items()}
    {'zste1_acc': 0.6, 'zste1_acc_std': 0.141}
    """

    per_seed: List[Dict[str, float]]
    chance: Dict[str, float]
    info: Dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> Dict[str, float]:
        """Mean over seeds of every metric, and its sample std (``<name>_std``).

        Returns
        -------
        dict
            Metric name -> value.
        """
        out = {}
        for name in TASKS:
            values = [row[name] for row in self.per_seed if name in row]
            if not values:
                continue
            out[name], out[f"{name}_std"] = mean_std(values)
        return out

    def to_markdown(self) -> str:
        """The results table (mean ± std over seeds beside chance).

        Returns
        -------
        str
            Markdown.
        """
        metrics = self.metrics()
        lines = [
            f"| ZSTE task | accuracy (mean ± std over {len(self.per_seed)} seed(s)) | chance |",
            "|---|---|---|",
        ]
        for name in TASKS:
            if name in metrics:
                lines.append(
                    f"| {TASK_DESCRIPTIONS[name]} | {metrics[name]:.4f} ± "
                    f"{metrics[name + '_std']:.4f} | {self.chance[name]:.4f} |"
                )
        notes = ", ".join(f"{k}: {v}" for k, v in self.info.items() if k != "classes")
        return "\n".join(lines) + f"\n\n{notes}\n"

    def to_json(self) -> Dict[str, Any]:
        """Everything as a JSON-serialisable dict.

        Returns
        -------
        dict
            ``metrics``, ``chance``, ``per_seed``, ``info``.
        """
        return {
            "metrics": self.metrics(),
            "chance": dict(self.chance),
            "per_seed": list(self.per_seed),
            "info": dict(self.info),
        }

    def save(self, folder: str, name: str = "zste") -> Tuple[str, str]:
        """Writes ``<name>.json`` and ``<name>.md`` in ``folder``.

        Arguments
        ---------
        folder : str
            Output folder (created).
        name : str
            File stem.

        Returns
        -------
        tuple
            The two paths.
        """
        os.makedirs(folder, exist_ok=True)
        json_path = os.path.join(folder, f"{name}.json")
        md_path = os.path.join(folder, f"{name}.md")
        with open(json_path, "w") as f:
            json.dump(self.to_json(), f, indent=2, sort_keys=True)
        with open(md_path, "w") as f:
            f.write(self.to_markdown())
        return json_path, md_path


class ZSTE(ZSTEPrompts):
    """The five ZSTE tasks over pairs drawn from one split's labelled clips.

    Arguments
    ---------
    pair_builder : TemporalViewBuilder
        Synthesises the views (segment length, gain, clip length, label
        names); rendered at evaluation, i.e. deterministically.
    num_pairs : int
        Pairs per seed (drawn with
        :func:`~speechbrain_tclap.data.temporal.make_pair_rows`).
    seeds : sequence of int
        Seeds; each draws its own pairs and choices.
    classes : sequence of str, optional
        Labels of tasks 1, 2 and 5, other clips left out (default: every
        label of the manifest's single-event clips).
    label_key : str, optional
        Field holding a clip's label (default: automatic).
    prompt_template : str
        Prompt of tasks 1-4 with ``{}``.
    before_template : str
        Ordered pair caption (``{A}`` first).
    while_template : str
        Overlay caption (names sorted).
    slot_templates : sequence of str
        The "first" and "second" prompts of task 5, with ``{}``.
    num_candidates : int
        Captions of task 4 (at most the number of distinct pair captions).
    distractors : str
        Task-4 distractors: ``"paper"`` (a pair and connective from a random
        ``subset_size``-class subset plus A and B, the authors' pool) or
        ``"uniform"`` (any ordered pair of distinct classes).
    subset_size : int
        Size of the paper's class subsets.

    Example
    -------
    >>> zste = ZSTE(TemporalViewBuilder(16000, 1.0), num_pairs=2, seeds=[0])
    >>> zste.order_prompt("dog", "sea_waves"), zste.while_prompt("sea_waves", "dog")
    ('this is a sound of dog before sea waves', 'this is a sound of dog while sea waves')
    >>> len(zste.prompts(["dog", "rain", "bell"]))  # 3 + 6 + 3 + 6
    18
    """

    def __init__(
        self,
        pair_builder: TemporalViewBuilder,
        num_pairs: int = 200,
        seeds: Sequence[int] = (0, 1, 2),
        classes: Optional[Sequence[str]] = None,
        label_key: Optional[str] = None,
        prompt_template: str = DEFAULT_PROMPT,
        before_template: str = "{A} before {B}",
        while_template: str = "{A} while {B}",
        slot_templates: Sequence[str] = DEFAULT_SLOT_TEMPLATES,
        num_candidates: int = 50,
        distractors: str = "paper",
        subset_size: int = 5,
    ):
        if not hasattr(pair_builder, "render"):
            raise TypeError(
                f"pair_builder must be a TemporalViewBuilder, got {type(pair_builder).__name__}"
            )
        if distractors not in DISTRACTORS:
            raise ValueError(f"distractors must be one of {DISTRACTORS}, got {distractors!r}")
        super().__init__(
            pair_builder, prompt_template, before_template, while_template, slot_templates
        )
        if not seeds:
            raise ValueError("ZSTE needs at least one seed")
        if int(num_candidates) < 2:
            raise ValueError("task 4 needs at least 2 candidates")
        self.num_pairs = int(num_pairs)
        self.seeds = [int(s) for s in seeds]
        self.classes = None if classes is None else [str(c) for c in classes]
        self.label_key = label_key
        self.num_candidates = int(num_candidates)
        self.distractors = distractors
        self.subset_size = int(subset_size)

    def single_rows(self, manifest: Union[str, Mapping[str, Any]]) -> Tuple[List[dict], List[str]]:
        """The single-event clips of a manifest and the class list.

        Arguments
        ---------
        manifest : str or mapping
            Manifest path (CSV / JSON with ``id``, ``wav`` and a label) or
            ``{id: row}``.

        Returns
        -------
        tuple
            ``(rows, classes)``.
        """
        source = manifest if isinstance(manifest, str) else "the given rows"
        if isinstance(manifest, str):
            manifest = load_manifest(manifest, required=("id", "wav"))
        rows, labels = [], set()
        for key, row in manifest.items():
            label = single_label(row, self.label_key)
            if label is None or (self.classes is not None and label not in self.classes):
                continue
            rows.append({**dict(row), "id": str(key)})
            labels.add(label)
        classes = list(self.classes) if self.classes is not None else sorted(labels)
        if len(classes) < 2 or len(labels) < 2:
            raise ValueError(
                f"ZSTE: {source} holds single-event clips of {len(labels)} class(es); "
                "pairs need at least 2"
            )
        return rows, classes

    def items(self, rows: Sequence[dict], classes: Sequence[str], seed: int) -> List[ZSTEItem]:
        """Draws the pairs and every random choice of one seed.

        Arguments
        ---------
        rows : sequence of dict
            Single-event clips (:meth:`single_rows`).
        classes : sequence of str
            Class labels.
        seed : int
            The seed.

        Returns
        -------
        list of ZSTEItem
            One item per pair.
        """
        pairs = make_pair_rows(rows, self.num_pairs, seed=seed, label_key=self.label_key)
        index = {label: i for i, label in enumerate(classes)}
        items = []
        for pair in pairs:
            a, b = pair["labels"]
            rng = random.Random(f"zste-{seed}-{pair['id']}")
            task1_view = "single_a" if rng.random() < 0.5 else "single_b"
            forward = rng.random() < 0.5
            task3 = [self.order_prompt(a, b), self.order_prompt(b, a), self.while_prompt(a, b)]
            items.append(
                ZSTEItem(
                    pair=pair,
                    first=index[a],
                    second=index[b],
                    task1_view=task1_view,
                    task3_view="main" if forward else "reversed",
                    task3_candidates=task3,
                    task3_target=0 if forward else 1,
                    task4_candidates=self.task4_candidates(a, b, classes, rng),
                )
            )
        return items

    def task4_candidates(
        self, a: str, b: str, classes: Sequence[str], rng: random.Random
    ) -> List[str]:
        """Target "A before B", then "A while B", then distinct distractors.

        Arguments
        ---------
        a : str
            Label of A.
        b : str
            Label of B.
        classes : sequence of str
            All class labels.
        rng : random.Random
            The item's generator.

        Returns
        -------
        list of str
            ``min(num_candidates, distinct pair captions)`` prompts.
        """
        k = len(classes)
        available = k * (k - 1) + k * (k - 1) // 2  # ordered "before" + unordered "while"
        wanted = min(self.num_candidates, available)
        chosen = [self.order_prompt(a, b), self.while_prompt(a, b)]
        seen = set(chosen)
        others = [c for c in classes if c not in (a, b)]

        def caption(x, y, connective):
            return self.order_prompt(x, y) if connective == "before" else self.while_prompt(x, y)

        attempts = 0
        while len(chosen) < wanted and attempts < 50 * wanted:
            attempts += 1
            if self.distractors == "paper":
                pool = rng.sample(others, min(self.subset_size, len(others))) + [a, b]
            else:
                pool = list(classes)
            x, y = rng.sample(pool, 2)
            text = caption(x, y, rng.choice(("before", "while")))
            if text not in seen:
                seen.add(text)
                chosen.append(text)
        if len(chosen) < wanted:
            # The biased pool rarely reaches some captions: fill from the rest.
            rest = sorted(
                {caption(x, y, c) for x in classes for y in classes if x != y
                 for c in ("before", "while")} - seen
            )
            rng.shuffle(rest)
            chosen += rest[: wanted - len(chosen)]
        return chosen

    def embed_items(
        self, embedder, items: Sequence[ZSTEItem], cache: Dict, batch_size: int = 16
    ) -> None:
        """Embeds every audio view the items use that ``cache`` lacks.

        Arguments
        ---------
        embedder : speechbrain_tclap.windows.AudioEmbedder
            Any object with ``encode_audio(wavs, wav_lens)``.
        items : sequence of ZSTEItem
            Items.
        cache : dict
            ``{(pair id, view): embedding}``, filled in place. Pairs whose
            audio cannot be read map to None.
        batch_size : int
            Views per forward pass.
        """
        wavs, lens, keys = [], [], []

        def flush():
            if wavs:
                emb = embedder.encode_audio(torch.stack(wavs), torch.tensor(lens)).float().cpu()
                cache.update(zip(keys, emb))
                wavs.clear(), lens.clear(), keys.clear()

        for item in items:
            views = [v for v in item.audio_views() if (item.id, v) not in cache]
            if not views:
                continue
            rendered = self.pair_builder.render(item.pair, False, views)
            if rendered is None:
                cache.update({(item.id, v): None for v in item.audio_views()})
                continue
            for view in views:
                wav, valid, _ = rendered.views[view]
                wavs.append(wav)
                lens.append(valid / wav.shape[0])
                keys.append((item.id, view))
            if len(wavs) >= batch_size:
                flush()
        flush()

    def score(
        self,
        items: Sequence[ZSTEItem],
        classes: Sequence[str],
        audio: Mapping[Tuple[str, str], Optional[torch.Tensor]],
        encode_text: Callable[[List[str]], torch.Tensor],
    ) -> Dict[str, float]:
        """Accuracy of every task over the items of one seed.

        Arguments
        ---------
        items : sequence of ZSTEItem
            Items of one seed.
        classes : sequence of str
            Class labels (their order is the items' class indices).
        audio : mapping
            ``{(pair id, view): (D,) embedding or None}``.
        encode_text : callable
            ``texts -> (N, D)`` normalised embeddings.

        Returns
        -------
        dict
            Metric -> accuracy, ``zste_pairs`` (scored items) and
            ``zste4_candidates`` (mean number of task-4 candidates).
        """
        k = len(classes)
        class_emb = encode_text([self.class_prompt(c) for c in classes])
        slot_emb = encode_text(
            [self.slot_prompt(s, c) for s in (0, 1) for c in classes]
        )
        hits = {name: 0 for name in TASKS}
        usable = [i for i in items if all(audio.get((i.id, v)) is not None for v in i.audio_views())]
        if len(usable) < len(items):
            logger.warning("ZSTE: %d pair(s) skipped (unreadable audio)", len(items) - len(usable))
        if not usable:
            raise ValueError("ZSTE: no pair could be scored (all audio unreadable)")
        for item in usable:
            a, b = item.first, item.second
            hits["zste1_acc"] += top_set_correct(
                class_emb @ audio[(item.id, item.task1_view)], [item.task1_target]
            )
            hits["zste2_acc"] += top_set_correct(class_emb @ audio[(item.id, "overlay")], [a, b])
            hits["zste3_acc"] += top_set_correct(
                encode_text(item.task3_candidates) @ audio[(item.id, item.task3_view)],
                [item.task3_target],
            )
            main = audio[(item.id, "main")]
            hits["zste4_acc"] += top_set_correct(encode_text(item.task4_candidates) @ main, [0])
            slots = slot_emb @ main
            hits["zste5_acc"] += top_set_correct(slots, [a, k + b])
            hits["zste5_paper_target_acc"] += top_set_correct(slots, [a, b])
        out = {name: count / len(usable) for name, count in hits.items()}
        out["zste_pairs"] = len(usable)
        out["zste4_candidates"] = sum(len(i.task4_candidates) for i in usable) / len(usable)
        return out

    @torch.no_grad()
    def run(
        self,
        model,
        manifest: Union[str, Mapping[str, Any]],
        window: str = "whole",
        batch_size: int = 16,
    ) -> ZSTEResult:
        """Every task for every seed.

        Arguments
        ---------
        model : speechbrain_tclap.lobes.clap.CLAP
            The model to evaluate (eval mode).
        manifest : str or mapping
            Labelled clips of one split (path or ``{id: row}``).
        window : str
            ``"whole"``: each view in one pass, as the paper (an error if the
            encoder cannot hold it); ``"sliding"``: the model's fixed windows.
        batch_size : int
            Audio views or texts per forward pass.

        Returns
        -------
        ZSTEResult
            Per-seed metrics, mean ± std, chance levels, settings.
        """
        if window not in ("whole", "sliding"):
            raise ValueError(f"window must be 'whole' or 'sliding', got {window!r}")
        embedder = AudioEmbedder(model, whole=window == "whole")
        rows, classes = self.single_rows(manifest)
        audio_cache: Dict = {}
        text_cache: Dict[str, torch.Tensor] = {}

        def encode_text(texts):
            missing = sorted({t for t in texts if t not in text_cache})
            if missing:
                for k in range(0, len(missing), batch_size):
                    chunk = missing[k : k + batch_size]
                    text_cache.update(zip(chunk, model.encode_text(chunk).float().cpu()))
            return torch.stack([text_cache[t] for t in texts])

        per_seed = []
        for seed in self.seeds:
            items = self.items(rows, classes, seed)
            self.embed_items(embedder, items, audio_cache, batch_size)
            per_seed.append({"seed": seed, **self.score(items, classes, audio_cache, encode_text)})
        _warn_identical(list(text_cache), torch.stack(list(text_cache.values())))
        candidates = per_seed[0]["zste4_candidates"]
        builder = self.pair_builder
        info = {
            "classes": list(classes),
            "num_classes": len(classes),
            "pairs_per_seed": self.num_pairs,
            "seeds": list(self.seeds),
            "task4_candidates": candidates,
            "task4_distractors": self.distractors,
            "segment_seconds": builder.segment_samples / builder.sample_rate,
            "view_seconds": builder.clip_samples / builder.sample_rate,
            "window": window,
            "prompt": self.prompt_template,
        }
        return ZSTEResult(per_seed, zste_chance(len(classes), round(candidates)), info)


def _warn_identical(texts: List[str], embeddings: torch.Tensor) -> int:
    """Logs and returns how many of ``texts`` share their ``(N, D)`` embedding.

    Such prompts (e.g. cut by the tokenizer) tie, and ties count as errors.

    Example
    -------
    >>> _warn_identical(["a", "b", "c"], torch.tensor([[1.0], [1.0], [0.0]]))
    2
    """
    same = (embeddings.unsqueeze(0) == embeddings.unsqueeze(1)).all(-1)
    same.fill_diagonal_(False)
    clashing = same.any(dim=1)
    count = int(clashing.sum())
    if count:
        i = int(clashing.nonzero()[0])
        j = int(same[i].nonzero()[0])
        logger.warning(
            "ZSTE: %d of %d prompts share their embedding with another one, e.g. "
            "%r and %r (cut by the tokenizer's length limit?); such prompts tie, "
            "and ties count as errors", count, len(texts), texts[i], texts[j],
        )
    return count


class ZSTEEvaluator(Evaluator):
    """ZSTE at the end of a recipe's validation or test stage (YAML).

    Metrics ``zste<task>_acc`` (mean over seeds) and ``..._std`` join the
    stage's statistics and ``results.json``; at the test stage the full
    table is also written to ``<output_folder>/zste.{json,md}``.

    Arguments
    ---------
    manifest : str
        Labelled clips of the split to probe (read when evaluating).
    zste : ZSTE
        The tasks and their settings.
    stages : sequence of str
        Stages to run at (``"VALID"``, ``"TEST"``).
    window : str
        ``"whole"`` or ``"sliding"`` (see :meth:`ZSTE.run`).
    output_folder : str, optional
        Where the test stage writes ``zste.json`` / ``zste.md``.

    Example
    -------
    >>> z = ZSTEEvaluator("test.json", ZSTE(TemporalViewBuilder(16000, 1.0)))
    >>> z.chance_levels({"zste_classes": 10, "zste4_candidates": 50})["zste3_acc"]
    0.3333333333333333
    """

    def __init__(
        self,
        manifest: str,
        zste: ZSTE,
        stages: Sequence[str] = ("TEST",),
        window: str = "whole",
        output_folder: Optional[str] = None,
    ):
        self.manifest = manifest
        self.zste = zste
        self.stages = tuple(stages)
        self.window = window
        self.output_folder = output_folder

    def prompts(self, labels: Sequence[str]) -> List[str]:
        """Every prompt of the tasks (for tokenizer training).

        Arguments
        ---------
        labels : sequence of str
            Class labels.

        Returns
        -------
        list of str
            Prompts.
        """
        return self.zste.prompts(labels)

    def evaluate(self, brain, stage) -> Dict[str, float]:
        """Runs ZSTE on the Brain's model.

        Arguments as :meth:`Evaluator.evaluate`.

        Returns
        -------
        dict
            Metrics.
        """
        if not os.path.isfile(self.manifest):
            raise FileNotFoundError(
                f"ZSTE manifest not found: {self.manifest} (extra_evaluations in the recipe YAML)"
            )
        result = self.zste.run(self.model(brain), self.manifest, self.window)
        if stage.name == "TEST" and self.output_folder:
            paths = result.save(self.output_folder)
            logger.info("ZSTE results: %s", ", ".join(paths))
        metrics = result.metrics()
        metrics["zste_classes"] = result.info["num_classes"]
        metrics["zste4_candidates"] = result.info["task4_candidates"]
        return metrics

    def chance_levels(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """Chance levels of the ZSTE metrics of this stage.

        Arguments as :meth:`Evaluator.chance_levels`.

        Returns
        -------
        dict
            Metric -> chance.
        """
        if "zste_classes" not in metrics:
            return {}
        return zste_chance(int(metrics["zste_classes"]), round(metrics["zste4_candidates"]))
