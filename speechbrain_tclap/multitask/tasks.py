"""Tasks, heads and the shared-encoder model of multi-task pretraining.

A :class:`TaskSpec` is one labelled dataset of a kind: ``single_label``
(cross-entropy; accuracy), ``multi_label`` (binary cross-entropy; mAP) or
``regression`` (a number, or with ``target_reduce: count`` a list's length;
MSE on targets standardised by the training set; MAE in original units).
:class:`MultiTaskModel` feeds the shared encoder's pooled clip embedding
(mean over real frames) to the head of the batch's task.

Authors
 * speechbrain-tclap developers 2026
"""

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from speechbrain_tclap.data.manifest import ManifestError
from speechbrain_tclap.metrics import (
    mean_average_precision,
    mean_average_precision_chance,
    zero_shot_accuracy,
)

#: The kinds of task a :class:`TaskSpec` can be.
TASK_KINDS = ("single_label", "multi_label", "regression")

#: Validation metric of each kind, and whether higher is better.
TASK_METRICS = {
    "single_label": ("acc", True),
    "multi_label": ("mAP", True),
    "regression": ("MAE", False),
}


class TaskSpec:
    """One labelled dataset of multi-task pretraining.

    Arguments
    ---------
    name : str
        Task name (metric prefix, head name).
    kind : str
        ``"single_label"``, ``"multi_label"`` or ``"regression"``.
    target_key : str
        Manifest field holding the target: a class name (single-label; a
        one-element list is accepted), a list of class names (multi-label)
        or a number (regression).
    train_manifest : str, optional
        Training manifest (CSV or JSON, see
        :func:`speechbrain_tclap.data.manifest.load_manifest`).
    valid_manifest : str, optional
        Validation manifest.
    weight : float
        Relative probability of drawing a training batch of this task.
    loss_weight : float
        Multiplier of the task's loss.
    classes : list of str, optional
        Class names (default: the sorted names found in the training rows).
    target_reduce : str, optional
        ``"count"``: a regression target is the number of items of the list
        in ``target_key`` (e.g. the events of a clip).

    Example
    -------
    >>> spec = TaskSpec("digits", "single_label", "label")
    >>> spec.fit([{"id": "a", "label": "one"}, {"id": "b", "label": "two"}])
    >>> spec.classes, spec.encode({"id": "c", "label": "two"}).item()
    (['one', 'two'], 1)
    >>> count = TaskSpec("n", "regression", "events", target_reduce="count")
    >>> count.fit([{"id": "a", "events": [1]}, {"id": "b", "events": [1, 2, 3]}])
    >>> count.target_mean, count.target_std
    (2.0, 1.0)
    """

    def __init__(
        self,
        name: str,
        kind: str,
        target_key: str,
        train_manifest: Optional[str] = None,
        valid_manifest: Optional[str] = None,
        weight: float = 1.0,
        loss_weight: float = 1.0,
        classes: Optional[Sequence[str]] = None,
        target_reduce: Optional[str] = None,
    ):
        if kind not in TASK_KINDS:
            raise ValueError(f"task {name!r}: kind must be one of {TASK_KINDS}, got {kind!r}")
        if target_reduce not in (None, "count"):
            raise ValueError(f"task {name!r}: target_reduce must be null or 'count'")
        if target_reduce is not None and kind != "regression":
            raise ValueError(f"task {name!r}: target_reduce applies to regression only")
        if weight < 0 or not math.isfinite(weight):
            raise ValueError(f"task {name!r}: weight must be a finite number >= 0")
        self.name = str(name)
        self.kind = kind
        self.target_key = target_key
        self.train_manifest = train_manifest
        self.valid_manifest = valid_manifest
        self.weight = float(weight)
        self.loss_weight = float(loss_weight)
        self.classes: Optional[List[str]] = None if classes is None else list(classes)
        self.target_reduce = target_reduce
        self.target_mean = 0.0
        self.target_std = 1.0

    def __repr__(self) -> str:
        return f"TaskSpec({self.name!r}, {self.kind!r}, weight={self.weight})"

    @property
    def metric(self) -> str:
        """Name of the validation metric (``acc``, ``mAP`` or ``MAE``)."""
        return TASK_METRICS[self.kind][0]

    @property
    def num_outputs(self) -> int:
        """Width of the task's head (classes, or 1 for regression)."""
        if self.kind == "regression":
            return 1
        if not self.classes:
            raise RuntimeError(f"task {self.name!r}: classes unknown; call fit() first")
        return len(self.classes)

    def raw_target(self, row: Mapping[str, Any], path: str = "<rows>") -> Any:
        """The row's target as stored (class name, list of names or number).

        Arguments
        ---------
        row : mapping
            A manifest row (with its ``id``).
        path : str
            Manifest file, for error messages.

        Returns
        -------
        str, list of str or float
            The target.
        """
        where = f"row {row.get('id')!r}"
        if self.target_key not in row or row[self.target_key] is None:
            raise ManifestError(
                path, f"task {self.name!r}: no {self.target_key!r} field", row=where
            )
        value = row[self.target_key]
        if self.kind == "single_label":
            if isinstance(value, (list, tuple)):
                if len(value) != 1:
                    raise ManifestError(
                        path,
                        f"task {self.name!r} is single-label but {self.target_key!r} "
                        f"holds {len(value)} labels",
                        row=where,
                    )
                value = value[0]
            return str(value)
        if self.kind == "multi_label":
            if not isinstance(value, (list, tuple)):
                value = [value]
            return [str(v) for v in value]
        if self.target_reduce == "count":
            if not isinstance(value, (list, tuple)):
                raise ManifestError(
                    path,
                    f"task {self.name!r}: target_reduce 'count' needs a list in "
                    f"{self.target_key!r}",
                    row=where,
                )
            return float(len(value))
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ManifestError(
                path,
                f"task {self.name!r}: {self.target_key!r} is not a number: {value!r}",
                row=where,
            ) from None
        if not math.isfinite(number):
            raise ManifestError(path, f"task {self.name!r}: non-finite target", row=where)
        return number

    def fit(self, rows: Sequence[Mapping[str, Any]], path: str = "<rows>") -> None:
        """Learn the class list and target statistics from training rows.

        Arguments
        ---------
        rows : sequence of mapping
            Training manifest rows.
        path : str
            Manifest file, for error messages.
        """
        targets = [self.raw_target(row, path) for row in rows]
        if not targets:
            raise ManifestError(path, f"task {self.name!r}: no training rows")
        if self.kind == "regression":
            values = torch.tensor(targets, dtype=torch.float64)
            self.target_mean = float(values.mean())
            # A constant target would divide by zero: keep unit scale then.
            std = float(values.std(unbiased=False))
            self.target_std = std if std > 1e-8 else 1.0
            return
        if self.classes is None:
            names = set()
            for target in targets:
                names.update(target if isinstance(target, list) else [target])
            self.classes = sorted(names)

    def encode(self, row: Mapping[str, Any], path: str = "<rows>") -> torch.Tensor:
        """The row's target as a tensor.

        Arguments
        ---------
        row : mapping
            A manifest row.
        path : str
            Manifest file, for error messages.

        Returns
        -------
        torch.Tensor
            Long class index (single-label), float multi-hot ``(K,)``
            (multi-label) or float value (regression, original units).
        """
        target = self.raw_target(row, path)
        if self.kind == "regression":
            return torch.tensor(target, dtype=torch.float32)
        names = target if isinstance(target, list) else [target]
        unknown = [n for n in names if n not in self.classes]
        if unknown:
            raise ManifestError(
                path,
                f"task {self.name!r}: label(s) {unknown} not among the "
                f"{len(self.classes)} classes (list every class in the task's "
                "'classes' when the training rows lack some)",
                row=f"row {row.get('id')!r}",
            )
        if self.kind == "single_label":
            return torch.tensor(self.classes.index(names[0]), dtype=torch.long)
        hot = torch.zeros(len(self.classes))
        hot[[self.classes.index(n) for n in names]] = 1.0
        return hot

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The task's training loss.

        Arguments
        ---------
        outputs : torch.Tensor
            ``(B, K)`` head outputs (``(B, 1)`` for regression).
        targets : torch.Tensor
            As :meth:`encode`, batched.

        Returns
        -------
        torch.Tensor
            Scalar: cross-entropy, binary cross-entropy or MSE on
            standardised targets.

        Example
        -------
        >>> spec = TaskSpec("t", "multi_label", "labels", classes=["a", "b"])
        >>> spec.loss(torch.zeros(2, 2), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        tensor(0.6931)
        """
        outputs = outputs.float()
        if self.kind == "single_label":
            return F.cross_entropy(outputs, targets.long())
        if self.kind == "multi_label":
            return F.binary_cross_entropy_with_logits(outputs, targets.float())
        scaled = (targets.float() - self.target_mean) / self.target_std
        return F.mse_loss(outputs.squeeze(-1), scaled)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Probabilities (softmax / sigmoid) or values in the original units.

        Arguments
        ---------
        outputs : torch.Tensor
            ``(B, K)`` head outputs.

        Returns
        -------
        torch.Tensor
            ``(B, K)`` probabilities, or ``(B,)`` predicted values.
        """
        outputs = outputs.float()
        if self.kind == "single_label":
            return outputs.softmax(dim=-1)
        if self.kind == "multi_label":
            return outputs.sigmoid()
        return outputs.squeeze(-1) * self.target_std + self.target_mean

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> Dict[str, float]:
        """Validation metric of the task and its chance level.

        Arguments
        ---------
        outputs : torch.Tensor
            ``(N, K)`` head outputs of the whole validation set.
        targets : torch.Tensor
            The matching targets.

        Returns
        -------
        dict
            ``{metric: value, "chance": value}``. The chance of a regression
            is the MAE of always predicting the training mean.

        Example
        -------
        >>> spec = TaskSpec("t", "single_label", "label", classes=["a", "b"])
        >>> spec.metrics(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
        {'acc': 0.5, 'chance': 0.5}
        """
        predicted = self.predict(outputs)
        if self.kind == "single_label":
            value = zero_shot_accuracy(predicted, targets.long())["acc@1"]
            chance = 1.0 / len(self.classes)
        elif self.kind == "multi_label":
            value = mean_average_precision(predicted, targets)
            chance = mean_average_precision_chance(targets)
        else:
            targets = targets.float()
            value = float((predicted - targets).abs().mean())
            chance = float((targets - self.target_mean).abs().mean())
        return {self.metric: value, "chance": chance}


class TaskHead(nn.Module):
    """Classifier or regressor on a pooled clip embedding.

    ``LayerNorm → Dropout → Linear`` (``hidden_size`` 0) or
    ``LayerNorm → Linear → GELU → Dropout → Linear``.

    Arguments
    ---------
    input_size : int
        Width of the clip embedding.
    output_size : int
        Classes (or 1 for regression).
    hidden_size : int
        Width of the hidden layer; 0 for a linear head.
    dropout : float
        Dropout before the output layer.

    Example
    -------
    >>> head = TaskHead(16, 5, hidden_size=8)
    >>> head(torch.randn(3, 16)).shape
    torch.Size([3, 5])
    """

    def __init__(
        self, input_size: int, output_size: int, hidden_size: int = 0, dropout: float = 0.0
    ):
        super().__init__()
        layers: List[nn.Module] = [nn.LayerNorm(input_size)]
        if hidden_size:
            layers += [
                nn.Linear(input_size, hidden_size),
                nn.GELU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_size, output_size),
            ]
        else:
            layers += [nn.Dropout(dropout), nn.Linear(input_size, output_size)]
        self.net = nn.Sequential(*layers)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """Head outputs (logits or a standardised value).

        Arguments
        ---------
        embedding : torch.Tensor
            ``(B, input_size)``.

        Returns
        -------
        torch.Tensor
            ``(B, output_size)``.
        """
        return self.net(embedding)


