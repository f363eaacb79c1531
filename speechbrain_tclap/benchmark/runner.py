"""Runs the zero-shot benchmark on a model and writes the results tables.

For every selected task whose dataset is under the data root: prepare the
manifest, embed the clips (resampled to the model rate, long files in the
interface's sliding windows, unreadable files skipped and counted) and the
prompts (cached across tasks and templates), score with the paper's rule and
report the metric beside its chance level; absent datasets are skipped.
Results: ``results.md`` (like MS-CLAP 2023's Table 2), ``results.csv``,
``results.json``, and ``templates.md`` / ``.csv`` with a template sweep.
Deterministic: a clip's embedding does not depend on its batch.

Authors
 * speechbrain-tclap developers 2026
"""

import csv
import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from speechbrain.utils.logger import get_logger
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from speechbrain_tclap.benchmark.registry import SWEEP_TEMPLATES, TASKS, BenchmarkTask, get_task
from speechbrain_tclap.data.audio import AudioReadError, read_audio
from speechbrain_tclap.data.batching import caption_key
from speechbrain_tclap.data.manifest import ManifestError, load_manifest
from speechbrain_tclap.metrics import (
    macro_f1,
    mean_average_precision,
    mean_average_precision_chance,
    positives_from_caption_keys,
    retrieval_chance_with_positives,
    retrieval_metrics_with_positives,
    zero_shot_accuracy,
    zero_shot_classify,
)

logger = get_logger(__name__)


@dataclass
class TaskResult:
    """What one task gave.

    Arguments
    ---------
    task : str
        Task name.
    dataset : str
        Dataset name.
    status : str
        ``"ok"``, ``"absent"`` (no data) or ``"error"`` (data unusable).
    message : str
        Why a task was skipped or failed.
    metrics : dict
        Metric -> value (default template).
    chance : dict
        Metric -> chance level.
    clips : int
        Clips evaluated.
    skipped : int
        Files that could not be read.
    classes : int
        Classes (classification) or captions (retrieval).
    template : str
        Prompt template of ``metrics``.
    sweep : dict
        Template -> primary metric (with a template sweep).

    Example
    -------
    >>> TaskResult("esc50", "ESC-50", "absent", "no ESC-50 folder").status
    'absent'
    """

    task: str
    dataset: str
    status: str
    message: str = ""
    metrics: Dict[str, float] = field(default_factory=dict)
    chance: Dict[str, float] = field(default_factory=dict)
    clips: int = 0
    skipped: int = 0
    classes: int = 0
    template: str = ""
    sweep: Dict[str, float] = field(default_factory=dict)


class PromptEmbedder:
    """Text embeddings of prompts, computed in batches and cached by text.

    Arguments
    ---------
    model : object
        Anything with ``encode_text(list of str) -> (N, D)`` (the interface).
    batch_size : int
        Texts per forward pass.

    Example
    -------
    >>> calls = []
    >>> class Model:
    ...     def encode_text(self, texts):
    ...         calls.append(len(texts))
    ...         return torch.ones(len(texts), 2)
    >>> embed = PromptEmbedder(Model(), batch_size=2)
    >>> embed(["a", "b", "c"]).shape, embed(["c", "a"]).shape, calls
    (torch.Size([3, 2]), torch.Size([2, 2]), [2, 1])
    """

    def __init__(self, model, batch_size: int = 256):
        self.model = model
        self.batch_size = int(batch_size)
        self.cache: Dict[str, torch.Tensor] = {}

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """Embeddings of ``texts`` (``(N, D)``, float32, CPU).

        Arguments
        ---------
        texts : sequence of str
            Prompts or captions.

        Returns
        -------
        torch.Tensor
            One row per text.
        """
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            embeddings = self.model.encode_text(chunk).float().cpu()
            self.cache.update(zip(chunk, embeddings))
        return torch.stack([self.cache[t] for t in texts])


