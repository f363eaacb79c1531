"""Multi-task pretraining of an audio encoder (MS-CLAP 2023's "HTSAT-22" path).

MS-CLAP 2023 pretrains its audio encoder on many labelled audio tasks before
contrastive training. This package does the same inside SpeechBrain's
trainer, for any list of tasks:

* :mod:`~speechbrain_tclap.multitask.tasks`: :class:`TaskSpec` (one labelled
  dataset: single-label, multi-label or regression), :class:`TaskHead`,
  :class:`MultiTaskModel` (a shared front end and encoder, one head per task),
  the per-task losses and validation metrics;
* :mod:`~speechbrain_tclap.multitask.data`: samples, batches of one task
  each, and :class:`TaskBatchSampler` (seeded, resumable task sampling with
  weights from YAML);
* :mod:`~speechbrain_tclap.multitask.brain`: :class:`MultiTaskBrain` (fit,
  evaluate, export the encoder), :func:`add_task_heads` and
  :func:`task_loader_options` (the recipe's steps around it);
* :mod:`~speechbrain_tclap.multitask.encoder`: the exported encoder file and
  its strict loading into a CLAP audio tower (``init_weights`` with
  ``into: clap.audio_encoder`` in the CLAP recipes).

See ``recipes/MultiTask/Encoder`` and ``docs/multitask.md``.

Authors
 * speechbrain-tclap developers 2026
"""

from speechbrain_tclap.multitask.brain import (
    MultiTaskBrain,
    add_task_heads,
    task_loader_options,
)
from speechbrain_tclap.multitask.data import (
    TaskBatch,
    TaskBatchSampler,
    TaskSample,
    TaskSampleBuilder,
    collate_task_samples,
    make_multitask_dataset,
    sequential_task_batches,
)
from speechbrain_tclap.multitask.encoder import (
    export_audio_encoder,
    load_audio_encoder,
)
from speechbrain_tclap.multitask.tasks import (
    TASK_KINDS,
    MultiTaskModel,
    TaskHead,
    TaskSpec,
)

__all__ = [
    "TASK_KINDS",
    "MultiTaskBrain",
    "MultiTaskModel",
    "TaskBatch",
    "TaskBatchSampler",
    "TaskHead",
    "TaskSample",
    "TaskSampleBuilder",
    "TaskSpec",
    "add_task_heads",
    "collate_task_samples",
    "export_audio_encoder",
    "load_audio_encoder",
    "make_multitask_dataset",
    "sequential_task_batches",
    "task_loader_options",
]
