"""Freezing rules that survive SpeechBrain's ``modules.train()``.

SpeechBrain's ``self.modules.train()`` at every epoch puts a "frozen" encoder
back into dropout and BatchNorm-update mode. A :class:`FreezingRule` freezes
parameters by name globs (``clap.text_encoder.*``), unfreezes a subset
(``unfreeze_last``: the last N layers of a stack, whatever its depth), and
:meth:`FreezingRule.enforce_eval` (called by the Brain at each batch) puts
every fully frozen submodule back into ``eval()``.

Authors
 * speechbrain-tclap developers 2026
"""

import fnmatch
import re
from typing import Dict, List, Mapping, Optional, Sequence

from speechbrain.utils.logger import get_logger
from torch import nn

logger = get_logger(__name__)


class FreezingRule:
    """Freeze parameters matching ``freeze``, then unfreeze those matching ``unfreeze``.

    Arguments
    ---------
    freeze : sequence of str
        Glob patterns over the ``named_parameters()`` of the module applied to.
    unfreeze : sequence of str
        Patterns re-enabled after freezing.
    unfreeze_last : mapping, optional
        ``{stack prefix: N}``: re-enable the last N numbered children of a stack,
        e.g. ``{"clap.text_encoder.encoder.layers": 1}`` (``<prefix>.<index>.*``).

    Example
    -------
    >>> model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5), nn.Linear(2, 2))
    >>> rule = FreezingRule(freeze=["*"], unfreeze=["2.*"])
    >>> rule.apply(model)
    ['0.bias', '0.weight']
    >>> model.train(); rule.enforce_eval(model)
    Sequential(...)
    >>> model[0].training, model[2].training
    (False, True)
    >>> FreezingRule(freeze=["*"], unfreeze_last={"": 1}).apply(model)
    ['0.bias', '0.weight']
    """

    def __init__(
        self,
        freeze: Sequence[str] = (),
        unfreeze: Sequence[str] = (),
        unfreeze_last: Optional[Mapping[str, int]] = None,
    ):
        self.freeze = list(freeze)
        self.unfreeze = list(unfreeze)
        self.unfreeze_last: Dict[str, int] = dict(unfreeze_last or {})
        for prefix, count in self.unfreeze_last.items():
            if int(count) < 1:
                raise ValueError(f"unfreeze_last[{prefix!r}] must be >= 1, got {count}")
        self.frozen_modules: List[str] = []

    def _matches(self, name: str, patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

    def unfreeze_patterns(self, module: nn.Module) -> List[str]:
        """``unfreeze`` plus the patterns ``unfreeze_last`` resolves to.

        Arguments
        ---------
        module : torch.nn.Module
            The root module the rule is applied to.

        Returns
        -------
        list of str
            Glob patterns.

        Example
        -------
        >>> stack = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2))
        >>> FreezingRule(unfreeze_last={"": 2}).unfreeze_patterns(stack)
        ['1.*', '2.*']
        >>> root = nn.ModuleDict({"enc": stack})
        >>> FreezingRule(unfreeze_last={"enc": 1}).unfreeze_patterns(root)
        ['enc.2.*']
        """
        patterns = list(self.unfreeze)
        names = [name for name, _ in module.named_parameters()]
        for prefix, count in self.unfreeze_last.items():
            head = f"{prefix}." if prefix else ""
            child = re.compile(re.escape(head) + r"(\d+)\.")
            indices = sorted({int(m.group(1)) for m in map(child.match, names) if m})
            if len(indices) < int(count):
                raise ValueError(
                    f"unfreeze_last: {prefix!r} has {len(indices)} numbered layers "
                    f"with parameters, fewer than the {count} asked for "
                    f"(parameter names start like {names[:3]})"
                )
            patterns += [f"{head}{i}.*" for i in indices[-int(count):]]
        return patterns

    def apply(self, module: nn.Module) -> List[str]:
        """Set ``requires_grad`` and record the fully frozen submodules.

        Arguments
        ---------
        module : torch.nn.Module
            The root module (e.g. the Brain's ``modules`` dict).

        Returns
        -------
        list of str
            Sorted names of the frozen parameters.
        """
        frozen = []
        names = [name for name, _ in module.named_parameters()]
        unfreeze = self.unfreeze_patterns(module)
        for name, param in module.named_parameters():
            if self._matches(name, self.freeze) and not self._matches(name, unfreeze):
                param.requires_grad_(False)
                frozen.append(name)
        for pattern in self.freeze + unfreeze:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                raise ValueError(f"freezing pattern {pattern!r} matches no parameter")
        self.frozen_modules = []
        for name, sub in module.named_modules():
            params = list(sub.parameters())
            if not name or not params or any(p.requires_grad for p in params):
                continue
            if any(name.startswith(m + ".") for m in self.frozen_modules):
                continue
            self.frozen_modules.append(name)
        if frozen:
            logger.info(
                "frozen %d parameter tensors; kept in eval mode: %s",
                len(frozen),
                ", ".join(self.frozen_modules) or "none",
            )
        return sorted(frozen)

    def enforce_eval(self, module: nn.Module) -> None:
        """Put the fully frozen submodules back into eval mode.

        Arguments
        ---------
        module : torch.nn.Module
            The root module the rule was applied to.
        """
        for name in self.frozen_modules:
            sub = module.get_submodule(name)
            if sub.training:
                sub.eval()
