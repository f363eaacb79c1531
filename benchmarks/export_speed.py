#!/usr/bin/env python3
"""Export time and runtime of exported CLAP towers against the eager model.

For each model YAML (random init; a from-scratch SentencePiece tokenizer is
trained on a few captions), :func:`speechbrain_tclap.export_onnx.export_towers`
writes the audio and text towers as ``torch.export`` programs and ONNX files
(timed, parity checked), then the eager tower, the loaded ``.pt2`` program
and the onnxruntime session embed the same batch (``--batch`` clips of the
model's clip length; ``--batch`` captions), interleaved, ``--runs`` times
after a warm-up. Prints, per tower: export and ONNX conversion seconds,
max |diff| of each file against eager, median runtimes and the speed of each
against eager (eager time / its time).

    HF_HUB_OFFLINE=1 python benchmarks/export_speed.py --threads 2 --runs 10

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os
import statistics
import sys
import tempfile

import torch
from hyperpyyaml import load_hyperpyyaml

from encoder_throughput import time_interleaved
from speechbrain_tclap.export_onnx import (
    EXAMPLE_CAPTIONS,
    AudioTower,
    TextTower,
    export_towers,
    onnx_session,
)
from speechbrain_tclap.lobes.tokenizers import train_sentencepiece

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_model(name: str, folder: str) -> dict:
    """The model YAML's objects, with its tokenizer ready."""
    torch.manual_seed(0)
    with open(os.path.join(ROOT, "hparams", "models", name)) as f:
        model = load_hyperpyyaml(f)
    tokenizer = model["tokenizer"]
    if not getattr(tokenizer, "is_loaded", True):
        tokenizer.load(train_sentencepiece(
            list(EXAMPLE_CAPTIONS) * 10, os.path.join(folder, "sp"),
            model["tokenizer_vocab_size"]))
    return model


def main(argv=None) -> int:
    """Runs the measurements and prints one line per tower."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+",
                        default=["tiny_clap.yaml", "tiny_cnn_clap.yaml", "tiny_clap_roberta.yaml"],
                        help="YAMLs of hparams/models")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads={args.threads}, batch={args.batch}, runs={args.runs}")
    for name in args.models:
        with tempfile.TemporaryDirectory() as folder:
            model = load_model(name, folder)
            clap = model["clap"].eval()
            reports = export_towers(clap, folder, model["sample_rate"], model["clip_seconds"])
            samples = int(round(model["sample_rate"] * model["clip_seconds"]))
            captions = [EXAMPLE_CAPTIONS[i % len(EXAMPLE_CAPTIONS)] for i in range(args.batch)]
            inputs = {
                "audio": (AudioTower(clap), (0.1 * torch.randn(args.batch, samples),
                                             torch.ones(args.batch))),
                "text": (TextTower(clap), tuple(clap.text_encoder.tokenizer(captions))),
            }
            for report in reports:
                tower, x = inputs[report.name]
                program = torch.export.load(report.files[0]).module()
                session = onnx_session(report.files[1])
                feed = {i.name: t.numpy() for i, t in zip(session.get_inputs(), x)}
                tasks = {
                    "eager": lambda: tower(*x),
                    "pt2": lambda: program(*x),
                    "onnxruntime": lambda: session.run(None, feed),
                }
                with torch.no_grad():
                    timings = time_interleaved(tasks, args.runs, 1, torch.device("cpu"))
                med = {k: statistics.median(v) for k, v in timings.items()}
                print(
                    f"{name} {report.name}: export {report.export_seconds:.1f} s, onnx "
                    f"{report.onnx_seconds:.1f} s; dynamic {report.dynamic}; max|diff| pt2 "
                    f"{report.program_max_diff:.1e} onnx {report.onnx_max_diff:.1e}; median ms "
                    + ", ".join(f"{k} {1000 * v:.1f}" for k, v in med.items())
                    + f"; speed vs eager: pt2 {med['eager'] / med['pt2']:.2f}x, "
                    f"onnxruntime {med['eager'] / med['onnxruntime']:.2f}x"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