class _AudioFiles(Dataset):
    """Reads files at the model rate; an unreadable file gives its problem."""

    def __init__(self, paths: Sequence[str], sample_rate: int):
        self.paths = list(paths)
        self.sample_rate = sample_rate

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            return index, read_audio(self.paths[index], self.sample_rate, resample=True), None
        except AudioReadError as err:
            return index, None, str(err)


class ClipEmbeddingCache:
    """Audio embeddings of files, in batches, cached by path; unreadable files skipped.

    Files are read whole at the model rate by ``num_workers`` processes and
    embedded by ``encode_audio`` (long clips in deterministic sliding windows).

    Arguments
    ---------
    model : speechbrain_tclap.inference.CLAP
        The interface (``encode_audio(wavs, batch_size=...)``, ``sample_rate``).
    batch_size : int
        Files per batch.
    num_workers : int
        Processes reading files.
    progress : bool
        Show a progress bar.

    Example
    -------
    >>> import numpy, soundfile
    >>> tmp = str(getfixture("tmpdir"))
    >>> soundfile.write(tmp + "/a.wav", numpy.zeros(800), 8000)
    >>> class Model:
    ...     sample_rate = 8000
    ...     def encode_audio(self, wavs, batch_size, progress):
    ...         return torch.ones(len(wavs), 2)
    >>> embed = ClipEmbeddingCache(Model(), progress=False)
    >>> emb, kept, problems = embed([tmp + "/a.wav", tmp + "/missing.wav"])
    >>> emb.shape, kept, len(problems)
    (torch.Size([1, 2]), [0], 1)
    """

    def __init__(self, model, batch_size: int = 16, num_workers: int = 0, progress: bool = True):
        self.model = model
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.progress = progress
        self.cache: Dict[str, torch.Tensor] = {}
        self.problems: Dict[str, str] = {}

    def __call__(self, paths: Sequence[str], desc: str = "audio"):
        """Embeddings of the readable files among ``paths``.

        Arguments
        ---------
        paths : sequence of str
            Audio files.
        desc : str
            Progress bar label.

        Returns
        -------
        tuple
            ``(embeddings (M, D), kept indices into paths, problems)``.
        """
        todo = [p for p in dict.fromkeys(paths) if p not in self.cache and p not in self.problems]
        if todo:
            loader = DataLoader(
                _AudioFiles(todo, int(self.model.sample_rate)),
                batch_size=self.batch_size,
                num_workers=self.num_workers,
                collate_fn=list,
            )
            for batch in tqdm(loader, desc=desc, disable=not self.progress, leave=False):
                for index, _, problem in batch:
                    if problem is not None:
                        self.problems[todo[index]] = problem
                read = [(index, wav) for index, wav, _ in batch if wav is not None]
                if not read:
                    continue
                wavs = [w for _, w in read]
                embeddings = self.model.encode_audio(wavs, batch_size=len(wavs), progress=False)
                self.cache.update((todo[i], e) for (i, _), e in zip(read, embeddings.float().cpu()))
        kept = [i for i, p in enumerate(paths) if p in self.cache]
        problems = [self.problems[p] for p in paths if p in self.problems]
        if not kept:
            return torch.zeros(0, 0), kept, problems
        return torch.stack([self.cache[paths[i]] for i in kept]), kept, problems


def _random_f1(prior: torch.Tensor, guess: torch.Tensor) -> float:
    """Macro F1 of guesses independent of the truth: ``2 p q / (p + q)`` per class."""
    return float((2 * prior * guess / (prior + guess)).mean())