class MultiTaskModel(nn.Module):
    """A front end and an audio encoder shared by one head per task.

    Arguments
    ---------
    audio_features : torch.nn.Module
        ``(wavs, wav_lens) -> (feats, feat_lens)`` (e.g. ``CLAPFeatures``).
    audio_encoder : torch.nn.Module
        ``(feats, feat_lens) -> AudioEncoderOutput`` (e.g. ``HTSAT``): the
        module later loaded into a CLAP audio tower.
    audio_pooling : torch.nn.Module, optional
        ``(frames, frame_mask) -> (B, C)``; default the encoder's clip
        embedding (its mean over real frames).
    embedding_size : int, optional
        Width of the pooled embedding; default ``audio_encoder.output_dim``.
    head_hidden_size : int
        Hidden width of every head (0: linear heads).
    head_dropout : float
        Dropout of every head.

    Example
    -------
    >>> from speechbrain_tclap.lobes.features import CLAPFeatures
    >>> from speechbrain_tclap.lobes.htsat import HTSAT
    >>> model = MultiTaskModel(
    ...     CLAPFeatures(sample_rate=8000, n_fft=256, hop_length=80, n_mels=16,
    ...                  f_max=4000.0),
    ...     HTSAT.from_preset("test"), head_hidden_size=8)
    >>> model.add_task(TaskSpec("birds", "multi_label", "labels", classes=["a", "b", "c"]))
    >>> model(torch.randn(2, 4000), torch.tensor([1.0, 0.5]), "birds").shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        audio_features: nn.Module,
        audio_encoder: nn.Module,
        audio_pooling: Optional[nn.Module] = None,
        embedding_size: Optional[int] = None,
        head_hidden_size: int = 0,
        head_dropout: float = 0.0,
    ):
        super().__init__()
        self.audio_features = audio_features
        self.audio_encoder = audio_encoder
        self.audio_pooling = audio_pooling
        if embedding_size is None:
            embedding_size = getattr(audio_encoder, "output_dim", None)
        if embedding_size is None:
            raise ValueError(
                "embedding_size is needed: the audio encoder has no 'output_dim'"
            )
        self.embedding_size = int(embedding_size)
        self.head_hidden_size = int(head_hidden_size)
        self.head_dropout = float(head_dropout)
        self.heads = nn.ModuleDict()

    def add_task(self, spec: TaskSpec) -> None:
        """Create the head of a task (before the optimiser is built).

        Arguments
        ---------
        spec : TaskSpec
            The task (its classes known).
        """
        if spec.name in self.heads:
            raise ValueError(f"task {spec.name!r} already has a head")
        self.heads[spec.name] = TaskHead(
            self.embedding_size,
            spec.num_outputs,
            self.head_hidden_size,
            self.head_dropout,
        )

    def embed(self, wavs: torch.Tensor, wav_lens: Optional[torch.Tensor] = None):
        """Pooled clip embedding of the shared encoder.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(B, L)`` waveforms.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths.

        Returns
        -------
        torch.Tensor
            ``(B, embedding_size)``.
        """
        feats, feat_lens = self.audio_features(wavs, wav_lens)
        encoded = self.audio_encoder(feats, feat_lens)
        if self.audio_pooling is None:
            return encoded.clip
        return self.audio_pooling(encoded.frames, encoded.frame_mask)

    def forward(
        self, wavs: torch.Tensor, wav_lens: Optional[torch.Tensor], task: str
    ) -> torch.Tensor:
        """Head outputs of ``task`` for a batch of that task.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(B, L)`` waveforms.
        wav_lens : torch.Tensor, optional
            ``(B,)`` relative lengths.
        task : str
            The batch's task.

        Returns
        -------
        torch.Tensor
            ``(B, K)``.
        """
        if task not in self.heads:
            raise KeyError(f"no head for task {task!r}; known: {sorted(self.heads)}")
        return self.heads[task](self.embed(wavs, wav_lens))
