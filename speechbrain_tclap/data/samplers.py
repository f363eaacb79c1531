"""Batch samplers: conflicting pairs kept apart, or durations bucketed.

A batch holding both (A, B) and its reverse (B, A) lets the model match the
swapped caption by recording identity instead of by order:
:class:`PairAwareBatchSampler` keeps such items apart. With variable-length
audio, :func:`duration_bucketed_sampler` batches clips of similar length
under a cap of audio seconds. Recipes pick either with ``train_batch_sampler``
(:func:`speechbrain_tclap.recipe.train_loader_options`).

Authors
 * speechbrain-tclap developers 2026
"""

import random
from collections import deque
from typing import (
    Any, Dict, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple
)

from torch.utils.data import Sampler

from speechbrain.dataio.sampler import DynamicBatchSampler
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.temporal import PAIR_SEPARATOR

logger = get_logger(__name__)


def item_sources(item: Any) -> Tuple[str, ...]:
    """The source clip ids of a dataset item.

    Arguments
    ---------
    item : dict or str or tuple
        A pair row (``a`` / ``b`` rows with ids), another row (its ``id``), a
        pair id ``"<idA>__<idB>"``, a plain id, or a tuple of ids.

    Returns
    -------
    tuple of str
        One or two source ids.

    Example
    -------
    >>> item_sources("dog1__rain4")
    ('dog1', 'rain4')
    >>> item_sources({"id": "x", "a": {"id": "p"}, "b": {"id": "q"}})
    ('p', 'q')
    >>> item_sources({"id": "clip7", "wav": "clip7.wav"})
    ('clip7',)
    """
    if isinstance(item, Mapping):
        if isinstance(item.get("a"), Mapping) and isinstance(item.get("b"), Mapping):
            return tuple(
                str(item[slot].get("id", item[slot].get("wav"))) for slot in ("a", "b")
            )
        return (str(item["id"]),)
    if isinstance(item, (tuple, list)):
        return tuple(str(x) for x in item)
    text = str(item)
    if PAIR_SEPARATOR in text:
        first, second = text.split(PAIR_SEPARATOR, 1)
        return (first, second)
    return (text,)


