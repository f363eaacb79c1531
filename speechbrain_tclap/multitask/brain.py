"""``MultiTaskBrain``: SpeechBrain's trainer for multi-task encoder pretraining.

Each batch holds one task (:class:`~speechbrain_tclap.multitask.data.TaskBatchSampler`);
the Brain runs the shared encoder, that task's head and its loss (times its
``loss_weight``). Validation reports each task's loss and metric (accuracy,
mAP or MAE) with its chance level, and as ``loss`` the mean over tasks of
their weighted losses (each task counts the same); the test stage writes
``results.json`` and ``results.md``. What is not contrastive (optimiser
groups, clipping, freezing, CPU DDP, loader seed, ``lr_scheduler``, skipped
batches) comes from :class:`~speechbrain_tclap.brain.CLAPBrain`.

YAML keys read: ``tasks`` (list of :class:`TaskSpec`), ``valid_metric``
(default ``loss``) and ``valid_metric_mode`` (``min`` or ``max``),
``train_logger``, ``output_folder``, ``encoder_folder``, and optionally
``lr_scheduler``, ``freezing``, ``train_sample_builder``. The recipe's steps
around the Brain, :func:`add_task_heads` and :func:`task_loader_options`: see
``recipes/MultiTask/Encoder/train.py``.

Authors
 * speechbrain-tclap developers 2026
"""

import os
from typing import Any, Dict, List, Sequence

import speechbrain as sb
import torch
from speechbrain.utils.distributed import if_main_process, main_process_only
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.multitask.data import (
    collate_task_samples,
    sequential_task_batches,
)
from speechbrain_tclap.multitask.encoder import export_audio_encoder
from speechbrain_tclap.utils.distributed import unwrap_module

logger = get_logger(__name__)


class MultiTaskBrain(CLAPBrain):
    """Trains a :class:`MultiTaskModel` held in ``modules["model"]``.

    Example
    -------
    See ``recipes/MultiTask/Encoder/train.py`` and ``tests/unittests/test_multitask.py``.
    """

    # Selection on the mean task loss unless YAML says otherwise.
    default_valid_metric = "loss"
    default_valid_metric_mode = "min"

    def task(self, name: str):
        """The :class:`TaskSpec` called ``name`` (from ``hparams.tasks``).

        Arguments
        ---------
        name : str
            Task name.

        Returns
        -------
        TaskSpec
            The task.
        """
        for spec in self.hparams.tasks:
            if spec.name == name:
                return spec
        raise KeyError(f"unknown task {name!r}")

    def compute_forward(self, batch, stage):
        """Head outputs of the batch's task.

        Arguments
        ---------
        batch : TaskBatch
            A batch of one task.
        stage : speechbrain.Stage
            Current stage.

        Returns
        -------
        torch.Tensor
            ``(B, K)``.
        """
        batch = batch.to(self.device)
        # Through forward() so that a DDP wrapper sees the call.
        return self.modules.model(batch.wavs, batch.wav_lens, batch.task)

    def compute_objectives(self, predictions, batch, stage):
        """The task's loss (times its ``loss_weight``); evaluation collects outputs.

        Arguments
        ---------
        predictions : torch.Tensor
            Head outputs.
        batch : TaskBatch
            The batch.
        stage : speechbrain.Stage
            Current stage.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        spec = self.task(batch.task)
        targets = batch.targets.to(predictions.device)
        loss = spec.loss(predictions, targets)
        total, count = self.task_losses.get(batch.task, (0.0, 0))
        self.task_losses[batch.task] = (total + float(loss.detach()), count + 1)
        if stage != sb.Stage.TRAIN:
            self.outputs.setdefault(batch.task, []).append(predictions.detach().float().cpu())
            self.targets.setdefault(batch.task, []).append(targets.detach().cpu())
        return spec.loss_weight * loss

    def fit_batch(self, batch):
        """Train on a batch; skip it when none of its audio could be read.

        One clip is enough (heads have no batch statistics). Under DDP a
        skipped batch would leave the other ranks waiting in the all-reduce:
        keep the data readable (the preparations check headers).

        Arguments
        ---------
        batch : TaskBatch
            The batch.

        Returns
        -------
        torch.Tensor
            The detached loss.
        """
        if len(batch) == 0:
            logger.warning("skipping a training batch without readable audio")
            return self.count_skipped(batch, whole_batch=True)
        self.count_skipped(batch, whole_batch=False)
        return sb.Brain.fit_batch(self, batch)

    def on_stage_start(self, stage, epoch=None):
        """Reset the per-task accumulators; tell the sample builder the epoch.

        Arguments
        ---------
        stage : speechbrain.Stage
            Current stage.
        epoch : int, optional
            Current epoch.
        """
        super().on_stage_start(stage, epoch)  # skip counter, builder epoch
        self.task_losses: Dict[str, tuple] = {}
        self.outputs: Dict[str, List[torch.Tensor]] = {}
        self.targets: Dict[str, List[torch.Tensor]] = {}

    def task_metrics(self):
        """Per-task metrics and chance levels of the collected outputs.

        Returns
        -------
        tuple of dict
            ``({"<task>_<metric>": value, "<task>_n": clips}, {"<task>_<metric>": chance})``.
        """
        metrics, chance = {}, {}
        for name in self.outputs:
            spec = self.task(name)
            found = spec.metrics(torch.cat(self.outputs[name]), torch.cat(self.targets[name]))
            key = f"{name}_{spec.metric}"
            metrics[key] = found[spec.metric]
            chance[key] = found["chance"]
            metrics[f"{name}_n"] = sum(len(o) for o in self.outputs[name])
        return metrics, chance

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log per-task losses and metrics; checkpoint; write results on test.

        Arguments
        ---------
        stage : speechbrain.Stage
            Current stage.
        stage_loss : float
            Average loss of the stage.
        epoch : int, optional
            Current epoch.
        """
        stats = self.stage_stats(stage, stage_loss, epoch)
        for name, (total, count) in sorted(self.task_losses.items()):
            stats[f"{name}_loss"] = total / count
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        if self.task_losses:
            # Every task counts the same, however many clips it validates on.
            stats["loss"] = sum(
                self.task(name).loss_weight * stats[f"{name}_loss"] for name in self.task_losses
            ) / len(self.task_losses)
        metrics, chance = self.task_metrics()
        stats.update(metrics)
        self.finish_evaluation_stage(stage, stats, epoch, lambda _: chance)

    def export_encoder(self, hparams_file: str) -> str:
        """Write the audio encoder for a CLAP recipe's ``init_weights``.

        Call it after :meth:`evaluate`: the evaluated checkpoint's encoder is
        written (by the main process), with its metrics, tasks and YAML file in
        ``encoder.json``.

        Arguments
        ---------
        hparams_file : str
            The recipe's YAML (recorded in ``encoder.json``).

        Returns
        -------
        str
            The folder (YAML ``encoder_folder``).
        """
        folder = self.hparams.encoder_folder
        if if_main_process():
            export_audio_encoder(
                unwrap_module(self.modules.model).audio_encoder,
                folder,
                info={
                    "hparams_file": os.path.abspath(hparams_file),
                    "tasks": {
                        spec.name: {"kind": spec.kind, "weight": spec.weight}
                        for spec in self.hparams.tasks
                    },
                    "valid_metrics": {k: float(v) for k, v in self.test_stats.items()},
                },
            )
        sb.utils.distributed.ddp_barrier()
        return folder

    @main_process_only
    def write_results(self, stats: Dict[str, float], chance: Dict[str, float]) -> None:
        """Write ``results.json`` (metrics, chance, tasks) and ``results.md``.

        Arguments
        ---------
        stats : dict
            Metrics of the evaluated (validation) sets.
        chance : dict
            Chance levels.
        """
        tasks = {
            spec.name: {
                "kind": spec.kind,
                "metric": spec.metric,
                "weight": spec.weight,
                "classes": spec.classes,
            }
            for spec in self.hparams.tasks
        }
        folder = self.hparams.output_folder
        self._write_results_files(folder, stats, chance, tasks=tasks)


