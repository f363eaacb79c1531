"""Data of multi-task pretraining: samples, one-task batches, task sampling.

Every batch holds clips of one task, so each step runs one head and one loss.
:class:`TaskBatchSampler` draws each training batch's task by the YAML weights,
as a pure function of (seed, epoch), so a mid-epoch resume continues exactly;
validation uses :func:`sequential_task_batches` (every clip once, in order).

Authors
 * speechbrain-tclap developers 2026
"""

import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence

import torch
from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.logger import get_logger
from torch.utils.data import Sampler

from speechbrain_tclap.data.batching import TensorFields
from speechbrain_tclap.data.datasets import ClipSampleBuilder
from speechbrain_tclap.data.manifest import load_manifest

logger = get_logger(__name__)


@dataclass
class TaskSample:
    """One clip of one task, cropped or padded to the model window.

    Arguments
    ---------
    id : str
        ``"<task>/<manifest id>"``.
    task : str
        Task name.
    wav : torch.Tensor
        ``(L,)`` waveform.
    valid_samples : int
        Real (non-padded) samples.
    target : torch.Tensor
        Encoded target (see :meth:`TaskSpec.encode`).

    Example
    -------
    >>> s = TaskSample("esc/a", "esc", torch.zeros(4), 2, torch.tensor(1))
    >>> s.task, s.wav.shape
    ('esc', torch.Size([4]))
    """

    id: str
    task: str
    wav: torch.Tensor
    valid_samples: int
    target: torch.Tensor


@dataclass
class TaskBatch(TensorFields):
    """A batch of clips of one task.

    Arguments
    ---------
    ids : list of str
        Sample ids.
    task : str
        The batch's task.
    wavs : torch.Tensor
        ``(B, L)`` waveforms.
    wav_lens : torch.Tensor
        ``(B,)`` relative lengths.
    targets : torch.Tensor
        Batched targets.
    num_skipped : int
        Samples dropped because their audio could not be read.

    Example
    -------
    >>> b = TaskBatch(["t/a"], "t", torch.zeros(1, 4), torch.ones(1), torch.zeros(1))
    >>> len(b), b.to("cpu").wavs.shape
    (1, torch.Size([1, 4]))
    """

    ids: List[str]
    task: str
    wavs: torch.Tensor
    wav_lens: torch.Tensor
    targets: torch.Tensor
    num_skipped: int = 0

    def __len__(self) -> int:
        return len(self.ids)


def collate_task_samples(items: Sequence[Any]) -> TaskBatch:
    """Collate samples (or ``{"sample": ...}`` dataset items) of one task.

    ``None`` samples (unreadable audio) are dropped and counted.

    Arguments
    ---------
    items : sequence
        :class:`TaskSample`, ``None``, or dicts holding them under ``sample``.

    Returns
    -------
    TaskBatch
        The batch (empty when every sample was dropped).

    Example
    -------
    >>> a = TaskSample("t/a", "t", torch.ones(4), 4, torch.tensor(0))
    >>> b = TaskSample("t/b", "t", torch.ones(4), 2, torch.tensor(1))
    >>> batch = collate_task_samples([a, None, b])
    >>> batch.wav_lens.tolist(), batch.targets.tolist(), batch.num_skipped
    ([1.0, 0.5], [0, 1], 1)
    """
    samples = [item["sample"] if isinstance(item, Mapping) else item for item in items]
    kept = [s for s in samples if s is not None]
    skipped = len(samples) - len(kept)
    if not kept:
        empty = torch.zeros(0)
        return TaskBatch([], "", torch.zeros(0, 1), empty, empty, skipped)
    tasks = sorted({s.task for s in kept})
    if len(tasks) > 1:
        raise ValueError(
            f"a multi-task batch must hold one task, got {tasks}; use "
            "TaskBatchSampler / sequential_task_batches as the batch_sampler"
        )
    length = max(s.wav.shape[-1] for s in kept)
    wavs = torch.zeros(len(kept), length)
    for row, sample in enumerate(kept):
        wavs[row, : sample.wav.shape[-1]] = sample.wav
    lens = torch.tensor([s.valid_samples / length for s in kept], dtype=torch.float32)
    targets = torch.stack([s.target for s in kept])
    return TaskBatch([s.id for s in kept], tasks[0], wavs, lens, targets, skipped)


def _task_name(row: Mapping[str, Any], train: bool, rng=None) -> List[str]:
    """A stand-in caption (a task sample needs audio, not text)."""
    return [str(row["task"])]


