"""Plots: training curves read back from ``train_log.txt``; frame scores over time.

Curves are read from the log, so they stay complete after a resumed run.
:func:`plot_frame_scores` draws frame-by-caption similarities with the true
event boundaries (SED evaluation, pretrained interface).

Authors
 * speechbrain-tclap developers 2026
"""

import re
from typing import Dict, List, Optional, Sequence

from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

_FIELD = re.compile(r"([A-Za-z][\w@ ]*?):\s*([-+0-9.eE]+)")


def parse_train_log(path: str) -> List[Dict[str, float]]:
    """Parse ``FileTrainLogger`` lines into dicts of floats.

    Keys keep their stage prefix (``"valid t2a_R@1"``); lines that repeat an
    epoch (a resumed run) replace the earlier entry.

    Arguments
    ---------
    path : str
        A ``train_log.txt``.

    Returns
    -------
    list of dict
        One dict per epoch line, in epoch order.

    Example
    -------
    >>> log = getfixture("tmpdir") / "train_log.txt"
    >>> _ = log.write("epoch: 1, steps: 10 - train loss: 2.5 - valid loss: 2.0, valid tclassify_binary: 6.0e-01\\n")
    >>> parse_train_log(str(log))[0]["valid tclassify_binary"]
    0.6
    """
    rows: Dict[float, Dict[str, float]] = {}
    with open(path) as f:
        for line in f:
            fields = {k.strip(): float(v) for k, v in _FIELD.findall(line)}
            if "epoch" in fields:
                rows[fields["epoch"]] = fields
    return [rows[k] for k in sorted(rows)]


def plot_curves(
    train_log: str,
    out_path: str,
    keys: Sequence[str] = ("valid tclassify_binary", "valid t2a_R@1", "valid zero_shot_acc"),
    x_key: str = "steps",
    title: Optional[str] = None,
) -> Optional[str]:
    """Save a PNG of validation metrics against training steps.

    Arguments
    ---------
    train_log : str
        A ``train_log.txt``.
    out_path : str
        PNG to write.
    keys : sequence of str
        Logged metrics to draw (missing ones are left out).
    x_key : str
        Logged x value (``"steps"``, falls back to ``"epoch"``).
    title : str, optional
        Figure title.

    Returns
    -------
    str or None
        ``out_path``, or None when matplotlib is missing or nothing to plot.
    """
    plt = _pyplot("curve plot")
    if plt is None:
        return None
    rows = parse_train_log(train_log)
    present = [k for k in keys if any(k in r for r in rows)]
    if not rows or not present:
        return None
    x_name = x_key if all(x_key in r for r in rows) else "epoch"
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in present:
        points = [(r[x_name], r[key]) for r in rows if key in r]
        ax.plot(*zip(*points), marker="o", markersize=3, label=key.replace("valid ", ""))
    ax.set_xlabel("training steps" if x_name == "steps" else "epoch")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(out_path, dpi=120)
    plt.close(fig)
    return out_path


def plot_frame_scores(
    scores,
    times,
    labels: Sequence[str],
    out_path: str,
    events: Optional[Sequence[Dict]] = None,
    title: Optional[str] = None,
    colorbar_label: str = "cosine similarity",
) -> Optional[str]:
    """Save a PNG of frame-by-caption similarity over time with the true events.

    One heatmap row per caption; each reference event is a white box on its
    caption's row, so one sees where the model hears it and where it should.

    Arguments
    ---------
    scores : array-like
        ``(T, Q)`` similarities (``Q`` captions).
    times : array-like
        ``(T,)`` frame centres in seconds (equally spaced).
    labels : sequence of str
        Caption of each column.
    out_path : str
        PNG to write.
    events : sequence of dict, optional
        ``{"label", "onset", "offset"}`` in seconds; ``label`` is a caption.
    title : str, optional
        Figure title.
    colorbar_label : str
        What the colours are (e.g. a normalised score).

    Returns
    -------
    str or None
        ``out_path``, or None when matplotlib is missing.

    Example
    -------
    >>> import numpy as np
    >>> path = str(getfixture("tmpdir") / "scores.png")
    >>> plot_frame_scores(np.random.rand(8, 2), np.arange(8) * 0.3 + 0.15,
    ...     ["a bell", "hiss"], path,
    ...     events=[{"label": "hiss", "onset": 0.5, "offset": 1.4}]) == path
    True
    """
    plt = _pyplot("frame-score plot")
    if plt is None:
        return None
    import numpy as np
    from matplotlib.patches import Rectangle

    scores = np.asarray(scores, dtype=float)
    times = np.asarray(times, dtype=float)
    if scores.ndim != 2 or scores.shape != (times.shape[0], len(labels)):
        raise ValueError(
            f"scores must be (T, Q) = ({times.shape[0]}, {len(labels)}), got {scores.shape}"
        )
    period = float(times[1] - times[0]) if times.shape[0] > 1 else 1.0
    start, end = times[0] - period / 2, times[-1] + period / 2
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(labels) + 1.6))
    image = ax.imshow(
        scores.T, aspect="auto", origin="lower", cmap="viridis",
        extent=(start, end, -0.5, len(labels) - 0.5), interpolation="nearest",
    )
    row = {label: i for i, label in enumerate(labels)}
    for event in events or []:
        if event.get("label") in row:
            onset, offset = float(event["onset"]), float(event["offset"])
            ax.add_patch(
                Rectangle((onset, row[event["label"]] - 0.45), offset - onset, 0.9,
                          fill=False, edgecolor="white", linewidth=2)
            )
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("time (s)")
    fig.colorbar(image, ax=ax, label=colorbar_label)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path


def _pyplot(what: str):
    """``matplotlib.pyplot`` on Agg, or None (warning that no ``what`` is written)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no %s written", what)
        return None
    return plt
