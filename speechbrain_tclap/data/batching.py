"""Batches of audio and text *views* for contrastive training.

A sample has one or more audio and text views, each with a *key*: the
normalised caption it is a positive for. :func:`collate_clap_samples` flattens
all views into one :class:`CLAPBatch`, keys becoming ids shared by audio and
text, so losses find positives by key equality (two clips with the same
caption are never pushed apart). Key ids hash the key text (:func:`key_to_id`),
so they mean the same on every rank and in every batch; view roles
(:class:`ViewRole`) are names on a sample and integer codes in a batch.

Authors
 * speechbrain-tclap developers 2026
"""

import enum
import functools
import hashlib
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from speechbrain_tclap.events import event_label, ordered_event_pairs


def caption_key(text: str) -> str:
    """Normalise a caption into the key used to match positives.

    Arguments
    ---------
    text : str
        A caption.

    Returns
    -------
    str
        Lower-cased, whitespace-collapsed caption without a final period.

    Example
    -------
    >>> caption_key("  A dog   barks. ")
    'a dog barks'
    """
    return " ".join(text.lower().split()).rstrip(".")


def key_to_id(key: str) -> int:
    """Stable 63-bit integer id of a caption key.

    The first 8 bytes of its BLAKE2b digest: the same on every rank, process
    and run (unlike ``hash``); collision probability ``~n**2 / 2**64`` for
    ``n`` distinct keys in a batch.

    Arguments
    ---------
    key : str
        A caption key (see :func:`caption_key`).

    Returns
    -------
    int
        In ``[0, 2**63)``.

    Example
    -------
    >>> key_to_id("a dog barks") == key_to_id(caption_key("A dog barks."))
    True
    >>> key_to_id("a dog barks") != key_to_id("a cat meows")
    True
    >>> 0 <= key_to_id("") < 2**63
    True
    """
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class ViewRole(enum.IntEnum):
    """What an audio or text view is to the losses: the one list of roles.

    Samples, YAML (``views: [main, reversed]``) and messages use lower-case
    names; batches, the gather across ranks and the losses use the codes.

    * ``MAIN``: the un-augmented view (the one the Brain evaluates);
    * ``SWAPPED``: an order-swapped caption (T-CLAP's extra negative);
    * ``REVERSED``: "B then A" audio and its caption;
    * ``OVERLAY``: A and B mixed, and its caption;
    * ``SINGLE``: one event alone (TeminAL stage A);
    * ``COMBINED``: TeminAL's "combined sound of A and B" (joint stage A + B);
    * ``ORDERED``: the ordered caption of a sample whose contrastive caption
      is order-free, read by ``L_t`` alone (kept out of ``L_c`` and retrieval).

    Example
    -------
    >>> ViewRole.of("reversed"), ViewRole.of(3), str(ViewRole.SWAPPED)
    (<ViewRole.REVERSED: 2>, <ViewRole.OVERLAY: 3>, 'swapped')
    >>> ViewRole.of("backwards")
    Traceback (most recent call last):
    ...
    ValueError: unknown view 'backwards'; choose from main, swapped, reversed, overlay, single, combined, ordered
    """

    MAIN = 0
    SWAPPED = 1
    REVERSED = 2
    OVERLAY = 3
    SINGLE = 4
    COMBINED = 5
    ORDERED = 6

    def __str__(self) -> str:
        return self.name.lower()

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    @classmethod
    def of(cls, view: Union[str, int, "ViewRole"]) -> "ViewRole":
        """The role of a name (any case), a code or a role.

        Arguments
        ---------
        view : str, int or ViewRole
            What to convert.

        Returns
        -------
        ViewRole
            The role.
        """
        try:
            if isinstance(view, str):
                return cls[view.upper()]
            return cls(int(view))
        except (KeyError, ValueError):
            choices = ", ".join(str(role) for role in cls)
            raise ValueError(f"unknown view {view!r}; choose from {choices}") from None


def view_codes(views: Sequence[Union[str, int]], device=None) -> torch.Tensor:
    """``LongTensor`` of the :class:`ViewRole` codes of view names or codes.

    Arguments
    ---------
    views : sequence of str, int or ViewRole
        One view per item.
    device : torch.device, optional
        Where to put the codes.

    Returns
    -------
    torch.Tensor
        ``(N,)`` long.

    Example
    -------
    >>> view_codes(["main", "reversed", ViewRole.OVERLAY])
    tensor([0, 2, 3])
    """
    codes = [int(ViewRole.of(v)) for v in views]
    return torch.tensor(codes, dtype=torch.long, device=device)


def view_names(codes: Union[torch.Tensor, Sequence[int]]) -> List[str]:
    """Names of :class:`ViewRole` codes (for messages and tests).

    Arguments
    ---------
    codes : torch.Tensor or sequence of int
        View codes.

    Returns
    -------
    list of str
        One name per code.

    Example
    -------
    >>> view_names(torch.tensor([0, 1]))
    ['main', 'swapped']
    """
    if torch.is_tensor(codes):
        codes = codes.tolist()
    return [str(ViewRole.of(c)) for c in codes]


