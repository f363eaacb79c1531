"""Zero-shot benchmark harness (MS-CLAP 2023's evaluation protocol).

One command evaluates any model the :class:`speechbrain_tclap.inference.CLAP`
interface loads on every registered task whose data is present::

    speechbrain-tclap benchmark --model <pretrained folder> \\
        --data_root <folder with one sub-folder per dataset> --output_folder <folder> \\
        [--tasks esc50 fsdd ...] [--templates_sweep]

The tasks are in :mod:`~speechbrain_tclap.benchmark.registry` (table in
``docs/benchmark.md``), the dataset preparations in
:mod:`~speechbrain_tclap.benchmark.datasets`, the evaluation and results
tables in :mod:`~speechbrain_tclap.benchmark.runner`.

Authors
 * speechbrain-tclap developers 2026
"""

#: Public names -> their module, imported on first use (``--help`` needs no torch).
_LAZY = {
    **dict.fromkeys(
        ("SWEEP_TEMPLATES", "TASKS", "BenchmarkTask", "get_task", "register_task"), "registry"
    ),
    **dict.fromkeys(
        ("ClipEmbeddingCache", "PromptEmbedder", "TaskResult", "run_benchmark", "write_results"),
        "runner",
    ),
}


def __getattr__(name):
    """A public name of :mod:`.registry` or :mod:`.runner`, imported on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


__all__ = list(_LAZY)
