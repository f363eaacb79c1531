#!/usr/bin/env python3
"""Loader throughput: clips/s per worker from manifests and from tar shards, against the bare decode.

Writes ``--clips`` FLAC files of ``--seconds`` s at ``--source-rate`` Hz
(noise under a slow envelope, 16-bit) into a temporary folder, a manifest of
them and tar shards of that manifest (``speechbrain_tclap.data.shards``). One
process (one loader worker, ``--threads`` torch threads) then times each
clip of each task in turn (clip by clip, so that a load spike of the shared
machine hits all alike; medians per clip of the process' CPU time, which
other processes on a shared machine barely change, and of wall time):

* ``decode`` (the floor): ``soundfile.read`` of each whole file to float32;
* ``manifest``: ``make_clap_dataset`` + ``ClipSampleBuilder`` (decode,
  resample to ``--target-rate``, random crop to ``--crop-seconds``), as the
  recipes' training loaders run in each worker;
* ``shards``: ``ShardDataset`` with the same builder (read from the tar,
  decode from memory, resample, crop).

It prints the median seconds per clip, clips/s per worker and the ratio to
the floor (target: the loaders within 1.3x of it). It then counts
(``torch.utils.flop_counter``, forward + backward) the FLOPs of one CLAP
training step of HTSAT-base + RoBERTa-base (10-s 48 kHz clips, 77-token
captions) on a batch of ``--flop-batch`` clips, scales them linearly to
``--train-batch`` (the contrastive loss' B^2 term is negligible), and says
how many loader workers, at the measured shard rate, feed that step at
``--mfu`` of ``--peak-tflops`` (H200 bf16 dense: 989). The load average of
the machine is printed before and after.

    HF_HUB_OFFLINE=1 python benchmarks/loader_throughput.py
    HF_HUB_OFFLINE=1 python benchmarks/loader_throughput.py --clips 8 --rounds 1 --no-flops  # smoke

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from speechbrain_tclap.data.datasets import ClipSampleBuilder, make_clap_dataset  # noqa: E402
from speechbrain_tclap.data.shards import ShardDataset, write_shards  # noqa: E402


def write_clips(folder, clips, seconds, rate, seed=0):
    """FLAC clips (enveloped noise, 16-bit) and their manifest; returns its path."""
    rng = np.random.default_rng(seed)
    rows = {}
    length = int(seconds * rate)
    for i in range(clips):
        envelope = np.interp(np.arange(length), np.linspace(0, length, 11), rng.uniform(0.05, 0.4, 11))
        wav = (envelope * rng.standard_normal(length)).clip(-1, 1).astype("float32")
        path = os.path.join(folder, f"clip{i:04d}.flac")
        sf.write(path, wav, rate, subtype="PCM_16")
        rows[f"clip{i:04d}"] = {"wav": path, "caption": f"clip number {i}"}
    manifest = os.path.join(folder, "train.json")
    with open(manifest, "w") as f:
        json.dump(rows, f)
    return manifest


def time_interleaved(tasks, clips, rounds):
    """``{name: ([CPU seconds per clip], [wall seconds per clip])}``: clip by
    clip, each task in turn, so that a load spike of the shared machine hits
    every task alike. CPU time (``time.process_time``: this process, all its
    threads) is what a worker costs; wall time also holds the time other
    processes took the core."""
    times = {name: ([], []) for name in tasks}
    for _ in range(rounds):
        streams = {name: make() for name, make in tasks.items()}
        for _ in range(clips):
            for name, stream in streams.items():
                cpu, wall = time.process_time(), time.perf_counter()
                next(stream)
                times[name][0].append(time.process_time() - cpu)
                times[name][1].append(time.perf_counter() - wall)
    return times


def step_flop(batch_size):
    """FLOP of one CLAP step (forward + backward) of HTSAT-base + RoBERTa-base."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import speechbrain as sb

    from train_throughput import build_model, count_train_flop

    from speechbrain_tclap.brain import CLAPBrain
    from speechbrain_tclap.data.batching import AudioView, CLAPSample, TextView, collate_clap_samples
    from speechbrain_tclap.losses import InfoNCELoss

    clap, rate, seconds = build_model("base", seed=0)
    samples = [
        CLAPSample(str(i), [AudioView(0.1 * torch.randn(int(rate * seconds)), f"c{i}")],
                   [TextView(f"c{i}")])
        for i in range(batch_size)
    ]
    brain = CLAPBrain(
        modules={"clap": clap},
        opt_class=lambda params: torch.optim.AdamW(params, lr=1e-5),
        hparams={"loss": InfoNCELoss()},
        run_opts={"device": "cpu"},
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    batch = collate_clap_samples(samples)
    return count_train_flop(lambda: brain.fit_batch(batch))


def load():
    """The machine's load averages (1, 5, 15 min), as ``uptime`` prints them."""
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None):
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--source-rate", type=int, default=48000)
    parser.add_argument("--target-rate", type=int, default=16000)
    parser.add_argument("--crop-seconds", type=float, default=5.0)
    parser.add_argument("--shard-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOP count")
    parser.add_argument("--flop-batch", type=int, default=2)
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--mfu", type=float, default=0.40)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"before: {load()} ({os.cpu_count()} cores); torch threads {torch.get_num_threads()}, "
          f"1 worker (this process)")

    with tempfile.TemporaryDirectory() as folder:
        manifest = write_clips(folder, args.clips, args.seconds, args.source_rate)
        write_shards(manifest, os.path.join(folder, "shards"), args.shard_size)
        paths = [row["wav"] for row in json.load(open(manifest)).values()]
        builder = ClipSampleBuilder(args.target_rate, args.crop_seconds, resample=True)
        from_manifest = make_clap_dataset(manifest, builder, train=True)
        streamed = ShardDataset(os.path.join(folder, "shards", "*.tar"), builder, train=True)
        tasks = {  # each makes a stream that yields one clip per next()
            "decode": lambda: (sf.read(p, dtype="float32") for p in paths),
            "manifest": lambda: (from_manifest[i]["sample"] for i in range(len(from_manifest))),
            "shards": lambda: (item["sample"] for item in streamed),
        }
        megabytes = sum(os.path.getsize(p) for p in paths) / len(paths) / 1e6
        time_interleaved(tasks, args.clips, 1)  # warm-up: page cache, kernels, imports
        times = time_interleaved(tasks, args.clips, args.rounds)

    print(f"{args.clips} clips of {args.seconds:g} s at {args.source_rate} Hz, FLAC 16-bit "
          f"({megabytes:.2f} MB each) -> {args.target_rate} Hz, random {args.crop_seconds:g} s crop; "
          f"{args.rounds} rounds (+1 warm-up), clip by clip interleaved, median per clip")
    per_clip = {name: statistics.median(cpu) for name, (cpu, _) in times.items()}
    wall = {name: statistics.median(w) for name, (_, w) in times.items()}
    for name, seconds in per_clip.items():
        print(f"  {name:9s} CPU {seconds * 1e3:6.2f} ms/clip  {1 / seconds:6.1f} clips/s per worker  "
              f"{seconds / per_clip['decode']:.2f}x decode floor  "
              f"(wall {wall[name] * 1e3:6.2f} ms/clip, {wall[name] / wall['decode']:.2f}x)")
    print(f"loader_over_floor manifest={per_clip['manifest'] / per_clip['decode']:.3f} "
          f"shards={per_clip['shards'] / per_clip['decode']:.3f} (CPU time)")
    print(f"after: {load()}")

    if args.no_flops:
        return
    flop = step_flop(args.flop_batch) * args.train_batch / args.flop_batch
    rate = args.mfu * args.peak_tflops * 1e12
    step_seconds = flop / rate
    needed = args.train_batch / step_seconds
    workers = needed * per_clip["shards"]
    print(f"HTSAT-base + RoBERTa-base CLAP step, forward+backward: "
          f"{flop / args.train_batch / 1e9:.1f} GFLOP per clip (counted on batch {args.flop_batch}), "
          f"{flop / 1e12:.1f} TFLOP at batch {args.train_batch}")
    print(f"  at {args.mfu:.0%} of {args.peak_tflops:g} TFLOP/s: {step_seconds * 1e3:.0f} ms/step, "
          f"{needed:.0f} clips/s -> {math.ceil(workers)} workers at the shard rate "
          f"({1 / per_clip['shards']:.1f} clips/s per worker), "
          f"{math.ceil(needed * per_clip['decode'])} at the decode floor")


if __name__ == "__main__":
    main()
