"""Zero-shot benchmark harness (MS-CLAP 2023's evaluation protocol).

One command evaluates any model the :class:`speechbrain_tclap.inference.CLAP`
interface loads on every registered task whose data is present::

    python -m speechbrain_tclap.benchmark --model <pretrained folder> \\
        --data-root <folder with one sub-folder per dataset> --output <folder> \\
        [--tasks esc50 fsdd ...] [--templates-sweep]

* :mod:`~speechbrain_tclap.benchmark.registry`: the tasks (dataset folder
  names, preparation, prompts and template, metric, softmax/sigmoid rule);
* :mod:`~speechbrain_tclap.benchmark.datasets`: preparations of the
  datasets' standard layouts (idempotent JSON manifests);
* :mod:`~speechbrain_tclap.benchmark.runner`: batched, cached embeddings,
  metrics with chance levels, ``results.md`` / ``results.csv``.

The task table is in ``docs/benchmark.md``.

Authors
 * speechbrain-tclap developers 2026
"""

from speechbrain_tclap.benchmark.registry import (
    SWEEP_TEMPLATES,
    TASKS,
    BenchmarkTask,
    get_task,
    register_task,
)
from speechbrain_tclap.benchmark.runner import (
    ClipEmbeddingCache,
    PromptEmbedder,
    TaskResult,
    run_benchmark,
    write_results,
)

__all__ = [
    "SWEEP_TEMPLATES",
    "TASKS",
    "ClipEmbeddingCache",
    "BenchmarkTask",
    "PromptEmbedder",
    "TaskResult",
    "get_task",
    "register_task",
    "run_benchmark",
    "write_results",
]