class PairAwareBatchSampler(Sampler):
    """Seeded batches that never hold a pair and its reverse together.

    Each epoch the items are shuffled with ``random.Random(f"{seed}-{epoch}")``
    and packed greedily (a conflicting item waits for the next batch);
    leftovers that still conflict are swapped into earlier batches, so there
    are ``ceil(N / batch_size)`` batches (``floor`` with ``drop_last``) except in
    degenerate cases.

    Two items conflict when ``separate_reversed`` and they use the same two
    source clips (in either order), or when ``distinct_sources`` and they
    share any. ``separate_by="labels"`` applies this to the sets of (two or
    more distinct) class labels instead, so "dog followed by rain" never
    meets "rain followed by dog", as with free-form captions.

    Use it as SpeechBrain's ``batch_sampler`` (without ``batch_size`` and
    ``shuffle``). Batches are a pure function of (items, seed, epoch), so a
    mid-epoch resume is exact. The ``Brain`` calls ``set_epoch`` only on its
    own samplers: call :meth:`set_epoch` or pass the ``epoch_counter``.

    Arguments
    ---------
    items : dataset or sequence or mapping
        A dataset from ``make_clap_dataset`` (its ``rows``, in ``data_ids``
        order), any dataset with ``data_ids``, a sequence of rows / ids / id
        tuples, or ``{id: row}``.
    batch_size : int
        Items per batch.
    seed : int
        Shuffling seed.
    shuffle : bool
        Shuffle each epoch (else only conflicts move items).
    drop_last : bool
        Drop batches smaller than ``batch_size``.
    separate_reversed : bool
        Keep items over the same two source clips apart.
    distinct_sources : bool
        Keep items sharing any source clip apart.
    separate_by : str
        ``"sources"`` or ``"labels"`` (:func:`item_labels`; fewer than two
        distinct labels conflict with nothing).
    epoch_counter : object, optional
        Anything with a ``current`` epoch (``EpochCounter``); overrides
        :meth:`set_epoch`.

    Example
    -------
    >>> ids = ["a__b", "b__a", "c__d", "d__c", "e__f", "f__e"]
    >>> sampler = PairAwareBatchSampler(ids, batch_size=2, seed=3)
    >>> batches = list(sampler)
    >>> len(batches) == len(sampler) == 3
    True
    >>> any({ids[i] for i in b} in ({"a__b", "b__a"}, {"c__d", "d__c"}) for b in batches)
    False
    >>> sorted(i for b in batches for i in b)
    [0, 1, 2, 3, 4, 5]
    >>> sampler.set_epoch(1)
    >>> list(sampler) == list(sampler)
    True
    """

    def __init__(
        self,
        items: Any,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = False,
        separate_reversed: bool = True,
        distinct_sources: bool = False,
        epoch_counter: Optional[Any] = None,
        separate_by: str = "sources",
    ):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if separate_by not in ("sources", "labels"):
            raise ValueError(
                f"separate_by must be 'sources' or 'labels', got {separate_by!r}"
            )
        rows = _as_items(items)
        self.sources = [item_sources(item) for item in rows]
        if not self.sources:
            raise ValueError("PairAwareBatchSampler needs at least one item")
        if separate_by == "labels":
            self.pair_keys: List[FrozenSet[str]] = [
                _label_key(item, index) for index, item in enumerate(rows)
            ]
        else:
            self.pair_keys = [frozenset(s) for s in self.sources]
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.separate_reversed = bool(separate_reversed)
        self.distinct_sources = bool(distinct_sources)
        self.epoch_counter = epoch_counter
        self.epoch = 0
        self._cache: Optional[Tuple[int, List[List[int]]]] = None

    def set_epoch(self, epoch: int) -> None:
        """Select the shuffle of an epoch.

        Arguments
        ---------
        epoch : int
            Current epoch.
        """
        self.epoch = int(epoch)

    def current_epoch(self) -> int:
        """The epoch whose batches are produced now.

        Returns
        -------
        int
            ``epoch_counter.current`` if a counter was given, else the
            epoch last passed to :meth:`set_epoch`.
        """
        if self.epoch_counter is not None:
            return int(self.epoch_counter.current)
        return self.epoch

    def batches(self, epoch: Optional[int] = None) -> List[List[int]]:
        """All batches of an epoch (dataset indices).

        Arguments
        ---------
        epoch : int, optional
            Epoch; default :meth:`current_epoch`.

        Returns
        -------
        list of list of int
            The batches in order.
        """
        epoch = self.current_epoch() if epoch is None else int(epoch)
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        order = list(range(len(self.sources)))
        if self.shuffle:
            random.Random(f"{self.seed}-{epoch}").shuffle(order)
        batches = self._pack(order)
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        self._cache = (epoch, batches)
        return batches

    def __iter__(self) -> Iterator[List[int]]:
        return iter([list(b) for b in self.batches()])

    def __len__(self) -> int:
        return len(self.batches())

    def _conflicts(self, item: int, batch: Sequence[int]) -> bool:
        """Whether ``item`` may not join ``batch``."""
        key = self.pair_keys[item]
        others = [self.pair_keys[other] for other in batch]
        return (self.separate_reversed and key in others) or (
            self.distinct_sources and any(other & key for other in others)
        )

    def _pack(self, order: List[int]) -> List[List[int]]:
        """Greedy packing with a swap repair for the leftovers."""
        size = self.batch_size
        batches: List[List[int]] = []
        pending = deque(order)
        while pending:
            batch: List[int] = []
            deferred: List[int] = []
            while pending and len(batch) < size:
                item = pending.popleft()
                if self._conflicts(item, batch):
                    deferred.append(item)
                else:
                    batch.append(item)
            if not pending and deferred and len(batch) < size:
                deferred = self._repair(deferred, batch, batches)
            batches.append(batch)
            pending.extendleft(reversed(deferred))
        return batches

    def _repair(
        self, leftovers: List[int], batch: List[int], done: List[List[int]]
    ) -> List[int]:
        """Places leftovers in ``batch`` directly or by a swap with ``done``."""
        still: List[int] = []
        for item in leftovers:
            if len(batch) >= self.batch_size:
                still.append(item)
            elif not self._conflicts(item, batch):
                batch.append(item)
            elif not self._swap(item, batch, done):
                still.append(item)
        if still:
            logger.debug("PairAwareBatchSampler: %d items need an extra batch", len(still))
        return still

    def _swap(self, item: int, batch: List[int], done: List[List[int]]) -> bool:
        """Moves ``item`` into an earlier batch in exchange for one of its items."""
        for earlier in done:
            for position, other in enumerate(earlier):
                rest = earlier[:position] + earlier[position + 1 :]
                if self._conflicts(item, rest) or self._conflicts(other, batch):
                    continue
                earlier[position] = item
                batch.append(other)
                return True
        return False


