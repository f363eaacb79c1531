#!/usr/bin/env python3
"""Cost of one T-CLAP training step against one CLAP step, side by side.

Same model (``--model``, default ``hparams/models/tiny_clap.yaml``), same batch of two-event clips,
same optimiser; the CLAP step encodes the positive captions and uses
``InfoNCELoss``; the T-CLAP step also encodes the order-swapped captions and
uses ``TemporalFocusedLoss`` (batch form, or ``--form pairwise``). Steps are
interleaved and the median of ``--runs`` is reported.

    HF_HUB_OFFLINE=1 python benchmarks/tclap_step_cost.py --batch 32 --runs 30

The extra cost is the text tower on the swapped captions, so it depends on
how heavy the text tower is next to the audio tower. ``--flops-model base``
also counts (``FlopCounterMode``) the forward FLOPs of one clip through the
audio tower and of one caption through the text tower of the T-CLAP paper's
HTSAT-base + RoBERTa-base (random init, built from config) and prints the
step-cost ratio they imply, ``(A + 2T) / (A + T)`` per sample (backward
scales both towers alike; the loss is negligible).

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
from speechbrain_tclap.data.captions import caption_for_events
from speechbrain_tclap.data.datasets import EventCaptioner
from speechbrain_tclap.data.synthetic import SoundEventGenerator
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


def flop_ratio(name):
    """Print per-clip audio and per-caption text forward FLOPs and the ratio.

    The caption is counted padded to the tokenizer's ``max_length`` (LAION's
    77 tokens) and to its own length (``padding: longest``, what our
    fine-tuning recipes use; same embeddings).
    """
    from torch.utils.flop_counter import FlopCounterMode

    from train_throughput import EVENTS, build_model

    clap, sample_rate, clip_seconds = build_model(name, seed=0)
    clap.eval()
    wav = 0.1 * torch.randn(1, int(sample_rate * clip_seconds))
    caption = f"{EVENTS[0]} followed by {EVENTS[1]}"

    def count(run):
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            run()
        return float(counter.get_total_flops())

    audio = count(lambda: clap.encode_audio(wav, torch.ones(1)))
    tokenizer = clap.text_encoder.tokenizer
    print(f"model={name} forward GFLOP per clip: audio={audio / 1e9:.2f}")
    for padding, length in (("max_length", tokenizer.max_length), ("longest", len(caption) + 2)):
        tokenizer.max_length = min(length, tokenizer.max_length)
        text = count(lambda: clap.encode_text([caption]))
        print(
            f"  text padding={padding} ({tokenizer.max_length} tokens): "
            f"{text / 1e9:.3f} GFLOP per caption, "
            f"flop_implied_tclap_over_clap={(audio + 2 * text) / (audio + text):.3f}"
        )


def main():
    """Run the comparison and print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--form", default="pairwise", choices=["batch", "pairwise"])
    parser.add_argument("--flops-model", choices=["base", "tiny"], default=None)
    parser.add_argument("--model", default=os.path.join("hparams", "models", "tiny_clap.yaml"),
                        help="model YAML (relative to the repository), e.g. "
                        "hparams/models/tiny_cnn_clap.yaml")
    parser.add_argument("--audio-pooling", default="temporal_transformer",
                        help="audio_pooling_kind of the model YAML (the recipes' choice)")
    args = parser.parse_args()
    if args.flops_model:
        flop_ratio(args.flops_model)
        if args.runs == 0:
            return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with open(os.path.join(ROOT, args.model)) as f:
        model = load_hyperpyyaml(f, {"audio_pooling_kind": args.audio_pooling})
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
        f"tclap={len(tclap_batch.texts)} form={args.form} runs={args.runs} "
        f"model={args.model} pooling={args.audio_pooling}"
    )
    for name in ("clap", "tclap"):
        print(f"{name:6s} step median {med[name] * 1000:.1f} ms (min {min(times[name]) * 1000:.1f} ms)")
    print(f"tclap_over_clap={med['tclap'] / med['clap']:.3f}")


if __name__ == "__main__":
    main()
