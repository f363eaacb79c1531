"""SpeechBrain datasets of CLAP samples built from manifests.

A :class:`ClipSampleBuilder` turns a manifest row into a
:class:`~speechbrain_tclap.data.batching.CLAPSample`: it reads the audio,
crops/pads it to the model window and takes captions from a *captioner*
chosen in YAML (:class:`ManifestCaptioner`: the manifest's captions;
:class:`EventCaptioner`: captions written from ``events``). Unreadable audio
is logged and skipped (the Brain counts skips), not fatal.

Authors
 * speechbrain-tclap developers 2026
"""

import random
from typing import Any, Dict, List, Optional

import torch

from speechbrain.dataio.dataset import DynamicItemDataset
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.audio import (
    PAD_MODES, AudioReadError, crop_or_pad, crop_start, read_audio
)
from speechbrain_tclap.data.batching import (
    AudioView, CLAPSample, TextView, collate_clap_samples
)
from speechbrain_tclap.data.manifest import check_audio_files, load_manifest
from speechbrain_tclap.data.captions import caption_for_events, contrastive_style

logger = get_logger(__name__)


def row_labels(row: Dict[str, Any]) -> List[str]:
    """Class labels of a manifest row, in event order.

    From ``labels``, else ``events``, else ``label`` / ``category``.

    Arguments
    ---------
    row : dict
        A manifest row.

    Returns
    -------
    list of str
        Labels (possibly empty).

    Example
    -------
    >>> row_labels({"events": [{"label": "dog", "onset": 0, "offset": 1}]})
    ['dog']
    """
    if row.get("labels"):
        return [str(x) for x in row["labels"]]
    if row.get("events"):
        return [str(e["label"]) for e in row["events"]]
    for key in ("label", "category"):
        if row.get(key) not in (None, ""):
            return [str(row[key])]
    return []


class ManifestCaptioner:
    """Captions from the manifest: one random caption when training, all else.

    Arguments
    ---------
    negatives : callable, optional
        ``(caption_id, caption) -> negative or None`` (e.g. a
        :class:`~speechbrain_tclap.data.caption_negatives.CaptionNegativeProvider`);
        enables :meth:`order_negatives`.

    Example
    -------
    >>> ManifestCaptioner()({"captions": ["a", "b"]}, train=False)
    ['a', 'b']
    """

    def __init__(self, negatives=None):
        self.negatives = negatives

    def _chosen(self, row, train, rng):
        """``[(index, caption)]``: one drawn when training, else all."""
        captions = row.get("captions") or [row["caption"]]
        if train:
            index = (rng or random).randrange(len(captions))
            return [(index, captions[index])]
        return list(enumerate(captions))

    def __call__(
        self, row: Dict[str, Any], train: bool, rng: Optional[random.Random] = None
    ) -> List[str]:
        """Return the positive captions of ``row``.

        Arguments
        ---------
        row : dict
            Manifest row with ``caption`` or ``captions``.
        train : bool
            Training picks one caption at random.
        rng : random.Random, optional
            Randomness of training.

        Returns
        -------
        list of str
            Captions.
        """
        return [caption for _, caption in self._chosen(row, train, rng)]

    def order_negatives(
        self, row: Dict[str, Any], train: bool, rng: Optional[random.Random] = None
    ) -> List[str]:
        """Order-swapped versions of the chosen captions (when they exist).

        Arguments
        ---------
        row : dict
            Manifest row.
        train : bool
            Training mode.
        rng : random.Random, optional
            In the state it had for :meth:`__call__` (same caption chosen).

        Returns
        -------
        list of str
            Negatives (possibly none).

        Example
        -------
        >>> from speechbrain_tclap.data.caption_negatives import CaptionNegativeProvider
        >>> cap = ManifestCaptioner(negatives=CaptionNegativeProvider())
        >>> cap.order_negatives({"id": "x", "caption": "a dog barks then a bell rings"}, False)
        ['a bell rings then a dog barks']
        """
        if self.negatives is None:
            return []
        chosen = self._chosen(row, train, rng)
        negatives = (self.negatives(f"{row.get('id')}#{i}", c) for i, c in chosen)
        return [negative for negative in negatives if negative]


