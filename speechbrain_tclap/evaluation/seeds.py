"""Mean ± std of test metrics over training seeds.

Every recipe writes its test metrics to ``<output_folder>/results.json`` (and
ZSTE to ``zste.json``) as ``{"metrics": {...}, "chance": {...}}``, and its
output folder ends in the seed (``results/<dataset>/<experiment>/<seed>``).
This module gathers one such file per seed folder of each experiment and
writes the table a paper reports: mean ± sample std over the seeds, with the
per-seed values and chance beside it.

Command line::

    python -m speechbrain_tclap.evaluation.seeds \\
        results/ESC50/clap results/ESC50/tclap \\
        --metrics zero_shot_acc tclassify_binary --output results/ESC50/seeds.md

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import json
import os
import statistics
from typing import Dict, List, Mapping, Optional, Sequence

PerSeed = Dict[int, Dict[str, float]]


def load_seed_metrics(experiment_folder: str, filename: str = "results.json") -> PerSeed:
    """Reads ``<experiment_folder>/<seed>/<filename>`` for every integer-named folder.

    Arguments
    ---------
    experiment_folder : str
        Folder whose sub-folders are named by seed.
    filename : str
        ``results.json`` (recipe test metrics) or ``zste.json`` (ZSTE).

    Returns
    -------
    dict
        ``{seed: metrics}`` sorted by seed.

    Raises
    ------
    FileNotFoundError
        When no seed folder holds the file (a run that did not finish has none).

    Example
    -------
    >>> tmp = getfixture("tmpdir")
    >>> for seed, acc in ((1, 0.5), (2, 0.7)):
    ...     _ = tmp.mkdir(str(seed)).join("results.json").write(
    ...         json.dumps({"metrics": {"acc": acc}, "chance": {"acc": 0.1}}))
    >>> load_seed_metrics(str(tmp))
    {1: {'acc': 0.5}, 2: {'acc': 0.7}}
    """
    return {seed: {k: float(v) for k, v in result["metrics"].items()}
            for seed, result in _seed_results(experiment_folder, filename).items()}


def _seed_results(experiment_folder: str, filename: str) -> Dict[int, dict]:
    """``{seed: parsed <experiment_folder>/<seed>/<filename>}``, sorted by seed."""
    results = {}
    if os.path.isdir(experiment_folder):
        for name in os.listdir(experiment_folder):
            path = os.path.join(experiment_folder, name, filename)
            if name.isdigit() and os.path.isfile(path):
                with open(path) as f:
                    results[int(name)] = json.load(f)
    if not results:
        raise FileNotFoundError(f"{experiment_folder}: no <seed>/{filename} (has the run finished?)")
    return dict(sorted(results.items()))


def load_chance(experiment_folder: str, filename: str = "results.json") -> Dict[str, float]:
    """Chance levels from the first seed folder holding ``filename``.

    Arguments
    ---------
    experiment_folder : str
        Folder whose sub-folders are named by seed.
    filename : str
        Results file name.

    Returns
    -------
    dict
        Metric -> chance (empty when the file has none).
    """
    first = next(iter(_seed_results(experiment_folder, filename).values()))
    return {k: float(v) for k, v in first.get("chance", {}).items()}


def mean_std(values: Sequence[float]):
    """Mean and sample standard deviation (0 for one value).

    Arguments
    ---------
    values : sequence of float
        Per-seed values.

    Returns
    -------
    tuple
        ``(mean, std)``.

    Example
    -------
    >>> [round(v, 4) for v in mean_std([0.5, 0.7])]
    [0.6, 0.1414]
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), std


def seeds_table(
    experiments: Mapping[str, PerSeed],
    metrics: Sequence[str],
    chance: Optional[Mapping[str, float]] = None,
    per_seed: bool = True,
    digits: int = 3,
) -> str:
    """Markdown table: one row per experiment, ``mean ± std`` per metric.

    A metric an experiment lacks prints as a dash; a row says how many seeds
    it averages, so unequal seed counts are visible.

    Arguments
    ---------
    experiments : mapping
        Row label -> ``{seed: metrics}``.
    metrics : sequence of str
        Columns.
    chance : mapping, optional
        Chance level per metric (a first row).
    per_seed : bool
        Append the per-seed values in brackets.
    digits : int
        Decimals.

    Returns
    -------
    str
        Markdown.

    Example
    -------
    >>> rows = {"tclap": {1: {"acc": 0.5}, 2: {"acc": 0.7}}}
    >>> print(seeds_table(rows, ["acc"], chance={"acc": 0.1}))
    | experiment | seeds | acc |
    |---|---|---|
    | chance | | 0.100 |
    | tclap | 1, 2 | 0.600 ± 0.141 (0.500 / 0.700) |
    """
    lines = [
        "| experiment | seeds | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    if chance:
        cells = [f"{chance[m]:.{digits}f}" if m in chance else "—" for m in metrics]
        lines.append("| chance | | " + " | ".join(cells) + " |")
    for label, runs in experiments.items():
        cells = []
        for metric in metrics:
            values = [run[metric] for run in runs.values() if metric in run]
            if not values:
                cells.append("—")
                continue
            mean, std = mean_std(values)
            cell = f"{mean:.{digits}f} ± {std:.{digits}f}"
            if per_seed and len(values) > 1:
                cell += " (" + " / ".join(f"{v:.{digits}f}" for v in values) + ")"
            cells.append(cell)
        seeds = ", ".join(str(s) for s in runs)
        lines.append(f"| {label} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Command line: print (and optionally write) the table of several experiments.

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv``).

    Returns
    -------
    str
        The markdown table.
    """
    parser = argparse.ArgumentParser(
        prog="speechbrain-tclap seeds",
        description="Mean ± std over training seeds of results.json / zste.json metrics",
    )
    parser.add_argument("experiments", nargs="+", help="folders holding <seed>/<file>")
    parser.add_argument("--metrics", nargs="+", required=True)
    parser.add_argument("--file", default="results.json", help="results.json or zste.json")
    parser.add_argument("--labels", nargs="+", default=None, help="row labels (default: folder names)")
    parser.add_argument("--no_per_seed", action="store_true", help="omit per-seed values")
    parser.add_argument("--digits", type=int, default=3)
    parser.add_argument("--output", default=None, help="also write the table here")
    args = parser.parse_args(argv)
    labels: List[str] = args.labels or [os.path.basename(os.path.normpath(e)) for e in args.experiments]
    if len(labels) != len(args.experiments):
        parser.error("give one label per experiment")
    rows = {label: load_seed_metrics(e, args.file) for label, e in zip(labels, args.experiments)}
    table = seeds_table(
        rows,
        args.metrics,
        chance=load_chance(args.experiments[0], args.file),
        per_seed=not args.no_per_seed,
        digits=args.digits,
    )
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as f:
            f.write(table + "\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