def add_task_heads(model, tasks: Sequence[Any], train_set) -> None:
    """One head per task on the shared encoder (before the Brain is built).

    Build the training set first: it fits the classes that size the heads
    (:func:`~speechbrain_tclap.multitask.data.make_multitask_dataset`).

    Arguments
    ---------
    model : MultiTaskModel
        The shared encoder (YAML ``multitask_model``).
    tasks : sequence of TaskSpec
        The tasks.
    train_set : DynamicItemDataset
        The multi-task training set (``task_indices``).
    """
    for spec in tasks:
        model.add_task(spec)
        logger.info(
            "task %s (%s, weight %g): %d training clips, %s",
            spec.name,
            spec.kind,
            spec.weight,
            len(train_set.task_indices.get(spec.name, [])),
            f"{len(spec.classes)} classes" if spec.classes else "regression",
        )


def task_loader_options(hparams: Dict, dataset, train: bool) -> Dict:
    """Loader options of a multi-task dataset: every batch holds one task.

    Training batches come from YAML ``train_sampler`` (a ``!name:``
    :class:`~speechbrain_tclap.multitask.data.TaskBatchSampler`); evaluation
    batches hold each task's clips in order, ``valid_batch_size`` at a time.

    Arguments
    ---------
    hparams : dict
        Loaded hyperparameters (``tasks``, ``train_sampler``,
        ``valid_batch_size``, optionally ``num_workers``).
    dataset : DynamicItemDataset
        A multi-task dataset (``task_indices``).
    train : bool
        Training or evaluation batches.

    Returns
    -------
    dict
        Keyword arguments of ``make_dataloader``.

    Example
    -------
    >>> from types import SimpleNamespace
    >>> data = SimpleNamespace(task_indices={"a": [0, 1, 2], "b": [3]})
    >>> task_loader_options({"valid_batch_size": 2}, data, train=False)["batch_sampler"]
    [[0, 1], [2], [3]]
    """
    if train:
        weights = {spec.name: spec.weight for spec in hparams["tasks"]}
        batches = hparams["train_sampler"](dataset.task_indices, weights)
    else:
        batches = sequential_task_batches(dataset.task_indices, hparams["valid_batch_size"])
    return {
        "batch_sampler": batches,
        "collate_fn": collate_task_samples,
        "num_workers": hparams.get("num_workers", 0),
    }