class EventCaptioner:
    """Captions written from a row's ``events`` with a template set.

    Arguments
    ---------
    style : str
        ``"ordered"`` ("{A} followed by {B}"), ``"unordered"`` ("{A} and {B}",
        names sorted) or ``"unordered_with_ordered"`` (unordered, with the
        ordered one aside for the temporal loss: :meth:`ordered_captions`).
    random_template : bool
        Draw a template at random when training (evaluation uses the first).

    Example
    -------
    >>> events = [{"label": "dog_bark", "onset": 0.0, "offset": 1.0},
    ...           {"label": "bell", "onset": 1.2, "offset": 2.0}]
    >>> EventCaptioner("unordered")({"events": events}, train=False)
    ['bell and dog bark']
    """

    def __init__(self, style: str = "ordered", random_template: bool = True):
        self.contrastive_style = contrastive_style(style)  # what L_c reads
        self.style = style
        self.random_template = random_template

    def __call__(
        self, row: Dict[str, Any], train: bool, rng: Optional[random.Random] = None
    ) -> List[str]:
        """Return the positive caption of ``row``.

        Arguments
        ---------
        row : dict
            Manifest row with ``events``.
        train : bool
            Training may draw a random template.
        rng : random.Random, optional
            Randomness of training.

        Returns
        -------
        list of str
            One caption.
        """
        events = row.get("events")
        if not events:
            raise ValueError(
                f"EventCaptioner: row {row.get('id', '?')!r} has no 'events'"
            )
        return [caption_for_events(events, style=self.contrastive_style, rng=self._seed(train, rng))]

    def ordered_captions(
        self, row: Dict[str, Any], train: bool, rng: Optional[random.Random] = None
    ) -> List[str]:
        """The ordered caption that style ``"unordered_with_ordered"`` sets aside
        (for rows that have an order-swapped negative).

        Arguments
        ---------
        row : dict
            Manifest row with ``events``.
        train : bool
            Training may draw a random template.
        rng : random.Random, optional
            In the state it had for :meth:`__call__` (same template).

        Returns
        -------
        list of str
            Zero or one caption.

        Example
        -------
        >>> events = [{"label": "bell", "onset": 0.0, "offset": 1.0},
        ...           {"label": "hiss", "onset": 1.5, "offset": 2.0}]
        >>> cap = EventCaptioner("unordered_with_ordered")
        >>> cap({"events": events}, False), cap.ordered_captions({"events": events}, False)
        (['bell and hiss'], ['bell followed by hiss'])
        """
        if self.style != "unordered_with_ordered":
            return []
        return self._ordered_caption(row, train, rng, swap=False)

    def _ordered_caption(self, row, train, rng, swap: bool) -> List[str]:
        """The row's ordered caption, in time order or swapped; none when the
        style is order-free or the reversed order reads the same."""
        events = sorted(row.get("events") or [], key=lambda e: float(e["onset"]))
        labels = [e["label"] for e in events]
        if self.style == "unordered" or labels == labels[::-1]:
            return []
        if swap:
            events = [dict(e, label=label) for e, label in zip(events, labels[::-1])]
        return [caption_for_events(events, style="ordered", rng=self._seed(train, rng))]

    def _seed(self, train, rng):
        """The template draw's seed (None: the first template)."""
        if train and self.random_template:
            return (rng or random).randrange(2**31)
        return None

    def order_negatives(
        self, row: Dict[str, Any], train: bool, rng: Optional[random.Random] = None
    ) -> List[str]:
        """The order-swapped caption of a multi-event row (T-CLAP's negative).

        The labels are reversed in time ("A followed by B" -> "B followed by
        A", same template). None for rows that read the same reversed (one
        event, a palindrome of labels) or style ``"unordered"``; style
        ``"unordered_with_ordered"`` swaps its ordered caption.

        Arguments
        ---------
        row : dict
            Manifest row with ``events``.
        train : bool
            Training may draw a random template.
        rng : random.Random, optional
            In the state it had for :meth:`__call__` (same template).

        Returns
        -------
        list of str
            Zero or one caption.

        Example
        -------
        >>> events = [{"label": "bell", "onset": 0.0, "offset": 1.0},
        ...           {"label": "hiss", "onset": 1.5, "offset": 2.0}]
        >>> EventCaptioner().order_negatives({"events": events}, train=False)
        ['hiss followed by bell']
        """
        return self._ordered_caption(row, train, rng, swap=True)