class TaskSampleBuilder(ClipSampleBuilder):
    """Reads a row's audio into the model window, as a :class:`TaskSample`.

    The audio side of :class:`~speechbrain_tclap.data.datasets.ClipSampleBuilder`
    (the same reading, resampling, crops and padding as CLAP training).

    Arguments
    ---------
    sample_rate : int
        Model sample rate.
    clip_seconds : float
        Model window in seconds.
    train_crop : str
        Crop of long clips in training (``"random"``: resumable, from (seed,
        epoch, sample id)).
    eval_crop : str
        Deterministic crop for validation (``"loudest"``, ``"left"``, ...).
    pad : str
        ``"zero"`` (masked by the encoder), ``"repeat"`` or ``"none"``.
    resample : bool
        Resample files at another rate (else they are skipped).
    seed : int
        Seed of the training crops.

    Example
    -------
    >>> import numpy, soundfile
    >>> path = str(getfixture("tmpdir") / "a.wav")
    >>> soundfile.write(path, numpy.zeros(4000, "float32"), 8000)
    >>> build = TaskSampleBuilder(8000, 1.0)
    >>> s = build({"id": "t/a", "wav": path, "task": "t",
    ...            "target": torch.tensor(0)}, train=False)
    >>> s.wav.shape, s.valid_samples
    (torch.Size([8000]), 4000)
    """

    def __init__(
        self,
        sample_rate: int,
        clip_seconds: float,
        train_crop: str = "random",
        eval_crop: str = "loudest",
        pad: str = "zero",
        resample: bool = True,
        seed: int = 0,
    ):
        super().__init__(
            sample_rate,
            clip_seconds,
            captioner=_task_name,
            train_crop=train_crop,
            eval_crop=eval_crop,
            pad=pad,
            resample=resample,
            seed=seed,
        )

    def __call__(self, row: Mapping[str, Any], train: bool) -> Optional[TaskSample]:
        """The sample of a dataset row, or None (logged) for unusable audio.

        Arguments
        ---------
        row : mapping
            Row with ``id``, ``wav``, ``task`` and encoded ``target``.
        train : bool
            Training crop (else the deterministic one).

        Returns
        -------
        TaskSample or None
            The sample.
        """
        sample = super().__call__(row, train)
        if sample is None:
            return None
        view = sample.audio[0]
        return TaskSample(row["id"], row["task"], view.wav, view.valid_samples, row["target"])


