"""Command line of the zero-shot benchmark.

    speechbrain-tclap benchmark --model <name or pretrained folder> \\
        --data_root <folder with one sub-folder per dataset> --output_folder <folder> \\
        [--tasks esc10 fsdd] [--templates_sweep] [--option esc10.folds=[4]]
    speechbrain-tclap benchmark --list

(or ``python -m speechbrain_tclap.benchmark``; dashed spellings such as
``--data-root`` and ``--output`` are also read).

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import ast
import logging
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from speechbrain_tclap.evaluation.cli import add_model_arguments, load_model, underscore_flags


def parse_options(items: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """``task.key=value`` strings into ``{task: {key: value}}``.

    Values are Python literals when they parse as one (``[4]``, ``True``,
    ``3``), else strings.

    Arguments
    ---------
    items : sequence of str
        The ``--option`` values.

    Returns
    -------
    dict
        Options per task.

    Example
    -------
    >>> parse_options(["esc10.folds=[4]", "fsdd.split=all"])
    {'esc10': {'folds': [4]}, 'fsdd': {'split': 'all'}}
    """
    options: Dict[str, Dict[str, Any]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        task, dot, key = name.partition(".")
        if not sep or not dot or not task or not key:
            raise ValueError(f"--option {item!r}: expected TASK.KEY=VALUE")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        options.setdefault(task, {})[key] = parsed
    return options


def task_table() -> str:
    """The registered tasks as a markdown table (``--list``).

    Returns
    -------
    str
        Markdown.

    Example
    -------
    >>> print(task_table().splitlines()[2])
    | esc50 | ESC-50 | ESC-50, ESC-50-master, esc50 | meta/esc50.csv, audio/*.wav | acc | softmax | `This is a sound of {}.` |
    """
    from speechbrain_tclap.benchmark.registry import TASKS

    lines = [
        "| Task | Dataset | Folder under --data_root | Layout | Metric | Rule | Template |",
        "|---|---|---|---|---|---|---|",
    ]
    for task in TASKS.values():
        metric = "R@1, mAP@10 (A→T, T→A)" if task.kind == "retrieval" else task.metric
        template = "captions" if task.kind == "retrieval" else f"`{task.template}`"
        layout = task.layout.replace("|", "\\|")  # a pipe would split the cell
        lines.append(
            f"| {task.name} | {task.dataset} | {', '.join(task.folders)} | {layout} "
            f"| {metric} | {task.activation} | {template} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser.

    Returns
    -------
    argparse.ArgumentParser
        The parser.
    """
    parser = argparse.ArgumentParser(
        prog="speechbrain-tclap benchmark",
        description="Zero-shot benchmark of a CLAP model (MS-CLAP 2023 protocol).",
    )
    add_model_arguments(parser, required=False)
    parser.add_argument("--hparams_file", default="hyperparams.yaml", help="interface file in --model")
    parser.add_argument("--data_root", help="folder with one sub-folder per dataset")
    parser.add_argument("--output_folder", help="results folder")
    parser.add_argument("--output", dest="output_folder", help=argparse.SUPPRESS)  # old spelling
    parser.add_argument("--tasks", nargs="+", help="task names (default: all); see --list")
    parser.add_argument("--templates_sweep", action="store_true", help="score every prompt template")
    parser.add_argument("--batch_size", type=int, default=16, help="audio files per batch")
    parser.add_argument("--num_workers", type=int, default=0, help="processes reading audio")
    parser.add_argument("--option", action="append", default=[], metavar="TASK.KEY=VALUE",
                        help="preparation option of a task, e.g. esc10.folds=[4]")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    parser.add_argument("--list", action="store_true", help="print the task table and exit")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark from the command line.

    Arguments
    ---------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 when at least one task was evaluated, else 1.
    """
    parser = build_parser()
    args = parser.parse_args(underscore_flags(sys.argv[1:] if argv is None else argv))
    if args.list:
        print(task_table())
        return 0
    missing = [f"--{n}" for n in ("model", "data_root", "output_folder") if getattr(args, n) is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    if not os.path.isdir(args.data_root):
        parser.error(f"--data_root {args.data_root}: not a folder")
    from speechbrain_tclap.benchmark.registry import TASKS
    from speechbrain_tclap.benchmark.runner import run_benchmark

    unknown = [name for name in args.tasks or [] if name not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; see --list")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.hparams_file != "hyperparams.yaml":
        args.model = os.path.join(args.model, args.hparams_file)
    model = load_model(args)
    results = run_benchmark(
        model,
        args.data_root,
        args.output_folder,
        tasks=args.tasks,
        templates_sweep=args.templates_sweep,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        progress=not args.no_progress,
        options=parse_options(args.option),
        model_name=args.model,
    )
    with open(os.path.join(args.output_folder, "results.md"), encoding="utf-8") as f:
        print(f.read())
    evaluated = [r for r in results if r.status == "ok"]
    if not evaluated:
        print("no task was evaluated (no dataset found under --data_root)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
