"""Multi-task pretraining of an audio encoder (MS-CLAP 2023's "HTSAT-22" path).

MS-CLAP 2023 pretrains its audio encoder on many labelled tasks before
contrastive training; this package does it in SpeechBrain's trainer for any
list of tasks (single-label, multi-label or regression): task specs and the
shared-encoder model (``tasks``), one-task batches and resumable task sampling
(``data``), the Brain (``brain``) and the exported encoder that a CLAP recipe
loads with ``init_weights: [{..., into: clap.audio_encoder}]`` (``encoder``).
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