def item_labels(item: Any) -> Tuple[str, ...]:
    """The class labels of a manifest row or a pair row, in order.

    Arguments
    ---------
    item : dict
        A row with ``labels`` (or ``events`` with ``label``), or a pair row
        whose ``a`` and ``b`` rows have them.

    Returns
    -------
    tuple of str
        The labels (empty when the row has none).

    Example
    -------
    >>> item_labels({"a": {"labels": ["dog"]}, "b": {"labels": ["rain"]}})
    ('dog', 'rain')
    >>> item_labels({"events": [{"label": "bell"}, {"label": "hiss"}]})
    ('bell', 'hiss')
    """
    if not isinstance(item, Mapping):
        return ()
    if isinstance(item.get("a"), Mapping) and isinstance(item.get("b"), Mapping):
        return item_labels(item["a"]) + item_labels(item["b"])
    if item.get("labels"):
        return tuple(str(label) for label in item["labels"])
    return tuple(str(event["label"]) for event in item.get("events") or ())


def _label_key(item: Any, index: int) -> FrozenSet[str]:
    """Conflict key by labels; a private key when fewer than two distinct."""
    labels = frozenset(item_labels(item))
    if len(labels) < 2:
        return frozenset({f"\0item-{index}"})
    return labels


def _as_items(items: Any) -> List[Any]:
    """The per-index items of a dataset, sequence or mapping."""
    data_ids = getattr(items, "data_ids", None)
    if data_ids is not None:
        rows = getattr(items, "rows", None)
        if isinstance(rows, Mapping):
            return [rows[data_id] for data_id in data_ids]
        return list(data_ids)
    if isinstance(items, Mapping):
        return [{**dict(row), "id": key} if isinstance(row, Mapping) else key
                for key, row in items.items()]
    if isinstance(items, (str, bytes)):
        raise TypeError("items must be a sequence of ids or rows, not a string")
    return list(items)


def item_durations(items: Any, max_seconds: Optional[float] = None) -> List[float]:
    """Duration in seconds of every item, from the manifest's ``duration``
    (a pair row without one: the sum of its two sources').

    Arguments
    ---------
    items : dataset or sequence or mapping
        As for :class:`PairAwareBatchSampler` (rows are needed).
    max_seconds : float, optional
        Cap of each duration (the model window: longer items are cropped).

    Returns
    -------
    list of float
        One duration per item, in dataset order.

    Raises
    ------
    ValueError
        When a row has no duration (the corpus preparations write one).

    Example
    -------
    >>> rows = {"a": {"duration": 3.0}, "b": {"duration": 12.5}}
    >>> item_durations(rows, max_seconds=10.0)
    [3.0, 10.0]
    """
    durations = [_row_duration(row, i) for i, row in enumerate(_as_items(items))]
    if max_seconds is not None:
        durations = [min(d, float(max_seconds)) for d in durations]
    return durations


def _row_duration(row: Any, index: int) -> float:
    """The ``duration`` of one row (or the sum of a pair's two sources)."""
    if isinstance(row, Mapping):
        if row.get("duration") not in (None, ""):
            return float(row["duration"])
        slots = [row.get(s) for s in ("a", "b")]
        if all(isinstance(s, Mapping) and s.get("duration") not in (None, "") for s in slots):
            return sum(float(s["duration"]) for s in slots)
    where = row.get("id", index) if isinstance(row, Mapping) else row
    raise ValueError(
        f"duration-bucketed batches need a 'duration' (seconds) in every "
        f"manifest row; row {where!r} has none"
    )


