#!/usr/bin/env python3
"""Cost of one T-CLAP training step against one CLAP step, side by side.

For each model YAML of ``--models`` (default: the tiny HTSAT, the tiny CNN
and the CNN with the MiniLM text tower): same batch of two-event clips, same
optimiser; the CLAP step encodes the positive captions and uses
``InfoNCELoss``; the T-CLAP step also encodes the order-swapped captions and
uses ``TemporalFocusedLoss`` (batch form, or ``--form pairwise``). Each is
also run as before issue 18 (every caption row through the text tower, no
deduplication, no frozen-tower cache). The four steps are interleaved and
the median of ``--runs`` is reported. ``--freeze-text`` applies a YAML's
``text_frozen`` rule (the MiniLM tower is then frozen and caches captions).

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
from contextlib import contextmanager, nullcontext

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


def build(model_yaml, pooling, texts, freeze_text):
    """The model of a YAML, its tokenizer ready (trained on ``texts`` when it is
    a from-scratch SentencePiece one) and, with ``freeze_text``, the YAML's
    ``text_frozen`` rule applied (the tower then caches its captions)."""
    torch.manual_seed(0)
    with open(os.path.join(ROOT, model_yaml)) as f:
        model = load_hyperpyyaml(f, {"audio_pooling_kind": pooling})
    tokenizer = model["tokenizer"]
    if not getattr(tokenizer, "is_loaded", True):
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer.load(train_sentencepiece(
                texts + [caption_for_events([{"label": "bell", "onset": 0, "offset": 1}])],
                os.path.join(tmp, "tok"), model["tokenizer_vocab_size"]))
    clap = model["clap"].train()
    rule = model.get("text_frozen") if freeze_text else None
    if rule is not None:
        rule.apply(torch.nn.ModuleDict({"clap": clap}))
        rule.enforce_eval(torch.nn.ModuleDict({"clap": clap}))
    return clap, rule is not None


@contextmanager
def every_row_encoded(clap):
    """The text path as before issue 18: every caption through the tower, no
    deduplication and no frozen-tower cache."""
    import speechbrain_tclap.lobes.clap as clap_module

    unique, cache = clap_module.unique_texts, getattr(clap.text_encoder, "cache_size", None)
    clap_module.unique_texts = lambda texts: (list(texts), None)
    if cache is not None:
        clap.text_encoder.cache_size = 0
    try:
        yield
    finally:
        clap_module.unique_texts = unique
        if cache is not None:
            clap.text_encoder.cache_size = cache


def compare(model_yaml, args):
    """Interleaved CLAP / T-CLAP steps (and both with every row encoded)."""
    clap_batch = make_batch(args.batch, with_negatives=False)
    tclap_batch = make_batch(args.batch, with_negatives=True)
    clap, frozen = build(model_yaml, args.audio_pooling, tclap_batch.texts, args.freeze_text)
    optimizer = torch.optim.AdamW([p for p in clap.parameters() if p.requires_grad], lr=1e-4)
    losses = {"clap": InfoNCELoss(), "tclap": TemporalFocusedLoss(form=args.form)}
    batches = {"clap": clap_batch, "tclap": tclap_batch}
    variants = [(k, False) for k in batches] + [(k, True) for k in batches]
    times = {v: [] for v in variants}
    for run in range(args.runs + args.warmup):
        for kind, all_rows in variants if run % 2 == 0 else variants[::-1]:
            with every_row_encoded(clap) if all_rows else nullcontext():
                seconds = step(clap, optimizer, losses[kind], batches[kind])
            if run >= args.warmup:
                times[(kind, all_rows)].append(seconds)
    med = {v: statistics.median(t) for v, t in times.items()}
    print(
        f"model={model_yaml} text tower {'frozen (cached)' if frozen else 'trained'}; "
        f"batch={args.batch} captions: clap {len(clap_batch.texts)} "
        f"({len(set(clap_batch.texts))} distinct), tclap {len(tclap_batch.texts)} "
        f"({len(set(tclap_batch.texts))} distinct); form={args.form} runs={args.runs}"
    )
    for all_rows, label in ((False, "distinct captions once"), (True, "every row encoded (before)")):
        c, t = med[("clap", all_rows)], med[("tclap", all_rows)]
        print(f"  {label:27s} clap {c * 1000:7.1f} ms  tclap {t * 1000:7.1f} ms  "
              f"tclap_over_clap={t / c:.3f}")


def main():
    """Run the comparison for each model and print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--form", default="pairwise", choices=["batch", "pairwise"])
    parser.add_argument("--flops-model", choices=["base", "tiny"], default=None)
    parser.add_argument("--models", nargs="+", default=[
        os.path.join("hparams", "models", name)
        for name in ("tiny_clap.yaml", "tiny_cnn_clap.yaml", "tiny_cnn_clap_minilm.yaml")],
        help="model YAMLs (relative to the repository)")
    parser.add_argument("--freeze-text", action="store_true",
                        help="apply a model's text_frozen rule (MiniLM: frozen, cached tower)")
    parser.add_argument("--audio-pooling", default="temporal_transformer",
                        help="audio_pooling_kind of the model YAML (the recipes' choice)")
    args = parser.parse_args()
    if args.flops_model:
        flop_ratio(args.flops_model)
        if args.runs == 0:
            return
    torch.set_num_threads(args.threads)
    for model_yaml in args.models:
        compare(model_yaml, args)


if __name__ == "__main__":
    main()