def make_multitask_dataset(
    tasks: Sequence[Any], split: str, builder, train: bool
) -> DynamicItemDataset:
    """One dataset over the manifests of every task of a split.

    The training split fits each task's classes and target statistics
    (:meth:`TaskSpec.fit`): build ``"train"`` before ``"valid"``. Targets are
    encoded up front, so an unknown label fails here (naming manifest and row).

    Arguments
    ---------
    tasks : sequence of TaskSpec
        The tasks.
    split : str
        ``"train"`` (``train_manifest``) or ``"valid"`` (``valid_manifest``);
        tasks without that manifest are left out.
    builder : callable
        ``(row, train) -> TaskSample or None`` (e.g. :class:`TaskSampleBuilder`).
    train : bool
        Passed to the builder.

    Returns
    -------
    DynamicItemDataset
        Output key ``"sample"``; attributes ``rows`` (``{id: row}``) and
        ``task_indices`` (``{task: [dataset indices]}``).

    Example
    -------
    >>> import json, numpy, soundfile
    >>> from speechbrain_tclap.multitask.tasks import TaskSpec
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.wav"), numpy.zeros(800, "float32"), 8000)
    >>> rows = {"a": {"wav": str(tmp / "a.wav"), "label": "one"}}
    >>> _ = (tmp / "m.json").write(json.dumps(rows))
    >>> spec = TaskSpec("digits", "single_label", "label", train_manifest=str(tmp / "m.json"))
    >>> ds = make_multitask_dataset([spec], "train", TaskSampleBuilder(8000, 0.5), True)
    >>> ds.task_indices, ds[0]["sample"].id
    ({'digits': [0]}, 'digits/a')
    """
    if split not in ("train", "valid"):
        raise ValueError(f"split must be 'train' or 'valid', got {split!r}")
    names = [spec.name for spec in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be unique, got {names}")
    rows: Dict[str, Dict[str, Any]] = {}
    task_indices: Dict[str, List[int]] = {}
    for spec in tasks:
        path = spec.train_manifest if split == "train" else spec.valid_manifest
        if path is None:
            logger.info("task %s has no %s manifest", spec.name, split)
            continue
        manifest = load_manifest(path, required=("id", "wav"))
        if split == "train":
            spec.fit(list(manifest.values()), path)
        first = len(rows)
        for row_id, row in manifest.items():
            key = f"{spec.name}/{row_id}"
            rows[key] = {
                **row,
                "id": key,
                "task": spec.name,
                "target": spec.encode(row, path),
            }
        task_indices[spec.name] = list(range(first, len(rows)))
    if not rows:
        raise ValueError(f"no task has a {split} manifest")

    def build(sample_id):
        return builder(rows[sample_id], train)

    dataset = DynamicItemDataset(
        {key: {} for key in rows},
        dynamic_items=[{"func": build, "takes": ["id"], "provides": "sample"}],
        output_keys=["sample"],
    )
    dataset.rows = rows
    dataset.task_indices = task_indices
    return dataset


class TaskBatchSampler(Sampler):
    """Training batches of one task each, tasks drawn by weight.

    Each batch draws its task with probability ``weight / sum(weights)``, then
    takes the task's next ``batch_size`` clips from a queue of seeded shuffles
    (never a clip twice in one batch). The batches are a pure function of
    (indices, weights, seed, epoch), so mid-epoch resume is exact. Use it as
    SpeechBrain's ``batch_sampler``; the epoch comes from ``epoch_counter``
    (restored from checkpoints) or :meth:`set_epoch`.

    Arguments
    ---------
    task_indices : mapping
        ``{task: dataset indices}`` (``dataset.task_indices``).
    weights : mapping
        ``{task: sampling weight}`` (0: never drawn).
    batch_size : int
        Clips per batch (fewer when a task has fewer clips).
    steps_per_epoch : int, optional
        Batches per epoch; default ``ceil(clips of the weighted tasks /
        batch_size)``.
    seed : int
        Seed of the draws.
    epoch_counter : object, optional
        Anything with a ``current`` epoch (SpeechBrain's ``EpochCounter``).

    Example
    -------
    >>> sampler = TaskBatchSampler({"a": [0, 1, 2], "b": [3, 4]}, {"a": 1, "b": 0},
    ...                            batch_size=2, steps_per_epoch=3, seed=1)
    >>> batches = list(sampler)
    >>> len(batches), all(i in (0, 1, 2) for b in batches for i in b)
    (3, True)
    >>> batches == list(sampler)  # a pure function of (seed, epoch)
    True
    """

    def __init__(
        self,
        task_indices: Mapping[str, Sequence[int]],
        weights: Mapping[str, float],
        batch_size: int,
        steps_per_epoch: Optional[int] = None,
        seed: int = 0,
        epoch_counter: Optional[Any] = None,
    ):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        missing = sorted(set(task_indices) - set(weights))
        if missing:
            raise ValueError(f"no sampling weight for task(s) {missing}")
        self.task_indices = {
            name: list(indices) for name, indices in task_indices.items() if indices
        }
        self.tasks = sorted(
            name for name in self.task_indices if float(weights[name]) > 0
        )
        if not self.tasks:
            raise ValueError("every task with training clips has weight 0")
        self.weights = [float(weights[name]) for name in self.tasks]
        self.batch_size = int(batch_size)
        if steps_per_epoch is None:
            clips = sum(len(self.task_indices[name]) for name in self.tasks)
            steps_per_epoch = math.ceil(clips / self.batch_size)
        self.steps_per_epoch = int(steps_per_epoch)
        self.seed = seed
        self.epoch_counter = epoch_counter
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the draws of an epoch (used when no counter is given).

        Arguments
        ---------
        epoch : int
            Current epoch.
        """
        self.epoch = int(epoch)

    def batches(self, epoch: Optional[int] = None) -> List[List[int]]:
        """All batches of an epoch.

        Arguments
        ---------
        epoch : int, optional
            Default: the counter's current epoch, else the last
            :meth:`set_epoch`.

        Returns
        -------
        list of list of int
            Dataset indices, one list per batch.
        """
        if epoch is None:
            counter = self.epoch_counter
            epoch = self.epoch if counter is None else int(counter.current)
        draws = random.Random(f"{self.seed}-{epoch}").choices(
            self.tasks, weights=self.weights, k=self.steps_per_epoch
        )
        queues = {name: _TaskQueue(self.task_indices[name], f"{self.seed}-{epoch}-{name}")
                  for name in set(draws)}
        return [queues[name].take(self.batch_size) for name in draws]

    def __iter__(self) -> Iterator[List[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return self.steps_per_epoch


class _TaskQueue:
    """The clips of one task in seeded shuffles, consumed batch by batch."""

    def __init__(self, indices: Sequence[int], seed: str):
        self.indices = list(indices)
        self.seed = seed
        self.cycle = 0
        self.queue: deque = deque()

    def _refill(self) -> None:
        order = list(self.indices)
        random.Random(f"{self.seed}-{self.cycle}").shuffle(order)
        self.cycle += 1
        self.queue.extend(order)

    def take(self, size: int) -> List[int]:
        size = min(size, len(self.indices))
        batch: List[int] = []
        deferred: List[int] = []
        while len(batch) < size:
            if not self.queue:
                self._refill()
            index = self.queue.popleft()
            # Across a reshuffle a clip could come back into the same batch.
            (deferred if index in batch else batch).append(index)
        self.queue.extendleft(reversed(deferred))
        return batch


def sequential_task_batches(
    task_indices: Mapping[str, Sequence[int]], batch_size: int
) -> List[List[int]]:
    """Evaluation batches: each task's clips in order, ``batch_size`` at a time.

    Arguments
    ---------
    task_indices : mapping
        ``{task: dataset indices}``.
    batch_size : int
        Clips per batch.

    Returns
    -------
    list of list of int
        Batches (each of one task), every clip exactly once.

    Example
    -------
    >>> sequential_task_batches({"a": [0, 1, 2], "b": [3]}, 2)
    [[0, 1], [2], [3]]
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    batches = []
    for name in task_indices:
        indices = list(task_indices[name])
        batches += [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    return batches
