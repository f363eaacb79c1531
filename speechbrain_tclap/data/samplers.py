"""Batch samplers that keep conflicting pair samples apart.

With temporal pairs, a batch holding both (A, B) and its reverse (B, A)
contains the same two recordings in both orders: the swapped caption of one
is the positive caption of the other, and the model can match them by
recording identity instead of by order. :class:`PairAwareBatchSampler`
builds seeded batches in which no two items share the unordered pair of
source clips (and, optionally, no two items share any source clip).

Authors
 * speechbrain-tclap developers 2026
"""

import random
from collections import deque
from typing import Any, FrozenSet, Iterator, List, Mapping, Optional, Sequence, Tuple

from torch.utils.data import Sampler

from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.temporal import PAIR_SEPARATOR

logger = get_logger(__name__)


def item_sources(item: Any) -> Tuple[str, ...]:
    """The source clip ids of a dataset item.

    Arguments
    ---------
    item : dict or str or tuple
        A pair row (``a`` / ``b`` source rows with ids), another manifest
        row (its own ``id``), a pair id ``"<idA>__<idB>"`` (split at the
        first separator), a plain id, or a tuple of ids.

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
    (so the order depends only on seed and epoch) and packed greedily: an
    item that conflicts with the batch being filled waits for the next one.
    Items left over at the end that still conflict are swapped with an item
    of an earlier batch, so the number of batches stays ``ceil(N /
    batch_size)`` (``floor`` with ``drop_last``) except in degenerate cases
    (e.g. only a pair and its reverse left in the whole set).

    Two items conflict when ``separate_reversed`` and they use the same two
    source clips (in either order), or when ``distinct_sources`` and they
    share any source clip.

    Use it as SpeechBrain's ``batch_sampler`` (and drop ``batch_size`` and
    ``shuffle`` from the loader options). Resuming mid-epoch is exact:
    SpeechBrain's ``SaveableDataLoader`` skips the batches already seen, and
    the batches of an epoch are a pure function of (items, seed, epoch). The
    epoch must reach the sampler: SpeechBrain's ``Brain`` calls
    ``set_epoch`` only on samplers it made itself (or wraps for DDP), so
    either call :meth:`set_epoch` yourself or pass the recipe's
    ``epoch_counter``, which is read at every new iteration (and restored
    from checkpoints before the first one).

    Arguments
    ---------
    items : dataset or sequence or mapping
        A dataset from ``make_clap_dataset`` (its ``rows`` are read, in the
        dataset's ``data_ids`` order), any dataset with ``data_ids``, a
        sequence of pair rows / pair ids / id tuples, or ``{id: row}``.
    batch_size : int
        Items per batch.
    seed : int
        Shuffling seed.
    shuffle : bool
        Shuffle each epoch (otherwise the items keep their order and only
        conflicts move them).
    drop_last : bool
        Drop batches smaller than ``batch_size``.
    separate_reversed : bool
        Keep items over the same two source clips apart.
    distinct_sources : bool
        Keep items sharing any source clip apart.
    epoch_counter : object, optional
        Anything with a ``current`` epoch (SpeechBrain's ``EpochCounter``);
        when given it overrides :meth:`set_epoch`.

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
    ):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.sources = [item_sources(item) for item in _as_items(items)]
        if not self.sources:
            raise ValueError("PairAwareBatchSampler needs at least one item")
        self.pair_keys: List[FrozenSet[str]] = [frozenset(s) for s in self.sources]
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

    # -- packing ------------------------------------------------------------
    def _conflicts(self, item: int, batch: Sequence[int]) -> bool:
        """Whether ``item`` may not join ``batch``."""
        if self.separate_reversed:
            key = self.pair_keys[item]
            if any(self.pair_keys[other] == key for other in batch):
                return True
        if self.distinct_sources:
            key = self.pair_keys[item]
            if any(self.pair_keys[other] & key for other in batch):
                return True
        return False

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
