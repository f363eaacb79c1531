#!/usr/bin/env python3
"""Cost of one T-CLAP training step against one CLAP step, side by side.

Same model (``hparams/models/tiny_clap.yaml``), same batch of two-event clips,
same optimiser; the CLAP step encodes the positive captions and uses
``InfoNCELoss``; the T-CLAP step also encodes the order-swapped captions and
uses ``TemporalFocusedLoss`` (batch form, or ``--form pairwise``). Steps are
interleaved and the median of ``--runs`` is reported.

    HF_HUB_OFFLINE=1 python benchmarks/tclap_step_cost.py --batch 32 --runs 30

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os
import statistics
import tempfile
import time

import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.data.batching import (
    AudioView,
    CLAPSample,
    TextView,
    collate_clap_samples,
)
from speechbrain_tclap.data.synthetic import SoundEventGenerator, caption_for_events
from speechbrain_tclap.data.datasets import EventCaptioner
from speechbrain_tclap.lobes.tokenizers import train_sentencepiece
from speechbrain_tclap.losses import (
    ContrastiveInputs,
    InfoNCELoss,
    TemporalFocusedLoss,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_batch(batch_size, with_negatives, seed=0):
    """Two-event clips with ordered captions (and swapped negatives)."""
    generator = SoundEventGenerator(sample_rate=16000, seed=seed)
    captioner = EventCaptioner("ordered", random_template=False)
    samples = []
    for i in range(batch_size):
        wav, events = generator.make_clip(2.5, n_events=2, rng=seed * 1000 + i)
        row = {"id": str(i), "events": events}
        caption = captioner(row, train=False)[0]
        texts = [TextView(caption)]
        if with_negatives:
            texts += [
                TextView(c, view="swapped", negative=True)
                for c in captioner.order_negatives(row, train=False)
            ]
        samples.append(
            CLAPSample(str(i), [AudioView(torch.from_numpy(wav), texts[0].key)], texts)
        )
    return collate_clap_samples(samples)


def step(clap, optimizer, loss_fn, batch):
    """One forward/backward/update; returns seconds."""
    start = time.perf_counter()
    audio, text, scale = clap(batch.wavs, batch.wav_lens, batch.texts)
    inputs = ContrastiveInputs(
        audio, text, scale, batch.audio_keys, batch.text_keys, batch.text_is_negative,
        batch.audio_views, batch.text_views, batch.audio_sample, batch.text_sample,
    )
    loss = loss_fn(inputs)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main():
    """Run the comparison and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--form", default="batch", choices=["batch", "pairwise"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(os.path.join(ROOT, "hparams", "models", "tiny_clap.yaml")) as f:
        model = load_hyperpyyaml(f)
    clap_batch = make_batch(args.batch, with_negatives=False)
    tclap_batch = make_batch(args.batch, with_negatives=True)
    with tempfile.TemporaryDirectory() as tmp:
        model["tokenizer"].load(
            train_sentencepiece(
                tclap_batch.texts + [caption_for_events([{"label": "bell", "onset": 0, "offset": 1}])],
                os.path.join(tmp, "tok"),
                model["tokenizer_vocab_size"],
            )
        )
    clap = model["clap"]
    optimizer = torch.optim.AdamW(clap.parameters(), lr=1e-4)
    losses = {"clap": InfoNCELoss(), "tclap": TemporalFocusedLoss(form=args.form)}
    batches = {"clap": clap_batch, "tclap": tclap_batch}
    times = {"clap": [], "tclap": []}
    for run in range(args.runs + 3):
        for name in ("clap", "tclap") if run % 2 == 0 else ("tclap", "clap"):
            seconds = step(clap, optimizer, losses[name], batches[name])
            if run >= 3:  # warm-up
                times[name].append(seconds)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"batch={args.batch} texts: clap={len(clap_batch.texts)} "
        f"tclap={len(tclap_batch.texts)} form={args.form} runs={args.runs}"
    )
    for name in ("clap", "tclap"):
        print(f"{name:6s} step median {med[name] * 1000:.1f} ms (min {min(times[name]) * 1000:.1f} ms)")
    print(f"tclap_over_clap={med['tclap'] / med['clap']:.3f}")


if __name__ == "__main__":
    main()