class EpochSeededBuilder:
    """Training randomness that depends only on (seed, epoch, sample id), so a
    run resumed mid-epoch draws what the uninterrupted run drew.

    Example
    -------
    >>> b = EpochSeededBuilder()
    >>> b.seed, b.epoch = 1, 2
    >>> b.sample_rng("x").random() == EpochSeededBuilder.sample_rng(b, "x").random()
    True
    """

    seed: int = 0
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of an epoch (the Brain calls this).

        Arguments
        ---------
        epoch : int
            Current epoch.
        """
        self.epoch = int(epoch)

    def sample_rng(self, sample_id: str) -> random.Random:
        """A generator seeded by (seed, epoch, sample id).

        Arguments
        ---------
        sample_id : str
            The sample's id.

        Returns
        -------
        random.Random
            A fresh generator.
        """
        return random.Random(f"{self.seed}-{self.epoch}-{sample_id}")


class ClipSampleBuilder(EpochSeededBuilder):
    """Turn a manifest row into a :class:`CLAPSample` with one audio view.

    Arguments
    ---------
    sample_rate : int
        Model sample rate (another file rate is an error unless ``resample``).
    clip_seconds : float
        Model window; audio is cropped or padded to it.
    captioner : callable, optional
        ``(row, train, rng) -> list of captions``; default
        :class:`ManifestCaptioner`.
    train_crop : str
        Crop policy while training (``"random"``, ``"loudest"``, ...).
    eval_crop : str
        Crop policy for evaluation (deterministic).
    pad : str
        ``"zero"`` (masked by the model), ``"repeat"``, or ``"none"`` (a
        shorter clip keeps its length; the batch is padded to its longest
        clip: pair it with
        :func:`~speechbrain_tclap.data.samplers.duration_bucketed_sampler`).
    resample : bool
        Resample files whose rate differs.
    order_negatives : bool
        Add the captioner's order-swapped caption as an extra negative text
        (T-CLAP), and its ``ordered_captions`` if it has them (view
        ``"ordered"``, for the temporal loss alone).
    seed : int
        Base seed of the training randomness (crop, caption template).

    Example
    -------
    >>> import soundfile, numpy
    >>> path = getfixture("tmpdir") / "a.wav"
    >>> soundfile.write(str(path), numpy.zeros(8000, "float32"), 16000)
    >>> build = ClipSampleBuilder(16000, 1.0)
    >>> s = build({"id": "a", "wav": str(path), "caption": "silence"}, train=False)
    >>> s.audio[0].wav.shape, s.audio[0].valid_samples, s.texts[0].text
    (torch.Size([16000]), 8000, 'silence')
    """

    def __init__(
        self,
        sample_rate: int,
        clip_seconds: float,
        captioner=None,
        train_crop: str = "random",
        eval_crop: str = "left",
        pad: str = "zero",
        resample: bool = False,
        order_negatives: bool = False,
        seed: int = 0,
    ):
        self.sample_rate = sample_rate
        self.order_negatives = order_negatives
        self.num_samples = int(round(clip_seconds * sample_rate))
        self.captioner = captioner or ManifestCaptioner()
        self.train_crop = train_crop
        self.eval_crop = eval_crop
        if pad not in PAD_MODES + ("none",):
            raise ValueError(f"pad must be one of {PAD_MODES + ('none',)}, got {pad!r}")
        self.pad = pad
        self.resample = resample
        self.seed = seed
        self.epoch = 0

    def __call__(self, row: Dict[str, Any], train: bool) -> Optional[CLAPSample]:
        """Build the sample, or log and return None when the audio is unusable.

        Arguments
        ---------
        row : dict
            Manifest row with ``id`` and ``wav``.
        train : bool
            Training mode (random crop and caption choice).

        Returns
        -------
        CLAPSample or None
            The sample.
        """
        rng = self.sample_rng(row["id"])
        generator = torch.Generator().manual_seed(rng.randrange(2**62))
        crop = self.train_crop if train else self.eval_crop

        cropped = False

        def window(length):  # resample only the crop (not for "loudest")
            nonlocal cropped
            if crop == "loudest" or length <= self.num_samples:
                return None
            cropped = True
            return crop_start(length, self.num_samples, crop, generator), self.num_samples

        try:
            wav = read_audio(row["wav"], self.sample_rate, resample=self.resample, window=window)
        except AudioReadError as err:
            logger.warning("skipping sample %s: %s", row.get("id"), err)
            return None
        wav_samples = wav.shape[-1]
        if self.pad == "none" and wav.shape[-1] <= self.num_samples:
            valid = wav.shape[-1]
        else:
            pad = "zero" if self.pad == "none" else self.pad
            wav, valid = crop_or_pad(
                wav, self.num_samples, crop=crop, pad=pad, generator=generator
            )
        state = rng.getstate()
        captions = self.captioner(row, train, rng)
        texts = [TextView(c) for c in captions]
        if self.order_negatives:
            ordered = getattr(self.captioner, "ordered_captions", None)
            if ordered is not None:
                rng.setstate(state)  # one template for the ordered and swapped captions
                texts += [TextView(c, view="ordered", negative=True) for c in ordered(row, train, rng)]
            rng.setstate(state)  # the same template for the swapped caption
            texts += [
                TextView(c, view="swapped", negative=True)
                for c in self.captioner.order_negatives(row, train, rng)
            ]
        audio = [AudioView(wav, key=texts[0].key, valid_samples=valid)]
        meta = {k: row[k] for k in ("events", "duration") if k in row}
        if "events" in row and not cropped and wav_samples <= self.num_samples:
            # The view is the whole clip: its events keep their times.
            meta["view_events"] = {"main": list(row["events"])}
        return CLAPSample(row["id"], audio, texts, row_labels(row), meta)


class MixedSampleBuilder:
    """Dispatch rows to a pair builder (rows with ``a`` and ``b``) or a clip
    builder, so one dataset holds single clips and synthesised pairs.

    Arguments
    ---------
    clip_builder : callable
        Builder for single-clip rows.
    pair_builder : callable
        Builder for pair rows.

    Example
    -------
    >>> build = MixedSampleBuilder(lambda r, t: "clip", lambda r, t: "pair")
    >>> build({"id": "x", "wav": "x.wav"}, False), build({"a": {}, "b": {}}, False)
    ('clip', 'pair')
    """

    def __init__(self, clip_builder, pair_builder):
        self.clip_builder = clip_builder
        self.pair_builder = pair_builder

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to both builders.

        Arguments
        ---------
        epoch : int
            Current epoch.
        """
        for builder in (self.clip_builder, self.pair_builder):
            if hasattr(builder, "set_epoch"):
                builder.set_epoch(epoch)

    def __call__(self, row: Dict[str, Any], train: bool):
        """Build the sample with the builder that fits the row.

        Arguments
        ---------
        row : dict
            Manifest row.
        train : bool
            Training mode.

        Returns
        -------
        CLAPSample or None
            The sample.
        """
        if "a" in row and "b" in row:
            return self.pair_builder(row, train)
        return self.clip_builder(row, train)