@dataclass
class AudioView:
    """One audio item of a sample.

    Arguments
    ---------
    wav : torch.Tensor
        ``(L,)`` waveform.
    key : str
        Caption key this audio is a positive for.
    view : str or ViewRole
        View (:class:`ViewRole`), kept as its name.
    valid_samples : int, optional
        Real (non-padded) samples; default the whole waveform.

    Example
    -------
    >>> AudioView(torch.zeros(4), "a dog").valid_samples
    4
    >>> AudioView(torch.zeros(4), "a dog", ViewRole.REVERSED).view
    'reversed'
    """

    wav: torch.Tensor
    key: str
    view: str = "main"
    valid_samples: Optional[int] = None

    def __post_init__(self):
        self.view = str(ViewRole.of(self.view))
        if self.valid_samples is None:
            self.valid_samples = int(self.wav.shape[-1])


@dataclass
class TextView:
    """One text item of a sample.

    Arguments
    ---------
    text : str
        The caption fed to the text encoder.
    key : str, optional
        Positive key; default ``caption_key(text)``.
    view : str or ViewRole
        View name (see :class:`ViewRole`), kept as its name.
    negative : bool
        True for a text the contrastive loss and retrieval leave out (an
        order-swapped or an ``"ordered"`` caption).

    Example
    -------
    >>> TextView("A dog.").key
    'a dog'
    """

    text: str
    key: Optional[str] = None
    view: str = "main"
    negative: bool = False

    def __post_init__(self):
        self.view = str(ViewRole.of(self.view))
        if self.key is None:
            self.key = caption_key(self.text)


@dataclass
class CLAPSample:
    """Everything one manifest row contributes to a batch.

    Arguments
    ---------
    id : str
        Sample id.
    audio : list of AudioView
        Audio views.
    texts : list of TextView
        Text views.
    labels : list of str
        Class labels of the events in the sample (for zero-shot metrics).
    meta : dict
        Anything else (events with onsets, source ids, ...).

    Example
    -------
    >>> s = CLAPSample("x", [AudioView(torch.zeros(3), "a")], [TextView("a")])
    >>> len(s.audio), len(s.texts)
    (1, 1)
    """

    id: str
    audio: List[AudioView]
    texts: List[TextView]
    labels: List[str] = field(default_factory=list)
    meta: Dict[str, Any] = field(default_factory=dict)


