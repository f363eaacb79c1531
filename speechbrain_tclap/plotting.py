"""Plots of training curves read back from SpeechBrain's ``train_log.txt``.

Reading the log (rather than keeping a history in memory) keeps the curves
complete after a run was interrupted and resumed.

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
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed: no curve plot written")
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