def duration_bucketed_sampler(
    items: Any,
    max_batch_seconds: float,
    num_buckets: int = 10,
    max_seconds: Optional[float] = None,
    max_batch_size: Optional[int] = None,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> DynamicBatchSampler:
    """SpeechBrain's ``DynamicBatchSampler`` over the items' durations.

    ``num_buckets`` buckets of equal count, by duration quantiles
    (SpeechBrain's default boundaries, spread up to ``max_batch_seconds``,
    would put every short clip in one bucket). A batch holds as many items as
    fit ``max_batch_seconds`` at its bucket's longest duration, padding
    included. Batches are a pure function of (items, seed, epoch).

    Arguments
    ---------
    items : dataset or sequence or mapping
        A dataset from ``make_clap_dataset`` or rows with ``duration``.
    max_batch_seconds : float
        Most audio seconds per batch, padding included.
    num_buckets : int
        Duration buckets (more: less padding, less mixing of lengths).
    max_seconds : float, optional
        The model window: longer clips count as this long.
    max_batch_size : int, optional
        Most items per batch (short clips would otherwise fill huge batches).
    shuffle : bool
        Reshuffle every epoch.
    seed : int
        Shuffling seed.
    drop_last : bool
        Drop the incomplete batch of each bucket.

    Returns
    -------
    speechbrain.dataio.sampler.DynamicBatchSampler
        The batch sampler (indices into ``items``).

    Example
    -------
    >>> rows = {f"c{i}": {"duration": float(d)} for i, d in enumerate([1, 9, 2, 8, 1, 9])}
    >>> sampler = duration_bucketed_sampler(rows, max_batch_seconds=18, num_buckets=2)
    >>> sorted(sorted(rows[f"c{i}"]["duration"] for i in b) for b in sampler)
    [[1.0, 1.0, 2.0], [8.0, 9.0], [9.0]]
    """
    if max_batch_seconds <= 0:
        raise ValueError(f"max_batch_seconds must be positive, got {max_batch_seconds}")
    if num_buckets < 1:
        raise ValueError(f"num_buckets must be at least 1, got {num_buckets}")
    durations = item_durations(items, max_seconds)
    if not durations:
        raise ValueError("duration_bucketed_sampler needs at least one item")
    if max(durations) > max_batch_seconds:
        raise ValueError(
            f"an item lasts {max(durations):g} s, more than max_batch_seconds="
            f"{max_batch_seconds:g}; raise it or set max_seconds to the model window"
        )
    ordered = sorted(durations)
    # Equal-count buckets: upper boundary of bucket k is the k-th quantile.
    boundaries = sorted(
        {ordered[max(0, (k * len(ordered)) // num_buckets - 1)]
         for k in range(1, num_buckets + 1)}
    )
    return DynamicBatchSampler(
        range(len(durations)),  # only its length is read
        max_batch_length=max_batch_seconds,
        bucket_boundaries=boundaries,
        lengths_list=durations,
        shuffle=shuffle,
        batch_ordering="random",
        max_batch_ex=max_batch_size,
        seed=seed,
        drop_last=drop_last,
    )


def loader_options_with_batch_sampler(
    loader_options: Mapping[str, Any], batch_sampler: Any
) -> Dict[str, Any]:
    """DataLoader options that use ``batch_sampler`` instead of a batch size
    (``batch_size``, ``shuffle``, ``sampler`` and ``drop_last`` removed: the
    ``DataLoader`` refuses them next to a batch sampler).

    Arguments
    ---------
    loader_options : mapping
        The recipe's ``train_dataloader_opts``.
    batch_sampler : Sampler
        Yields lists of dataset indices.

    Returns
    -------
    dict
        New options (the input is not modified).

    Example
    -------
    >>> opts = loader_options_with_batch_sampler(
    ...     {"batch_size": 8, "shuffle": True, "num_workers": 2}, [[0, 1]])
    >>> sorted(opts)
    ['batch_sampler', 'num_workers']
    """
    options = {
        k: v for k, v in loader_options.items()
        if k not in ("batch_size", "shuffle", "sampler", "drop_last")
    }
    options["batch_sampler"] = batch_sampler
    return options