class TensorFields:
    """Dataclass batches: move or pin every tensor field (the rest is kept).

    Example
    -------
    >>> sample = CLAPSample("x", [AudioView(torch.zeros(4), "k")], [TextView("t", "k")])
    >>> collate_clap_samples([sample]).to("cpu").wavs.shape
    torch.Size([1, 4])
    """

    def to(self, device):
        """A copy with every tensor field on ``device``.

        Arguments
        ---------
        device : str or torch.device
            Target device.

        Returns
        -------
        batch
            The moved batch, of the same type.
        """
        return replace(self, **{k: v.to(device) for k, v in self._tensors().items()})

    def pin_memory(self):
        """Pin tensor fields in place (DataLoader ``pin_memory=True`` support).

        Returns
        -------
        batch
            This batch, pinned.
        """
        for name, value in self._tensors().items():
            setattr(self, name, value.pin_memory())
        return self

    def _tensors(self) -> Dict[str, torch.Tensor]:
        """The tensor fields by name."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {k: v for k, v in values.items() if isinstance(v, torch.Tensor)}


@dataclass
class CLAPBatch(TensorFields):
    """A flattened batch of audio and text views.

    Arguments
    ---------
    ids : list of str
        Sample ids, length B.
    wavs : torch.Tensor
        ``(Na, L)`` zero-padded waveforms of all audio views.
    wav_lens : torch.Tensor
        ``(Na,)`` relative lengths.
    audio_sample : torch.Tensor
        ``(Na,)`` sample index of each audio view.
    audio_keys : torch.Tensor
        ``(Na,)`` integer key of each audio view (:func:`key_to_id`).
    audio_views : torch.Tensor
        ``(Na,)`` :class:`ViewRole` code of each audio view.
    texts : list of str
        All captions, length Nt.
    text_sample : torch.Tensor
        ``(Nt,)`` sample index of each text view.
    text_keys : torch.Tensor
        ``(Nt,)`` integer key of each text view (:func:`key_to_id`).
    text_views : torch.Tensor
        ``(Nt,)`` :class:`ViewRole` code of each text view.
    text_is_negative : torch.Tensor
        ``(Nt,)`` True for extra negatives.
    labels : list of list of str
        Labels of each sample.
    meta : list of dict
        Meta of each sample.
    num_skipped : int
        Samples dropped by the collate function (unreadable audio).

    Example
    -------
    >>> batch = collate_clap_samples([
    ...     CLAPSample("a", [AudioView(torch.ones(4), "dog")], [TextView("dog")]),
    ...     CLAPSample("b", [AudioView(torch.ones(2), "cat")], [TextView("cat")]),
    ... ])
    >>> batch.wavs.shape, batch.wav_lens.tolist()
    (torch.Size([2, 4]), [1.0, 0.5])
    >>> batch.audio_views == ViewRole.MAIN
    tensor([True, True])
    """

    ids: List[str]
    wavs: torch.Tensor
    wav_lens: torch.Tensor
    audio_sample: torch.Tensor
    audio_keys: torch.Tensor
    audio_views: torch.Tensor
    texts: List[str]
    text_sample: torch.Tensor
    text_keys: torch.Tensor
    text_views: torch.Tensor
    text_is_negative: torch.Tensor
    labels: List[List[str]]
    meta: List[Dict[str, Any]]
    num_skipped: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def ordered_event_pairs(self) -> List[Tuple[int, str, str]]:
        """Every two events of a main audio view that follow one another.

        From ``meta["view_events"]["main"]`` (events in the main view's time,
        written by the builders where known), paired as
        :func:`~speechbrain_tclap.events.ordered_event_pairs`.

        Returns
        -------
        list of (int, str, str)
            ``(audio row, first label, second label)``.

        Example
        -------
        >>> events = [dict(label="rain", onset=1.0, offset=2.0),
        ...           dict(label="dog", onset=0.0, offset=1.0)]
        >>> b = collate_clap_samples([CLAPSample("a", [AudioView(torch.ones(3), "x")],
        ...     [TextView("x")], meta={"view_events": {"main": events}})])
        >>> b.ordered_event_pairs()
        [(0, 'dog', 'rain')]
        """
        main_row = {}
        for row, (sample, view) in enumerate(zip(self.audio_sample.tolist(), self.audio_views.tolist())):
            if view == ViewRole.MAIN:
                main_row.setdefault(sample, row)
        return [
            (main_row[sample], event_label(first), event_label(second))
            for sample, meta in enumerate(self.meta)
            if sample in main_row
            for first, second in ordered_event_pairs(
                (meta.get("view_events") or {}).get("main") or []
            )
        ]


def collate_clap_samples(samples: Sequence[Optional[CLAPSample]]) -> CLAPBatch:
    """Flatten samples into a :class:`CLAPBatch`.

    ``None`` entries (unreadable audio, logged by the dataset) are dropped and
    counted in ``num_skipped``; keys become :func:`key_to_id` ids and views
    :class:`ViewRole` codes.

    Arguments
    ---------
    samples : sequence of CLAPSample or None
        The items of one batch.

    Returns
    -------
    CLAPBatch
        The flattened batch; empty (``len == 0``) when every sample failed.

    Example
    -------
    >>> s = CLAPSample("a", [AudioView(torch.ones(3), "dog")],
    ...     [TextView("dog"), TextView("cat", negative=True)])
    >>> b = collate_clap_samples([s, None])
    >>> (b.text_keys == b.audio_keys[0]).tolist(), b.text_is_negative.tolist()
    ([True, False], [False, True])
    >>> b.text_keys[1].item() == key_to_id("cat"), b.num_skipped
    (True, 1)
    """
    kept = [s for s in samples if s is not None]
    num_skipped = len(samples) - len(kept)
    key_id = functools.lru_cache(maxsize=None)(key_to_id)
    audio_items = [(i, a) for i, s in enumerate(kept) for a in s.audio]
    text_items = [(i, t) for i, s in enumerate(kept) for t in s.texts]
    audio_keys = [key_id(a.key) for _, a in audio_items]
    text_keys = [key_id(t.key) for _, t in text_items]

    max_len = max((a.wav.shape[-1] for _, a in audio_items), default=1)
    wavs = torch.zeros(len(audio_items), max_len)
    lens = torch.zeros(len(audio_items))
    for row, (_, a) in enumerate(audio_items):
        wavs[row, : a.wav.shape[-1]] = a.wav
        lens[row] = a.valid_samples / max_len
    return CLAPBatch(
        ids=[s.id for s in kept],
        wavs=wavs,
        wav_lens=lens,
        audio_sample=torch.tensor([i for i, _ in audio_items], dtype=torch.long),
        audio_keys=torch.tensor(audio_keys, dtype=torch.long),
        audio_views=view_codes([a.view for _, a in audio_items]),
        texts=[t.text for _, t in text_items],
        text_sample=torch.tensor([i for i, _ in text_items], dtype=torch.long),
        text_keys=torch.tensor(text_keys, dtype=torch.long),
        text_views=view_codes([t.view for _, t in text_items]),
        text_is_negative=torch.tensor(
            [t.negative for _, t in text_items], dtype=torch.bool
        ),
        labels=[list(s.labels) for s in kept],
        meta=[dict(s.meta) for s in kept],
        num_skipped=num_skipped,
    )
