"""Batches of audio and text *views* for contrastive training.

A sample is a clip (or a synthesised combination of clips) with one or more
audio views and one or more text views. Each view carries a *key*: the
normalised caption it is a positive for. The collate function flattens all
views of all samples into one :class:`CLAPBatch` and turns keys into integer
ids shared by audio and text, so losses find positives by key equality (two
clips with the same caption are never pushed apart, and an extra negative
caption can never be the positive of its own clip). Key ids are a hash of the
key text (:func:`key_to_id`), not a per-batch counter, so they mean the same
on every rank and in every batch (needed to gather negatives across ranks).

Authors
 * speechbrain-tclap developers 2026
"""

import hashlib
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Sequence

import torch


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

    The first 8 bytes of the key's BLAKE2b digest, as a non-negative
    ``int64``: the same on every rank, process and run (unlike ``hash``),
    with a collision probability of about ``n**2 / 2**64`` for ``n``
    distinct keys in one batch.

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


@dataclass
class AudioView:
    """One audio item of a sample.

    Arguments
    ---------
    wav : torch.Tensor
        ``(L,)`` waveform.
    key : str
        Caption key this audio is a positive for.
    view : str
        View name (``"main"``, ``"reversed"``, ``"overlay"``, ...).
    valid_samples : int, optional
        Real (non-padded) samples; default the whole waveform.

    Example
    -------
    >>> AudioView(torch.zeros(4), "a dog").valid_samples
    4
    """

    wav: torch.Tensor
    key: str
    view: str = "main"
    valid_samples: Optional[int] = None

    def __post_init__(self):
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
    view : str
        View name.
    negative : bool
        True for an extra negative (e.g. an order-swapped caption).

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


@dataclass
class CLAPBatch:
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
    audio_views : list of str
        View name of each audio view.
    texts : list of str
        All captions, length Nt.
    text_sample : torch.Tensor
        ``(Nt,)`` sample index of each text view.
    text_keys : torch.Tensor
        ``(Nt,)`` integer key of each text view (:func:`key_to_id`).
    text_views : list of str
        View name of each text view.
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
    """

    ids: List[str]
    wavs: torch.Tensor
    wav_lens: torch.Tensor
    audio_sample: torch.Tensor
    audio_keys: torch.Tensor
    audio_views: List[str]
    texts: List[str]
    text_sample: torch.Tensor
    text_keys: torch.Tensor
    text_views: List[str]
    text_is_negative: torch.Tensor
    labels: List[List[str]]
    meta: List[Dict[str, Any]]
    num_skipped: int = 0

    def to(self, device) -> "CLAPBatch":
        """Move every tensor field to ``device`` (returns a new batch).

        Arguments
        ---------
        device : str or torch.device
            Target device.

        Returns
        -------
        CLAPBatch
            The moved batch.
        """
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                value = value.to(device)
            moved[f.name] = value
        return CLAPBatch(**moved)

    def pin_memory(self) -> "CLAPBatch":
        """Pin tensor fields (DataLoader ``pin_memory=True`` support).

        Returns
        -------
        CLAPBatch
            The pinned batch.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                setattr(self, f.name, value.pin_memory())
        return self

    def __len__(self) -> int:
        return len(self.ids)


def collate_clap_samples(samples: Sequence[Optional[CLAPSample]]) -> CLAPBatch:
    """Flatten samples into a :class:`CLAPBatch`.

    ``None`` entries (samples whose audio could not be read, already logged
    by the dataset) are dropped and counted in ``num_skipped``. Keys become
    :func:`key_to_id` ids, independent of the batch and of the rank.

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
    key_ids: Dict[str, int] = {}

    def key_id(key: str) -> int:
        if key not in key_ids:
            key_ids[key] = key_to_id(key)
        return key_ids[key]

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
        audio_views=[a.view for _, a in audio_items],
        texts=[t.text for _, t in text_items],
        text_sample=torch.tensor([i for i, _ in text_items], dtype=torch.long),
        text_keys=torch.tensor(text_keys, dtype=torch.long),
        text_views=[t.view for _, t in text_items],
        text_is_negative=torch.tensor(
            [t.negative for _, t in text_items], dtype=torch.bool
        ),
        labels=[list(s.labels) for s in kept],
        meta=[dict(s.meta) for s in kept],
        num_skipped=num_skipped,
    )
