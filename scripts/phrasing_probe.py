#!/usr/bin/env python3
"""Text-only probe: does an order head over a frozen text tower learn event
order from a set of training phrasings in a way that transfers to others?

Builds the text side of a model file (tokenizer, frozen text tower, text
pooling and projection; the frozen tower caches each caption), and trains only
the pooling and projection with a text-to-text contrastive loss: the same
ordered pair of class names in two training phrasings is a positive, every
other pair of the batch (its order-swapped twin included) a negative. Each
validation phrasing is then judged like binary T-Classify with the text
"{A} followed by {B}" in place of the audio: is the caption of (A, B) closer
to "A followed by B" than to "B followed by A"? Chooses phrasing lists
without training audio models and without looking at the held-out list.

    python scripts/phrasing_probe.py --train rich_training_templates \\
        balanced_training_templates --validation probe_validation_templates

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import copy
import os
import random

import torch
import torch.nn.functional as F
import yaml
from hyperpyyaml import load_hyperpyyaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fill(template, first, second):
    """The caption of ``template`` with events ``first`` then ``second``."""
    return template.replace("{A}", first).replace("{B}", second)


def token_states(text_encoder, captions):
    """Padded token states and mask of the frozen tower (its own cache
    encodes each caption once)."""
    with torch.no_grad():
        encoded = text_encoder(captions)
    return encoded.tokens, encoded.token_mask


def probe(model, names, train, evaluate, seed, steps, batch_size=48):
    """Train a fresh copy of the pooling and projection; accuracy per phrasing."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    pooling = copy.deepcopy(model["text_pooling"])
    projection = copy.deepcopy(model["text_projection"])
    params = list(pooling.parameters()) + list(projection.parameters())
    optimiser = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    pairs = [(a, b) for a in names for b in names if a != b]

    def embed(captions):
        tokens = token_states(model["text_encoder"], captions)
        return F.normalize(projection(pooling(*tokens)), dim=-1)

    for _ in range(steps):
        batch = rng.sample(pairs, batch_size)
        left = embed([fill(rng.choice(train), a, b) for a, b in batch])
        right = embed([fill(rng.choice(train), a, b) for a, b in batch])
        logits = left @ right.T / 0.07
        target = torch.arange(batch_size)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        forward = embed([fill("{A} followed by {B}", a, b) for a, b in pairs])
        swapped = embed([fill("{A} followed by {B}", b, a) for a, b in pairs])
        accuracy = {}
        for template in evaluate:
            z = embed([fill(template, a, b) for a, b in pairs])
            right_order = (z * forward).sum(-1) > (z * swapped).sum(-1)
            accuracy[template] = right_order.float().mean().item()
    return accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(
        ROOT, "hparams", "models", "tiny_cnn_clap_minilm.yaml"))
    parser.add_argument("--phrasings", default=os.path.join(
        ROOT, "recipes", "ESC50", "CLAP", "phrasings.yaml"))
    parser.add_argument("--train", nargs="+", required=True,
                        help="keys of training phrasing lists to compare")
    parser.add_argument("--validation", default="probe_validation_templates")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=400)
    args = parser.parse_args()
    with open(args.phrasings) as f:
        phrasings = yaml.safe_load(f)
    with open(args.model) as f:
        model = load_hyperpyyaml(f)
    names = [c.replace("_", " ") for c in sorted(phrasings["paraphrases"])]
    # Frozen and in eval mode: HFTextEncoder caches every caption's states.
    model["text_encoder"].requires_grad_(False).eval()
    validation = phrasings[args.validation]
    for key in args.train:
        runs = [probe(model, names, phrasings[key], validation, seed, args.steps)
                for seed in args.seeds]
        means = [sum(r.values()) / len(r) for r in runs]
        print(f"{key} ({len(phrasings[key])} phrasings): validation accuracy "
              f"{' / '.join(f'{m:.3f}' for m in means)} (seeds {args.seeds})")
        for template in validation:
            print(f"    {sum(r[template] for r in runs) / len(runs):.2f}  {template}")


if __name__ == "__main__":
    main()