def classification_metrics(
    task: BenchmarkTask, scores: torch.Tensor, targets: torch.Tensor
) -> Tuple[Dict[str, float], Dict[str, float]]:
    """The task's metric and its chance level.

    Arguments
    ---------
    task : BenchmarkTask
        The task (kind, metric, threshold).
    scores : torch.Tensor
        ``(N, K)`` softmax or sigmoid scores.
    targets : torch.Tensor
        ``(N, K)`` multi-hot truth.

    Returns
    -------
    tuple of dict
        ``({metric: value}, {metric: chance})``.

    Example
    -------
    >>> task = get_task("esc50")
    >>> scores = torch.tensor([[0.9, 0.1], [0.6, 0.4]])
    >>> classification_metrics(task, scores, torch.tensor([[1, 0], [0, 1]]))
    ({'acc': 0.5}, {'acc': 0.5})
    """
    num_classes = targets.shape[1]
    prior = targets.float().mean(dim=0)
    present = prior > 0
    if task.metric == "acc":
        value = zero_shot_accuracy(scores, targets.argmax(dim=1))["acc@1"]
        chance = 1.0 / num_classes
    elif task.metric == "mAP":
        value = mean_average_precision(scores, targets)
        chance = mean_average_precision_chance(targets)
    elif task.kind == "single_label":
        value = macro_f1(scores, targets.argmax(dim=1), num_classes=num_classes)
        # uniform guesses: precision = prior, recall = 1/K
        chance = _random_f1(prior[present], torch.full_like(prior[present], 1.0 / num_classes))
    else:
        value = macro_f1(scores, targets, threshold=task.threshold)
        chance = _random_f1(prior[present], torch.full_like(prior[present], 0.5))
    return {task.metric: value}, {task.metric: chance}


def _embed_clips(task: BenchmarkTask, rows: Mapping[str, Mapping[str, Any]], audio: "ClipEmbeddingCache"):
    """Embed a manifest's clips, shortest first (less padding).

    Returns ``(ids, embeddings, kept positions, TaskResult with the counts)``.
    """
    ids = sorted(rows, key=lambda k: (float(rows[k].get("duration", 0.0)), k))
    embeddings, kept, problems = audio([rows[k]["wav"] for k in ids], desc=task.name)
    result = TaskResult(task.name, task.dataset, "ok", clips=len(kept), skipped=len(problems))
    if problems:
        logger.warning(
            "%s: skipped %d unreadable file(s), e.g. %s", task.name, len(problems), problems[0]
        )
    if not kept:
        result.status, result.message = "error", "no readable clip"
    return ids, embeddings, kept, result


def evaluate_classification(
    task: BenchmarkTask,
    rows: Mapping[str, Mapping[str, Any]],
    audio: ClipEmbeddingCache,
    prompts: PromptEmbedder,
    logit_scale: float,
    templates: Sequence[str],
) -> TaskResult:
    """Zero-shot classification of a manifest's clips with each template.

    Arguments
    ---------
    task : BenchmarkTask
        The task.
    rows : mapping
        Manifest rows (``wav``, ``labels``).
    audio : ClipEmbeddingCache
        Clip embeddings.
    prompts : PromptEmbedder
        Prompt embeddings.
    logit_scale : float
        The model's logit scale (calibration of softmax / sigmoid).
    templates : sequence of str
        The first is the reported one; all go to ``sweep``.

    Returns
    -------
    TaskResult
        The result.
    """
    classes = sorted({label for row in rows.values() for label in row["labels"]})
    if task.kind == "single_label":
        several = [k for k in rows if len(rows[k]["labels"]) != 1]
        if several:
            raise ValueError(
                f"{task.name}: single-label task, but clip {several[0]!r} has "
                f"{len(rows[several[0]]['labels'])} labels"
            )
    ids, embeddings, kept, result = _embed_clips(task, rows, audio)
    result.classes, result.template = len(classes), templates[0]
    if not kept:
        return result
    targets = torch.zeros(len(kept), len(classes), dtype=torch.long)
    for row_index, i in enumerate(kept):
        for label in rows[ids[i]]["labels"]:
            targets[row_index, classes.index(label)] = 1
    for template in templates:
        scores = zero_shot_classify(
            embeddings,
            prompts(task.prompts(classes, template)),
            logit_scale=logit_scale,
            multi_label=task.kind == "multi_label",
        )
        metrics, chance = classification_metrics(task, scores, targets)
        if template == templates[0]:
            result.metrics, result.chance = metrics, chance
        result.sweep[template] = metrics[task.metric]
    return result