def make_clap_dataset(
    manifest_path: str,
    sample_builder,
    train: bool,
    replacements: Optional[Dict[str, str]] = None,
    required=("id", "wav"),
) -> DynamicItemDataset:
    """A SpeechBrain ``DynamicItemDataset`` whose output key is ``"sample"``.

    The manifest and its audio files are checked up front, so a bad manifest
    fails at start-up, not hours into training.

    Arguments
    ---------
    manifest_path : str
        CSV or JSON manifest.
    sample_builder : callable
        ``(row, train) -> CLAPSample or None`` (e.g. :class:`ClipSampleBuilder`).
    train : bool
        Whether the dataset is used for training.
    replacements : dict, optional
        ``$placeholder`` values for paths in the manifest.
    required : tuple of str
        Columns every row must have.

    Returns
    -------
    speechbrain.dataio.dataset.DynamicItemDataset
        Dataset yielding ``{"sample": CLAPSample or None}``.

    Example
    -------
    >>> import soundfile, numpy, json
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.wav"), numpy.zeros(800, "float32"), 16000)
    >>> _ = (tmp / "m.json").write(json.dumps(
    ...     {"a": {"wav": str(tmp / "a.wav"), "caption": "quiet"}}))
    >>> ds = make_clap_dataset(str(tmp / "m.json"),
    ...     ClipSampleBuilder(16000, 0.1), train=False)
    >>> ds[0]["sample"].id
    'a'
    """
    rows = load_manifest(manifest_path, required=required, replacements=replacements)
    check_audio_files(manifest_path, rows)
    data = {key: {} for key in rows}

    def build(sample_id):
        return sample_builder(rows[sample_id], train)

    dataset = DynamicItemDataset(
        data,
        dynamic_items=[{"func": build, "takes": ["id"], "provides": "sample"}],
        output_keys=["sample"],
    )
    dataset.rows = rows
    return dataset


def collate_dataset_items(items: List[Dict[str, Any]]):
    """Collate ``{"sample": ...}`` items from :func:`make_clap_dataset`.

    Arguments
    ---------
    items : list of dict
        Dataset outputs.

    Returns
    -------
    CLAPBatch
        The flattened batch.

    Example
    -------
    >>> import torch
    >>> s = CLAPSample("a", [AudioView(torch.ones(2), "x")], [TextView("x")])
    >>> collate_dataset_items([{"sample": s}]).ids
    ['a']
    """
    return collate_clap_samples([item["sample"] for item in items])
