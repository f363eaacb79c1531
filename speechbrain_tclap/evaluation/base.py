"""Base class of the extra evaluations that ``CLAPBrain`` runs (YAML ``extra_evaluations``).

The Brain does not import this module (the trainer stays below the
evaluations): it duck-types ``stages``, ``evaluate(brain, stage)`` and
``chance_levels(metrics)``, which :class:`Evaluator` gives defaults.

Authors
 * speechbrain-tclap developers 2026
"""

from typing import Dict

from speechbrain_tclap.utils.distributed import unwrap_module


class Evaluator:
    """Base class of the extra evaluations a recipe lists in YAML.

    ``CLAPBrain`` calls :meth:`evaluate` at the end of each of :attr:`stages`,
    modules in eval mode and gradients off; the metrics join the logged
    statistics and ``results.json``. Subclasses embed their own data with
    :meth:`model`, or read the clip embeddings of ``brain.accumulator``.

    Example
    -------
    >>> class CountClips(Evaluator):
    ...     def evaluate(self, brain, stage):
    ...         return {"clips": len(brain.accumulator.index)}
    >>> CountClips().chance_levels({"clips": 3})
    {}
    """

    #: Evaluate only at these stages (names of ``speechbrain.Stage``).
    stages = ("VALID", "TEST")

    def evaluate(self, brain, stage) -> Dict[str, float]:
        """Metrics of ``brain``'s model (override).

        Arguments
        ---------
        brain : CLAPBrain
            The running Brain.
        stage : speechbrain.Stage
            VALID or TEST.

        Returns
        -------
        dict
            Metric name -> value.
        """
        raise NotImplementedError

    def chance_levels(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """Chance levels of this evaluator's metrics (default: none).

        Arguments
        ---------
        metrics : dict
            All metrics of the stage.

        Returns
        -------
        dict
            Metric name -> chance value.
        """
        return {}

    @staticmethod
    def model(brain):
        """The CLAP module of ``brain`` without a DDP wrapper.

        Arguments
        ---------
        brain : CLAPBrain
            The running Brain.

        Returns
        -------
        torch.nn.Module
            The unwrapped model.
        """
        return unwrap_module(brain.modules.clap)