def evaluate_retrieval(
    task: BenchmarkTask,
    rows: Mapping[str, Mapping[str, Any]],
    audio: ClipEmbeddingCache,
    prompts: PromptEmbedder,
) -> TaskResult:
    """Audio→text and text→audio retrieval: R@1 and mAP@10 on raw similarities.

    A caption is a hit for every clip with an identical caption (as in the recipes).

    Arguments
    ---------
    task : BenchmarkTask
        The task.
    rows : mapping
        Manifest rows (``wav``, ``captions``).
    audio : ClipEmbeddingCache
        Clip embeddings.
    prompts : PromptEmbedder
        Caption embeddings.

    Returns
    -------
    TaskResult
        The result.
    """
    ids, embeddings, kept, result = _embed_clips(task, rows, audio)
    if not kept:
        return result
    captions = [rows[ids[i]].get("captions") or [rows[ids[i]]["caption"]] for i in kept]
    texts = [c for clip in captions for c in clip]
    positives = positives_from_caption_keys(
        [[caption_key(c) for c in clip] for clip in captions], [caption_key(t) for t in texts]
    )
    found = retrieval_metrics_with_positives(embeddings @ prompts(texts).T, positives)
    chance = retrieval_chance_with_positives(positives)
    result.metrics = {m: found[m] for m in task.metrics}
    result.chance = {m: chance[m] for m in task.metrics}
    result.classes = len(texts)
    return result


def dataset_folder(task: BenchmarkTask, data_root: str) -> Optional[str]:
    """The first of the task's folders that exists under ``data_root``.

    Arguments
    ---------
    task : BenchmarkTask
        The task.
    data_root : str
        Folder with one sub-folder per dataset.

    Returns
    -------
    str or None
        The dataset folder.
    """
    paths = (os.path.join(data_root, name) for name in task.folders)
    return next((path for path in paths if os.path.isdir(path)), None)


def run_benchmark(
    model,
    data_root: str,
    output: str,
    tasks: Optional[Sequence[str]] = None,
    templates_sweep: bool = False,
    batch_size: int = 16,
    num_workers: int = 0,
    progress: bool = True,
    options: Optional[Mapping[str, Mapping[str, Any]]] = None,
    model_name: str = "",
) -> List[TaskResult]:
    """Evaluate ``model`` on every selected task whose data is present.

    Arguments
    ---------
    model : speechbrain_tclap.inference.CLAP
        The loaded interface.
    data_root : str
        Folder with one sub-folder per dataset (names: ``--list``).
    output : str
        Results folder (manifests are prepared in ``<output>/manifests``).
    tasks : sequence of str, optional
        Task names (default: all registered tasks).
    templates_sweep : bool
        Also score every classification task with :data:`SWEEP_TEMPLATES`.
    batch_size : int
        Audio files per batch.
    num_workers : int
        Processes reading audio.
    progress : bool
        Progress bars.
    options : mapping, optional
        ``{task: {prepare option: value}}``, e.g. ``{"esc10": {"folds": [4]}}``.
    model_name : str
        Shown in the tables.

    Returns
    -------
    list of TaskResult
        One per selected task (absent and failed ones included).
    """
    names = list(tasks) if tasks else list(TASKS)
    selected = [get_task(name) for name in names]
    options = dict(options or {})
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise KeyError(f"options given for tasks that are not run: {unknown}")
    os.makedirs(output, exist_ok=True)
    audio = ClipEmbeddingCache(model, batch_size, num_workers, progress)
    prompts = PromptEmbedder(model)
    logit_scale = float(model.model.logit_scale())
    results = []
    for task in selected:
        folder = dataset_folder(task, data_root)
        if folder is None:
            message = f"no {' / '.join(task.folders)} folder under {data_root}"
            logger.info("skipping %s: %s", task.name, message)
            results.append(TaskResult(task.name, task.dataset, "absent", message))
            continue
        try:
            kwargs = {**task.options, **options.get(task.name, {})}
            manifest = task.prepare(folder, os.path.join(output, "manifests", task.name), **kwargs)
            rows = load_manifest(manifest, required=("id", "wav"))
        except (OSError, ImportError, ManifestError, ValueError) as err:
            logger.error("%s: cannot prepare %s: %s", task.name, folder, err)
            results.append(TaskResult(task.name, task.dataset, "error", str(err)))
            continue
        logger.info("%s: %d clips from %s", task.name, len(rows), folder)
        if task.kind == "retrieval":
            result = evaluate_retrieval(task, rows, audio, prompts)
        else:
            templates = [task.template]
            if templates_sweep:
                templates += [t for t in SWEEP_TEMPLATES if t != task.template]
            result = evaluate_classification(task, rows, audio, prompts, logit_scale, templates)
        logger.info("%s: %s", task.name, result.metrics)
        results.append(result)
    write_results(results, output, model_name=model_name, data_root=data_root)
    return results


