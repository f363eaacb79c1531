"""WebDataset tar shards of a manifest: writing them, and streaming them to the Brain.

Large corpora (WavCaps, LAION-Audio-630K, AudioSet) are read from a few
hundred tar files rather than file by file, in the layout LAION-CLAP and
open_clip read with ``webdataset``: per sample, ``<key>.flac`` (the source
file's bytes, its own extension kept) and ``<key>.json`` with ``text``
(captions), ``tag`` (labels) and ``original_data`` (the manifest row, audio
paths replaced by member names); a pair row's clips are ``<key>.a.flac`` and
``<key>.b.flac``; ``sizes.json`` gives each shard's sample count.

:func:`write_shards` (``python -m speechbrain_tclap.data.shards write MANIFEST
OUT_DIR --shard-size N``) writes them; :class:`ShardDataset` streams them (and
foreign LAION-CLAP shards) through the same sample builder as
:func:`~speechbrain_tclap.data.datasets.make_clap_dataset`.

Order of an epoch: the shards (shuffled per epoch when asked), their samples
in order; under DDP each rank takes an equal contiguous part (the last ranks
wrap around, as ``DistributedSampler`` pads); the rank's batches are dealt to
the loader workers in turn (batch ``j`` to worker ``j % num_workers``), each
of which may shuffle its samples with a seeded buffer.

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import bisect
import glob
import io
import json
import math
import os
import random
import re
import tarfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import torch

from speechbrain_tclap.data.captions import DEFAULT_PROMPT_TEMPLATE
from speechbrain_tclap.data.datasets import row_labels
from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.data.manifest import ManifestError, load_manifest

#: Sample counts of the shards of a folder (LAION-CLAP's file).
SIZES_FILE = "sizes.json"
#: Member extensions read as audio (anything libsndfile decodes).
AUDIO_EXTENSIONS = ("flac", "wav", "ogg", "mp3", "opus", "aiff", "au")


def write_shards(
    manifest_path: str,
    out_dir: str,
    shard_size: int = 512,
    prefix: str = "shard",
    replacements: Optional[Dict[str, str]] = None,
) -> List[str]:
    """Writes a manifest's rows, with their audio files, as tar shards.

    Rows go in manifest order, ``shard_size`` per ``<prefix>-000000.tar``,
    audio bytes unchanged. Keys are the ids with characters other than
    letters, digits, ``-``, ``_`` and ``@`` replaced (``webdataset`` splits a
    key at its first dot); the id stays in ``original_data``.

    Arguments
    ---------
    manifest_path : str
        CSV or JSON manifest (:func:`~speechbrain_tclap.data.manifest.load_manifest`).
    out_dir : str
        Output folder (created).
    shard_size : int
        Samples per shard.
    prefix : str
        Shard file name prefix.
    replacements : dict, optional
        ``$placeholder`` values for the manifest's paths.

    Returns
    -------
    list of str
        The shard paths.

    Raises
    ------
    ManifestError
        When a row has no audio file, or one with an unknown extension.

    Example
    -------
    >>> import soundfile, numpy
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.flac"), numpy.zeros(800, "float32"), 16000)
    >>> _ = (tmp / "m.json").write(json.dumps(
    ...     {"a.1": {"wav": str(tmp / "a.flac"), "caption": "quiet", "labels": ["silence"]}}))
    >>> paths = write_shards(str(tmp / "m.json"), str(tmp / "shards"), shard_size=4)
    >>> with tarfile.open(paths[0]) as tar:
    ...     print(tar.getnames())
    ...     print(json.load(tar.extractfile("a_1.json"))["text"])
    ['a_1.flac', 'a_1.json']
    ['quiet']
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    rows = load_manifest(manifest_path, required=("id",), replacements=replacements)
    os.makedirs(out_dir, exist_ok=True)
    keys = set()
    sizes, paths, tar = {}, [], None
    for index, row in enumerate(rows.values()):
        if index % shard_size == 0:
            if tar is not None:
                tar.close()
            paths.append(os.path.join(out_dir, f"{prefix}-{len(paths):06d}.tar"))
            tar = tarfile.open(paths[-1], "w", format=tarfile.PAX_FORMAT)
        key = re.sub(r"[^\w\-@]", "_", row["id"])
        key = key if key not in keys else f"{key}-{index}"
        keys.add(key)
        stored = json.loads(json.dumps(row))
        members = {}
        for slot, holder in _audio_slots(stored):
            ext = os.path.splitext(holder["wav"])[1].lstrip(".").lower()
            if ext not in AUDIO_EXTENSIONS:
                raise ManifestError(
                    manifest_path,
                    f"audio file {holder['wav']!r} has no known audio extension "
                    f"{AUDIO_EXTENSIONS}",
                    row=f"row {row['id']!r}",
                )
            member = ".".join(slot + (ext,))
            with open(holder["wav"], "rb") as f:
                members[member] = f.read()
            holder["wav"] = member
        if not members:
            raise ManifestError(
                manifest_path, "row has no audio file ('wav')", row=f"row {row['id']!r}"
            )
        members["json"] = json.dumps(
            {"text": _texts(row), "tag": row_labels(row), "original_data": stored},
            ensure_ascii=False,
        ).encode("utf-8")
        for member, data in members.items():
            info = tarfile.TarInfo(f"{key}.{member}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        name = os.path.basename(paths[-1])
        sizes[name] = sizes.get(name, 0) + 1
    tar.close()
    with open(os.path.join(out_dir, SIZES_FILE), "w", encoding="utf-8") as f:
        json.dump(sizes, f, indent=1)
    return paths


def _audio_slots(row: Dict[str, Any]):
    """``(slot, holder)`` per audio path: ``()`` for ``row["wav"]``, ``("a",)``
    for ``row["a"]["wav"]``."""
    if isinstance(row.get("wav"), str):
        yield (), row
    for name, value in row.items():
        if isinstance(value, dict) and isinstance(value.get("wav"), str):
            yield (name,), value


def _texts(row: Dict[str, Any]) -> List[str]:
    """LAION-CLAP's ``text``: the captions, else a prompt naming the labels."""
    if row.get("captions"):
        return list(row["captions"])
    if row.get("caption"):
        return [row["caption"]]
    labels = row_labels(row)
    names = " and ".join(readable_label(label) for label in labels)
    return [DEFAULT_PROMPT_TEMPLATE.format(names)] if labels else []


def read_shard(path: str, wanted: Optional[Sequence[int]] = None, audio: bool = True):
    """Rows of a shard, in order, their audio as :class:`ShardMember` references.

    Arguments
    ---------
    path : str
        A tar shard.
    wanted : sequence of int, optional
        Increasing indices of the samples to read (the others' data is not
        read). None: every sample.
    audio : bool
        Read the audio members (False: the JSON only).

    Yields
    ------
    dict
        A manifest row: ``original_data`` (foreign shards: ``id`` from the
        key, ``captions`` from ``text``, ``labels`` from ``tag``), each
        ``wav`` a :class:`ShardMember` named ``<shard>:<member>``.

    Example
    -------
    >>> import soundfile, numpy
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.wav"), numpy.zeros(800, "float32"), 16000)
    >>> _ = (tmp / "m.json").write(json.dumps({"a": {"wav": str(tmp / "a.wav"), "caption": "hush"}}))
    >>> [shard] = write_shards(str(tmp / "m.json"), str(tmp / "out"))
    >>> row = next(read_shard(shard))
    >>> row["id"], row["caption"], row["wav"].name.endswith(".tar:a.wav")
    ('a', 'hush', True)
    """
    wanted = None if wanted is None else iter(wanted)
    target = None if wanted is None else next(wanted, None)
    index, key, members = -1, None, {}
    with tarfile.open(path, "r:") as tar:  # seekable: skipped data is not read
        for member in tar:
            name = os.path.basename(member.name)
            if not member.isfile() or "." not in name:
                continue
            member_key, ext = name.split(".", 1)
            if member_key != key:
                if members:
                    yield _row(path, key, members)
                index, key, members = index + 1, member_key, {}
                if wanted is not None:
                    if target is not None and index > target:
                        target = next(wanted, None)
                    if target is None:
                        return
            if wanted is not None and index != target:
                continue
            if ext == "json":
                members[ext] = tar.extractfile(member).read()
            elif audio and ext.rsplit(".", 1)[-1] in AUDIO_EXTENSIONS:
                members[ext] = ShardMember(path, member.offset_data, member.size, name)
        if members:
            yield _row(path, key, members)


def _row(path: str, key: str, members: Dict[str, bytes]) -> Dict[str, Any]:
    """A manifest row from a sample's members."""
    if "json" not in members:
        raise ValueError(f"{path}: sample {key!r} has no .json member")
    meta = json.loads(members.pop("json"))
    row = meta.get("original_data")
    if not isinstance(row, dict) or "id" not in row:  # a foreign shard
        text = meta.get("text") or []
        row = {"id": key, "captions": [text] if isinstance(text, str) else list(text)}
        if meta.get("tag"):
            row["labels"] = list(meta["tag"])
        if not row["captions"]:
            del row["captions"]
    for ext, audio in members.items():
        slot = ext.split(".")[:-1]
        holder = row[slot[0]] if slot else row
        holder["wav"] = audio
    return row


class ShardMember(io.RawIOBase):
    """An audio member of a tar shard, read in place when it is decoded.

    Rows (and a shuffle buffer) hold this reference, not the audio.
    :func:`~speechbrain_tclap.data.audio.read_audio` decodes a FLAC member
    that states its length from a descriptor of the shard
    (:meth:`open_descriptor`), any other member from its bytes.

    Arguments
    ---------
    path : str
        The shard file.
    offset : int
        Byte offset of the member's data in the file.
    size : int
        The member's size in bytes.
    member : str
        The member's name (errors name ``<shard>:<member>``).

    Example
    -------
    >>> path = getfixture("tmpdir") / "f.bin"
    >>> _ = path.write_binary(b"headerDATA!trailer")
    >>> ShardMember(str(path), 6, 5, "x.flac").read()
    b'DATA!'
    """

    def __init__(self, path: str, offset: int, size: int, member: str):
        super().__init__()
        self.path, self.offset, self.size = path, offset, size
        self.name = f"{path}:{member}"
        self._position, self._file = 0, None

    def readable(self) -> bool:
        """Readable: yes."""
        return True

    def seekable(self) -> bool:
        """Seekable: yes."""
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move within the member (``io`` semantics)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        """Position within the member."""
        return self._position

    def readinto(self, buffer) -> int:
        """Read into ``buffer`` from the shard file; returns the bytes read."""
        if self._file is None:
            self._file = open(self.path, "rb", buffering=0)
        count = max(0, min(len(buffer), self.size - self._position))
        self._file.seek(self.offset + self._position)
        got = self._file.readinto(memoryview(buffer).cast("B")[:count]) or 0
        self._position += got
        return got

    def open_descriptor(self) -> Optional[int]:
        """A new descriptor of the shard at the member's start, or None.

        Only for a FLAC member whose STREAMINFO gives the total sample count
        (nothing after the member is then read); the caller closes it.

        Returns
        -------
        int or None
            The descriptor.
        """
        if not self.name.lower().endswith(".flac"):
            return None
        fd = os.open(self.path, os.O_RDONLY)
        os.lseek(fd, self.offset, os.SEEK_SET)
        head = os.read(fd, 26)  # "fLaC", block header, STREAMINFO up to the count
        total = int.from_bytes(head[18:26], "big") & ((1 << 36) - 1) if len(head) == 26 else 0
        if head[:4] != b"fLaC" or head[4] & 0x7F != 0 or total == 0:
            os.close(fd)
            return None
        os.lseek(fd, self.offset, os.SEEK_SET)
        return fd

    def readall(self) -> bytes:
        """The rest of the member, in one read."""
        with open(self.path, "rb", buffering=0) as f:
            f.seek(self.offset + self._position)
            data = f.read(self.size - self._position)
        self._position += len(data)
        return data

    def close(self) -> None:
        """Close the shard file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


def shard_sizes(paths: Sequence[str]) -> List[int]:
    """Sample counts of shards: from ``sizes.json`` beside them, else counted.

    Arguments
    ---------
    paths : sequence of str
        Shard files.

    Returns
    -------
    list of int
        One count per shard.

    Example
    -------
    >>> import soundfile, numpy
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.wav"), numpy.zeros(8, "float32"), 16000)
    >>> rows = {k: {"wav": str(tmp / "a.wav"), "caption": k} for k in "abc"}
    >>> _ = (tmp / "m.json").write(json.dumps(rows))
    >>> shard_sizes(write_shards(str(tmp / "m.json"), str(tmp / "out"), shard_size=2))
    [2, 1]
    """
    listed: Dict[str, Dict[str, int]] = {}
    counts = []
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in listed:
            sizes_path = os.path.join(folder, SIZES_FILE)
            listed[folder] = {}
            if os.path.isfile(sizes_path):
                with open(sizes_path, encoding="utf-8") as f:
                    listed[folder] = json.load(f)
        count = listed[folder].get(os.path.basename(path))
        if count is None:
            count = sum(1 for _ in read_shard(path, audio=False))
        counts.append(int(count))
    return counts


class ShardDataset(torch.utils.data.IterableDataset):
    """Streams CLAP samples from tar shards, split across DDP ranks and workers.

    Yields ``{"sample": CLAPSample or None}`` like
    :func:`~speechbrain_tclap.data.datasets.make_clap_dataset` (collate with
    :func:`~speechbrain_tclap.data.datasets.collate_dataset_items`); epoch
    order as in the module docstring. Each rank yields ``ceil(N /
    world_size)`` samples, so ranks take equal steps (up to ``world_size - 1``
    samples are read twice). :meth:`set_epoch` sets the epoch and a resume
    (:class:`~speechbrain_tclap.brain.CLAPBrain` calls it; other loops must).

    Arguments
    ---------
    shards : str or list of str
        A glob pattern (``folder/*.tar``) or shard paths; sorted.
    sample_builder : callable
        ``(row, train) -> CLAPSample or None``, as for manifests.
    train : bool
        Training mode of the builder.
    batch_size : int
        The loader's batch size (batches are dealt to the workers whole).
    shuffle_shards : bool
        Shuffle the shard order each epoch (seeded by seed and epoch).
    shuffle_buffer : int
        Per-worker buffer of rows drawn from at random; 0 or 1 keeps the order.
    seed : int
        Seed of the shuffles.
    rank, world_size : int, optional
        DDP rank and number of ranks (default: ``torch.distributed``'s, else
        0 and 1).

    Example
    -------
    >>> import soundfile, numpy
    >>> from speechbrain_tclap.data.datasets import ClipSampleBuilder
    >>> tmp = getfixture("tmpdir")
    >>> rows = {}
    >>> for k in "abc":
    ...     soundfile.write(str(tmp / f"{k}.wav"), numpy.zeros(1600, "float32"), 16000)
    ...     rows[k] = {"wav": str(tmp / f"{k}.wav"), "caption": f"clip {k}"}
    >>> _ = (tmp / "m.json").write(json.dumps(rows))
    >>> _ = write_shards(str(tmp / "m.json"), str(tmp / "out"), shard_size=2)
    >>> data = ShardDataset(str(tmp / "out" / "*.tar"), ClipSampleBuilder(16000, 0.05), train=False)
    >>> len(data), [item["sample"].id for item in data]
    (3, ['a', 'b', 'c'])
    """

    def __init__(
        self,
        shards: Union[str, Sequence[str]],
        sample_builder,
        train: bool = True,
        batch_size: int = 1,
        shuffle_shards: bool = False,
        shuffle_buffer: int = 0,
        seed: int = 0,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
    ):
        super().__init__()
        if isinstance(shards, str):
            paths = sorted(glob.glob(shards))
            if not paths:
                raise FileNotFoundError(f"no shard matches {shards!r}")
        else:
            paths = sorted(shards)
        self.paths = paths
        self.sizes = shard_sizes(paths)
        self.sample_builder = sample_builder
        self.train = train
        self.batch_size = int(batch_size)
        self.shuffle_shards = shuffle_shards
        self.shuffle_buffer = int(shuffle_buffer)
        self.seed = seed
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        self.rank = rank if rank is not None else (torch.distributed.get_rank() if distributed else 0)
        self.world_size = world_size or (torch.distributed.get_world_size() if distributed else 1)
        self.epoch = 0
        self.batches_done = 0
        self._rows = None

    def set_epoch(self, epoch: int, batches_done: int = 0) -> None:
        """Select the epoch's order; skip the batches a resumed run already took.

        The next pass yields exactly the batches the uninterrupted epoch
        would have yielded after ``batches_done`` (same loader ``batch_size``
        and ``num_workers``). With a shuffle buffer the skipped samples' JSON
        (not audio) is re-read to replay the buffer.

        Arguments
        ---------
        epoch : int
            Current epoch.
        batches_done : int
            Batches of this epoch this rank has already trained on.
        """
        self.epoch = int(epoch)
        self.batches_done = int(batches_done)

    def __len__(self) -> int:
        """Samples this rank yields per epoch."""
        total = sum(self.sizes)
        return total if self.world_size == 1 else math.ceil(total / self.world_size)

    @property
    def rows(self) -> Dict[str, Dict[str, Any]]:
        """``{id: row}`` of every sample (JSON members only; read on first use)."""
        if self._rows is None:
            self._rows = {
                row["id"]: row for path in self.paths for row in read_shard(path, audio=False)
            }
        return self._rows

    def worker_positions(self, worker: int, num_workers: int) -> List[int]:
        """Indices into the epoch's sample sequence that a worker reads, in order.

        Arguments
        ---------
        worker : int
            Worker id.
        num_workers : int
            Workers of the loader (1 without workers).

        Returns
        -------
        list of int
            Positions in the concatenation of the epoch's shard order.
        """
        total, per_rank = sum(self.sizes), len(self)
        start = self.rank * per_rank
        rank_positions = [(start + i) % total for i in range(per_rank)]
        batches = range(worker, math.ceil(per_rank / self.batch_size), num_workers)
        return [
            p for b in batches
            for p in rank_positions[b * self.batch_size : (b + 1) * self.batch_size]
        ]

    def shard_order(self) -> List[int]:
        """The epoch's shard order (indices into ``paths``)."""
        order = list(range(len(self.paths)))
        if self.shuffle_shards:
            random.Random(f"{self.seed}-{self.epoch}").shuffle(order)
        return order

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        info = torch.utils.data.get_worker_info()
        worker, num_workers = (info.id, info.num_workers) if info else (0, 1)
        if hasattr(self.sample_builder, "set_epoch"):  # the worker's own copy
            self.sample_builder.set_epoch(self.epoch)
        # The loader asks worker 0 first: after a resume it plays the worker
        # that owned the next batch.
        dealt = (worker + self.batches_done) % num_workers
        positions = self.worker_positions(dealt, num_workers)
        skipped = len(range(dealt, self.batches_done, num_workers)) * self.batch_size
        if self.shuffle_buffer > 1:  # replay the buffer over the skipped rows (audio unread)
            rng = random.Random(f"{self.seed}-{self.epoch}-{self.rank}-{dealt}")
            rows = _buffer_shuffle(self._rows_at(positions), self.shuffle_buffer, rng)
        else:  # in order: the skipped samples are not even read
            rows, skipped = self._rows_at(positions[skipped:]), 0
        for index, row in enumerate(rows):
            if index >= skipped:
                yield {"sample": self.sample_builder(row, self.train)}

    def _rows_at(self, positions: List[int]) -> Iterator[Dict[str, Any]]:
        """The rows at ``positions`` of the epoch's sequence, in that order."""
        order = self.shard_order()
        starts, offset = [], 0
        for shard in order:
            starts.append(offset)
            offset += self.sizes[shard]
        k = 0
        while k < len(positions):  # one run of increasing positions per shard
            slot = bisect.bisect_right(starts, positions[k]) - 1  # last start <= it
            end = starts[slot] + self.sizes[order[slot]]
            run = [positions[k] - starts[slot]]
            k += 1
            while k < len(positions) and run[-1] + starts[slot] < positions[k] < end:
                run.append(positions[k] - starts[slot])
                k += 1
            yield from read_shard(self.paths[order[slot]], wanted=run)


def _buffer_shuffle(items: Iterator, size: int, rng: random.Random) -> Iterator:
    """Yields ``items`` in a random order drawn from a buffer of ``size``."""
    buffer = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= size:
            index = rng.randrange(len(buffer))
            buffer[index], buffer[-1] = buffer[-1], buffer[index]
            yield buffer.pop()
    rng.shuffle(buffer)
    yield from buffer


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``write MANIFEST OUT_DIR [--shard-size N] [--prefix P] [--replace K=V ...]``.

    Arguments
    ---------
    argv : sequence of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_tclap.data.shards",
        description="Write webdataset tar shards (LAION-CLAP layout) from a manifest.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="manifest -> <out_dir>/shard-*.tar + sizes.json")
    write.add_argument("manifest", help="CSV or JSON manifest")
    write.add_argument("out_dir", help="output folder")
    write.add_argument("--shard-size", type=int, default=512, help="samples per shard")
    write.add_argument("--prefix", default="shard", help="shard file name prefix")
    write.add_argument(
        "--replace", action="append", default=[], metavar="NAME=VALUE",
        help="manifest placeholder value, e.g. data_root=/data (repeatable)",
    )
    args = parser.parse_args(argv)
    replacements = dict(item.split("=", 1) for item in args.replace)
    paths = write_shards(args.manifest, args.out_dir, args.shard_size, args.prefix, replacements)
    print(f"wrote {len(paths)} shard(s) of up to {args.shard_size} samples to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
