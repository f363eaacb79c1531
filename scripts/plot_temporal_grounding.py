#!/usr/bin/env python3
"""Do the frame scores put A before B? One test pair, several models.

For one ESC-50 recipe test pair "A then B" (rendered exactly as the
evaluation renders it), draws, for each run given, the frame scores of A's
and B's label prompts over time (normalised against all the run's classes as
the SED evaluation does), the true segments as shaded spans and each curve's
centre of mass (:func:`speechbrain_tclap.evaluation.detection_metrics.score_centre`,
the quantity behind ``grounding_order_acc``) as a dashed line.

    python scripts/plot_temporal_grounding.py docs/images/temporal_grounding.png \\
        MGA-CLAP=results/ESC50/mgaclap/1234 T-CLAP+MGA-CLAP=results/ESC50/mga_tclap/1234 \\
        --first dog --second rain

Authors
 * speechbrain-tclap developers 2026
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from plot_heldout_grounding import load_test_pair  # noqa: E402
from speechbrain_tclap.data.labels import readable_label  # noqa: E402
from speechbrain_tclap.evaluation.detection_metrics import score_centre  # noqa: E402


def main():
    """Draw the picture and print each model's centres."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("runs", nargs="+", help="NAME=recipe output folder")
    parser.add_argument("--first", default="dog")
    parser.add_argument("--second", default="rain")
    args = parser.parse_args()
    figure, axes = plt.subplots(len(args.runs), 1, figsize=(7, 2.2 * len(args.runs)), sharex=True)
    axes = [axes] if len(args.runs) == 1 else axes
    for axis, spec in zip(axes, args.runs):
        name, run = spec.split("=", 1)
        model, render, classes = load_test_pair(run, args.first, args.second)
        wav, length, events = render.views["main"]
        first, second = render.labels
        prompts = [readable_label(c) for c in classes]
        result = model.frame_scores(wav[:length], prompts, score_normalization="prompt_mean")
        times = result.times.numpy()
        for label, colour in ((first, "tab:blue"), (second, "tab:orange")):
            curve = result.scores[0, :, classes.index(label)].numpy()[: len(times)]
            axis.plot(times, curve, color=colour, label=readable_label(label))
            centre = score_centre(curve, times)
            axis.axvline(centre, color=colour, linestyle="--")
            for event in events:
                if event["label"] == label:
                    axis.axvspan(event["onset"], event["offset"], color=colour, alpha=0.12)
            print(f"{name}: {label} centre {centre:.2f} s")
        axis.set_title(f"{name}: {readable_label(first)} then {readable_label(second)}", fontsize=9)
        axis.set_ylabel("score")
        axis.legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("time (s)")
    figure.tight_layout()
    figure.savefig(args.output, dpi=110)
    print(args.output)


if __name__ == "__main__":
    main()
