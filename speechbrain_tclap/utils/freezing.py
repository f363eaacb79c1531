"""Freezing rules that survive SpeechBrain's ``modules.train()``.

SpeechBrain calls ``self.modules.train()`` at the start of every epoch, which
puts a "frozen" encoder back into dropout and BatchNorm-update mode. A
:class:`FreezingRule` freezes parameters by glob patterns over their names
(``clap.text_encoder.*``), can unfreeze a subset again (TeminAL's "last text
layer + pooler + projections"), and re-applies ``eval()`` to every submodule
whose parameters are all frozen whenever :meth:`FreezingRule.enforce_eval` is
called (the Brain does it at each training batch).

Authors
 * speechbrain-tclap developers 2026
"""

import fnmatch
from typing import List, Sequence

from speechbrain.utils.logger import get_logger
from torch import nn

logger = get_logger(__name__)


class FreezingRule:
    """Freeze parameters matching ``freeze``, then unfreeze those matching ``unfreeze``.

    Arguments
    ---------
    freeze : sequence of str
        Glob patterns over parameter names (as in ``named_parameters()`` of
        the module the rule is applied to).
    unfreeze : sequence of str
        Patterns re-enabled after freezing.

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
    """

    def __init__(self, freeze: Sequence[str] = (), unfreeze: Sequence[str] = ()):
        self.freeze = list(freeze)
        self.unfreeze = list(unfreeze)
        self.frozen_modules: List[str] = []

    def _matches(self, name: str, patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in patterns)

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
        for name, param in module.named_parameters():
            if self._matches(name, self.freeze) and not self._matches(
                name, self.unfreeze
            ):
                param.requires_grad_(False)
                frozen.append(name)
        for pattern in self.freeze + self.unfreeze:
            if not any(
                fnmatch.fnmatchcase(n, pattern) for n, _ in module.named_parameters()
            ):
                raise ValueError(
                    f"freezing pattern {pattern!r} matches no parameter"
                )
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