CSV_COLUMNS = (
    "task", "dataset", "metric", "rule", "value", "chance", "ms_clap_2023",
    "clips", "skipped_files", "template", "status", "message",
)  # fmt: skip


def _fmt(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.4f}"


def result_rows(results: Sequence[TaskResult]) -> List[Dict[str, Any]]:
    """One CSV row per task and metric (absent and failed tasks: one row).

    Arguments
    ---------
    results : sequence of TaskResult
        Results.

    Returns
    -------
    list of dict
        Rows with :data:`CSV_COLUMNS`.
    """
    rows = []
    for result in results:
        task = get_task(result.task)
        for metric in task.metrics if result.status == "ok" else task.metrics[:1]:
            rows.append(
                {
                    "task": result.task,
                    "dataset": result.dataset,
                    "metric": metric,
                    "rule": task.activation,
                    "value": result.metrics.get(metric, ""),
                    "chance": result.chance.get(metric, ""),
                    "ms_clap_2023": task.paper.get(metric, ""),
                    "clips": result.clips if result.status == "ok" else "",
                    "skipped_files": result.skipped if result.status == "ok" else "",
                    "template": result.template,
                    "status": result.status,
                    "message": result.message,
                }
            )
    return rows


def markdown_table(results: Sequence[TaskResult], model_name: str = "", data_root: str = "") -> str:
    """The results as a markdown table like MS-CLAP 2023's Table 2.

    Retrieval tasks take two rows (A→T and T→A) with ``R@1 / mAP@10``.

    Arguments
    ---------
    results : sequence of TaskResult
        Results.
    model_name : str
        Shown above the table.
    data_root : str
        Shown above the table.

    Returns
    -------
    str
        Markdown.

    Example
    -------
    >>> ok = TaskResult("esc50", "ESC-50", "ok", metrics={"acc": 0.5},
    ...                 chance={"acc": 0.02}, clips=40, template="{}")
    >>> print(markdown_table([ok, TaskResult("us8k", "UrbanSound8K", "absent", "no folder")]))
    # Zero-shot benchmark
    ...
    | esc50 | ESC-50 | acc | softmax | 0.5000 | 0.0200 | 0.9390 | 40 | 0 | `{}` |
    <BLANKLINE>
    Mean of the classification metrics over 1 task(s): 0.5000.
    <BLANKLINE>
    Not evaluated:
    <BLANKLINE>
    - us8k (UrbanSound8K): absent: no folder
    """
    sweep = any(r.sweep and len(r.sweep) > 1 for r in results)
    header = ["Task", "Dataset", "Metric", "Rule", "Value", "Chance", "MS-CLAP 2023", "Clips", "Skipped files", "Template"]
    if sweep:
        header.append("Best template (value)")
    lines = [
        "# Zero-shot benchmark",
        "",
        f"Model: `{model_name}`. Data: `{data_root}`. Chance: uniform random "
        "scores; MS-CLAP 2023: the paper's Table 2 (its data, not ours).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    done = [r for r in results if r.status == "ok"]
    for result in done:
        task = get_task(result.task)
        if task.kind == "retrieval":
            for direction, label in (("a2t", "A→T"), ("t2a", "T→A")):
                keys = (f"{direction}_R@1", f"{direction}_mAP@10")
                cells = [
                    f"{result.task} {label}", result.dataset, "R@1 / mAP@10", task.activation,
                    " / ".join(_fmt(result.metrics[k]) for k in keys),
                    " / ".join(_fmt(result.chance[k]) for k in keys),
                    " / ".join(_fmt(task.paper.get(k)) for k in keys),
                    str(result.clips), str(result.skipped), "captions",
                ]
                lines.append("| " + " | ".join(cells + ([""] if sweep else [])) + " |")
            continue
        metric = task.metric
        cells = [
            result.task, result.dataset, metric, task.activation,
            _fmt(result.metrics[metric]), _fmt(result.chance[metric]),
            _fmt(task.paper.get(metric)), str(result.clips), str(result.skipped),
            f"`{result.template}`",
        ]
        if sweep:
            best = max(result.sweep, key=lambda t: (result.sweep[t], t == result.template))
            cells.append(f"`{best}` ({_fmt(result.sweep[best])})")
        lines.append("| " + " | ".join(cells) + " |")
    classification = [r for r in done if get_task(r.task).kind != "retrieval"]
    if classification:
        mean = sum(r.metrics[get_task(r.task).metric] for r in classification) / len(classification)
        lines += ["", f"Mean of the classification metrics over {len(classification)} task(s): {_fmt(mean)}."]
    skipped = [r for r in results if r.status != "ok"]
    if skipped:
        lines += ["", "Not evaluated:", ""]
        lines += [f"- {r.task} ({r.dataset}): {r.status}: {r.message}" for r in skipped]
    return "\n".join(lines)


def write_results(
    results: Sequence[TaskResult], output: str, model_name: str = "", data_root: str = ""
) -> Dict[str, str]:
    """Write ``results.md``, ``results.csv``, ``results.json`` (and the sweep).

    Arguments
    ---------
    results : sequence of TaskResult
        Results.
    output : str
        Folder.
    model_name : str
        Shown in the markdown.
    data_root : str
        Shown in the markdown.

    Returns
    -------
    dict
        ``{kind: path}`` of the files written.
    """
    os.makedirs(output, exist_ok=True)
    kinds = ("md", "csv", "json")
    paths = {kind: os.path.join(output, f"results.{kind}") for kind in kinds}
    with open(paths["md"], "w", encoding="utf-8") as f:
        f.write(markdown_table(results, model_name, data_root) + "\n")
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(result_rows(results))
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump([asdict(r) for r in results], f, indent=2, ensure_ascii=False)
        f.write("\n")
    swept = [r for r in results if len(r.sweep) > 1]
    if swept:
        paths["templates_csv"] = os.path.join(output, "templates.csv")
        paths["templates_md"] = os.path.join(output, "templates.md")
        rows = [
            {"task": r.task, "metric": get_task(r.task).metric, "template": t, "value": v}
            for r in swept
            for t, v in r.sweep.items()
        ]
        with open(paths["templates_csv"], "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=["task", "metric", "template", "value"])
            writer.writeheader()
            writer.writerows(rows)
        lines = ["| Task | Metric | Template | Value |", "|---|---|---|---|"]
        lines += [f"| {r['task']} | {r['metric']} | `{r['template']}` | {_fmt(r['value'])} |" for r in rows]
        with open(paths["templates_md"], "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return paths
