#!/usr/bin/env python3
"""Writes order-swapped negative captions with a local causal language model.

Reads the captions of one or more manifests (SpeechBrain JSON or CSV with
``caption`` or ``captions``), keeps those with a sequential temporal
connective ("followed by", "then", "before", ...), asks the model to reverse
the order of their sound events, validates every answer, falls back to the
rule rewriter when the answer is unusable, and appends the results to a JSONL
cache keyed by caption id (``<row id>#<caption index>``). Running the command
again continues where it stopped. Only local model folders are used; nothing
is downloaded.

Example::

    python scripts/make_llm_negatives.py --manifest results/audiocaps/train.json \\
        --model /models/Qwen2.5-1.5B-Instruct --out results/audiocaps/negatives.jsonl \\
        --batch-size 16 --device cuda --dtype bfloat16

The prompt and the post-processing are those of
:mod:`speechbrain_tclap.data.llm_negatives`; the cache is read back by
:class:`speechbrain_tclap.data.caption_negatives.CaptionNegativeProvider`.

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import json
import logging
import sys
from typing import Dict, List, Optional, Sequence

from speechbrain_tclap.data.caption_negatives import caption_items
from speechbrain_tclap.data.llm_negatives import (
    LLMNegativeGenerator,
    generate_negatives,
)
from speechbrain_tclap.data.manifest import load_manifest


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parses the command line.

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        The options.

    Example
    -------
    >>> parse_args(["--manifest", "m.json", "--model", "lm", "--out", "n.jsonl"]).batch_size
    8
    """
    parser = argparse.ArgumentParser(
        description="Order-swapped negative captions from a local causal LM."
    )
    parser.add_argument(
        "--manifest",
        nargs="+",
        required=True,
        help="manifest(s) with 'caption' or 'captions'",
    )
    parser.add_argument("--model", required=True, help="local model folder")
    parser.add_argument("--out", required=True, help="JSONL cache (appended)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="rewrite at most this many new captions in this run",
    )
    parser.add_argument(
        "--device", default="cpu", help="e.g. cpu, cuda, cuda:1"
    )
    parser.add_argument(
        "--dtype",
        default=None,
        choices=["float32", "float16", "bfloat16", "auto"],
        help="weights dtype (default: the model's own)",
    )
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, int]:
    """Runs the generation and prints the counts as JSON.

    Arguments
    ---------
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    dict
        The counts of :func:`~speechbrain_tclap.data.llm_negatives.generate_negatives`.
    """
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    items: List = []
    for path in args.manifest:
        rows = load_manifest(path, required=("id", "caption"))
        items.extend(caption_items(rows))
    generator = LLMNegativeGenerator(
        args.model,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        device=args.device,
        dtype=args.dtype,
    )
    stats = generate_negatives(items, generator, args.out, limit=args.limit)
    print(json.dumps(stats, sort_keys=True))
    return stats


if __name__ == "__main__":
    main(sys.argv[1:])
