#!/usr/bin/env python3
"""Frame-by-caption picture of a test pair, captioned with held-out words.

Takes a recipe run (its ``save/test_mixed.json`` and ``pretrained/``), renders
one test pair "A then B" exactly as the evaluation does, and draws the frame
scores of the first held-out paraphrase of A, of B and of a third class
(``recipes/ESC50/CLAP/phrasings.yaml``), with the true segments as boxes.

    python scripts/plot_heldout_grounding.py results/ESC50/mgaclap_minilm/1234 \\
        docs/images/grounding_minilm_heldout.png --first rooster --second crackling_fire

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import json
import os

import yaml

from speechbrain_tclap.data.temporal import TemporalViewBuilder
from speechbrain_tclap.inference import CLAP

PHRASINGS = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "recipes", "ESC50", "CLAP", "phrasings.yaml",
)


def load_test_pair(run: str, first: str, second: str):
    """The exported model of a recipe run and one of its test pairs, rendered.

    Arguments
    ---------
    run : str
        Recipe output folder (``save/test_mixed.json``, ``pretrained/``).
    first, second : str
        Labels of the pair wanted (the first pair when there is none).

    Returns
    -------
    tuple
        ``(CLAP interface, rendered pair, sorted classes of the test file)``;
        the pair's ``views["main"]`` is ``(wav, length, events)`` exactly as
        the evaluation renders it.
    """
    with open(os.path.join(run, "save", "test_mixed.json")) as f:
        rows = json.load(f)
    pairs = [r for r in rows.values() if "a" in r]
    wanted = [r for r in pairs if r["a"]["labels"] == [first] and r["b"]["labels"] == [second]]
    pair = (wanted or pairs)[0]
    model = CLAP.from_hparams(
        source=os.path.join(run, "pretrained"), savedir=os.path.join(run, "interface")
    )
    rate = int(getattr(model.hparams, "sample_rate", 16000))
    builder = TemporalViewBuilder(rate, 1.25, clip_seconds=2.5, resample=True)
    classes = sorted({c for r in pairs for part in ("a", "b") for c in r[part]["labels"]})
    return model, builder.render(pair, False, ["main"]), classes


def main():
    """Draw the picture and print what it shows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="recipe output folder (save/, pretrained/)")
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("--first", default="rooster")
    parser.add_argument("--second", default="crackling_fire")
    parser.add_argument("--other", default="dog", help="a class absent from the pair")
    args = parser.parse_args()
    model, render, _ = load_test_pair(args.run, args.first, args.second)
    wav, length, events = render.views["main"]
    with open(PHRASINGS) as f:
        paraphrases = yaml.safe_load(f)["paraphrases"]
    first, second = render.labels
    texts = [paraphrases[first][0], paraphrases[second][0], paraphrases[args.other][0]]
    events = [{**e, "label": paraphrases[e["label"]][0]} for e in events]
    model.plot_frame_scores(
        wav[:length], texts, args.output, events=events,
        title=f"{first} then {second}, named with held-out words",
        score_normalization="prompt_mean",
    )
    print(render.labels, texts, args.output)


if __name__ == "__main__":
    main()
