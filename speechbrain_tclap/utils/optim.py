"""Optimiser parameter groups: weight-decay exemptions and per-tower rates.

As open_clip and LAION-CLAP, the temperature, biases and norms get no weight
decay (it would pull the logit scale towards 1 and norm gains towards 0).
Parameters matching a glob pattern get a learning-rate multiplier
(``lr_scale``, e.g. a pretrained text tower at 0.1), which the schedules apply.

Authors
 * speechbrain-tclap developers 2026
"""

import fnmatch
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import torch

#: Group key recording the learning-rate multiplier of a group.
LR_SCALE = "lr_scale"


def exempt_from_weight_decay(name: str, param: torch.Tensor) -> bool:
    """Whether a parameter gets no weight decay (open_clip's rule).

    Arguments
    ---------
    name : str
        Parameter name.
    param : torch.Tensor
        The parameter.

    Returns
    -------
    bool
        True for tensors with fewer than 2 dimensions (temperature, biases,
        norms) and for names containing ``logit_scale``.

    Example
    -------
    >>> exempt_from_weight_decay("clap.log_logit_scale", torch.zeros(()))
    True
    >>> exempt_from_weight_decay("proj.weight", torch.zeros(2, 2))
    False
    """
    return param.ndim < 2 or "logit_scale" in name


def parameter_groups(
    named_parameters: Iterable[Tuple[str, torch.nn.Parameter]],
    weight_decay: Optional[float] = None,
    lr_scales: Optional[Mapping[str, float]] = None,
    exempt_norms_and_biases: bool = True,
) -> List[Dict]:
    """Split trainable parameters into optimiser groups.

    Arguments
    ---------
    named_parameters : iterable of (str, Parameter)
        E.g. ``modules.named_parameters()``; frozen ones are skipped.
    weight_decay : float, optional
        Decay of the decayed groups; ``None`` leaves the optimiser's default.
    lr_scales : mapping, optional
        ``{glob pattern: multiplier}`` over parameter names; the first match
        wins, others get 1.0; a pattern matching no parameter is an error.
    exempt_norms_and_biases : bool
        Put the temperature, biases and norms in groups with no decay.

    Returns
    -------
    list of dict
        Groups with ``params``, ``lr_scale`` and, for exempt groups,
        ``weight_decay = 0``; empty groups are left out.

    Example
    -------
    >>> model = torch.nn.ModuleDict({"text": torch.nn.Linear(2, 2),
    ...                              "head": torch.nn.Linear(2, 2)})
    >>> groups = parameter_groups(model.named_parameters(), lr_scales={"text.*": 0.1})
    >>> [(g["lr_scale"], g.get("weight_decay"), len(g["params"])) for g in groups]
    [(0.1, None, 1), (0.1, 0.0, 1), (1.0, None, 1), (1.0, 0.0, 1)]
    """
    patterns = list((lr_scales or {}).items())
    for pattern, scale in patterns:
        if float(scale) < 0:
            raise ValueError(f"lr_scales[{pattern!r}] must be >= 0, got {scale}")
    groups: Dict[Tuple[float, bool], Dict] = {}
    matched = set()
    for name, param in named_parameters:
        scale = 1.0
        for pattern, value in patterns:
            if fnmatch.fnmatchcase(name, pattern):
                scale = float(value)
                matched.add(pattern)
                break
        if not param.requires_grad:
            continue
        exempt = exempt_norms_and_biases and exempt_from_weight_decay(name, param)
        group = groups.setdefault(
            (scale, exempt), {"params": [], "names": [], LR_SCALE: scale}
        )
        group["params"].append(param)
        group["names"].append(name)
    unused = [pattern for pattern, _ in patterns if pattern not in matched]
    if unused:
        raise ValueError(f"lr_scales patterns {unused} match no parameter")
    out = []
    for (scale, exempt), group in sorted(groups.items()):
        del group["names"]
        if exempt:
            group["weight_decay"] = 0.0
        elif weight_decay is not None:
            group["weight_decay"] = float(weight_decay)
        out.append(group)
    return out


def describe_groups(optimizer: torch.optim.Optimizer) -> str:
    """One line per group: parameter count, rate multiplier and decay.

    Arguments
    ---------
    optimizer : torch.optim.Optimizer
        The optimiser.

    Returns
    -------
    str
        A summary for the log.

    Example
    -------
    >>> p = torch.nn.Parameter(torch.zeros(3, 2))
    >>> opt = torch.optim.AdamW([{"params": [p], "lr_scale": 1.0}], lr=0.1)
    >>> describe_groups(opt)
    'group 0: 6 parameters, lr x 1.0, weight decay 0.01'
    """
    lines = []
    for i, group in enumerate(optimizer.param_groups):
        count = sum(p.numel() for p in group["params"])
        lines.append(
            f"group {i}: {count} parameters, lr x {group.get(LR_SCALE, 1.0)}, "
            f"weight decay {group.get('weight_decay', 0.0)}"
        )
    return "; ".join(lines)
