"""What a training run skipped, and whether it is learning at all.

:class:`TrainingGuard` is kept by ``CLAPBrain`` and saved with every
checkpoint, so its totals cover the whole run across resumes. It

* counts skipped samples and batches and stops a run whose epoch trained
  no batch;
* skips steps with a non-finite loss or gradients (logged) and stops the run
  after more than ``limit`` of them;
* reports a collapse: a logit scale below ``collapse_logit_scale`` (uniform
  probabilities, loss at ln(batch)) for ``collapse_steps`` consecutive steps,
  or, in an epoch shorter than twice that, for its whole second half.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import math
from typing import Dict, Optional

from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)
from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)


class TrainingFailure(RuntimeError):
    """The run cannot give a trained model; the message says why and where."""


@register_checkpoint_hooks
class TrainingGuard:
    """Counts skips, refuses divergence and reports collapse.

    Arguments
    ---------
    limit : int
        Non-finite steps skipped before the run stops (YAML ``nonfinite_patience``).
    collapse_logit_scale : float
        Logit scale below which a step counts as collapsed.
    collapse_steps : int
        Consecutive collapsed steps that make a collapse.

    Example
    -------
    >>> guard = TrainingGuard(limit=1, collapse_steps=2)
    >>> guard.start_epoch()
    >>> guard.skip_step("loss", step=3, lr=10.0)
    >>> for step in (4, 5):
    ...     guard.trained_batch(logit_scale=1e-4, loss=2.079, rows=8, step=step)
    >>> guard.end_epoch(1)
    >>> guard.summary()["collapsed"], guard.summary()["nonfinite_steps_skipped"]
    (True, 1)
    >>> guard.skip_step("gradients", step=6, lr=10.0)
    Traceback (most recent call last):
    ...
    speechbrain_tclap.utils.training_guard.TrainingFailure: training diverged: non-finite gradients at step 6 (lr 10); 2 steps had non-finite values, more than nonfinite_patience=1. Lower the learning rate and start again with --fresh_start=True
    """

    def __init__(
        self,
        limit: int = 3,
        collapse_logit_scale: float = 0.1,
        collapse_steps: int = 20,
    ):
        self.limit = int(limit)
        self.collapse_logit_scale = float(collapse_logit_scale)
        self.collapse_steps = int(collapse_steps)
        self.totals = {"skipped_samples": 0, "skipped_batches": 0, "nonfinite_steps_skipped": 0}
        self.collapse: Optional[Dict] = None
        self._streak = 0
        self._last: Dict = {}
        self._epoch = {"batches": 0, "trained": 0}

    def start_epoch(self) -> None:
        """Reset the per-epoch counts."""
        self._epoch = {"batches": 0, "trained": 0}

    def skipped_batch(self, samples: int) -> None:
        """Count a training batch that could not be used.

        Arguments
        ---------
        samples : int
            Its samples (readable or not).
        """
        self._epoch["batches"] += 1
        self.totals["skipped_batches"] += 1
        self.totals["skipped_samples"] += samples

    def skipped_samples(self, samples: int) -> None:
        """Count unreadable samples of a batch that is still used.

        Arguments
        ---------
        samples : int
            Samples left out of the batch.
        """
        self.totals["skipped_samples"] += samples

    def skip_step(self, what: str, step: int, lr: float) -> None:
        """Record an optimiser step left out for non-finite ``what``.

        Arguments
        ---------
        what : str
            ``"loss"`` or ``"gradients"``.
        step : int
            The step that was skipped (1-based).
        lr : float
            The learning rate at that step.

        Raises
        ------
        TrainingFailure
            More than ``limit`` steps were skipped.
        """
        self.totals["nonfinite_steps_skipped"] += 1
        count = self.totals["nonfinite_steps_skipped"]
        if count > self.limit:
            raise TrainingFailure(
                f"training diverged: non-finite {what} at step {step} (lr {lr:.3g}); "
                f"{count} steps had non-finite values, more than "
                f"nonfinite_patience={self.limit}. Lower the learning rate and start "
                "again with --fresh_start=True"
            )
        logger.warning(
            "non-finite %s at step %d (lr %.3g): step skipped (%d of at most %d)",
            what, step, lr, count, self.limit,
        )

    def trained_batch(self, logit_scale: float, loss: float, rows: int, step: int) -> None:
        """Record a batch that trained; watch the logit scale for a collapse.

        Arguments
        ---------
        logit_scale : float
            The model's logit scale after the batch's step.
        loss : float
            The batch loss.
        rows : int
            Audio rows of the batch (ln(rows) is the loss of uniform logits).
        step : int
            Optimiser steps so far.
        """
        self._epoch["batches"] += 1
        self._epoch["trained"] += 1
        collapsed = logit_scale < self.collapse_logit_scale
        self._streak = self._streak + 1 if collapsed else 0
        if collapsed:
            self._last = {"step": step, "logit_scale": logit_scale, "loss": loss,
                          "uniform_loss": math.log(max(rows, 1))}

    def end_epoch(self, epoch: int) -> None:
        """Stop a run whose epoch trained nothing; report a collapse once.

        Arguments
        ---------
        epoch : int
            The epoch that ended.

        Raises
        ------
        TrainingFailure
            The epoch had batches but every one was skipped.
        """
        batches, trained = self._epoch["batches"], self._epoch["trained"]
        if batches and not trained:
            raise TrainingFailure(
                f"epoch {epoch} trained nothing: all {batches} training batches were "
                f"skipped ({self.totals['skipped_samples']} samples so far: unreadable "
                "audio, or batches with fewer than 2 usable samples, e.g. batch_size=1)"
            )
        # N steps in a row, or the second half of an epoch shorter than that.
        needed = min(self.collapse_steps, max(1, math.ceil(trained / 2)))
        if self.collapse is None and self._last and self._streak >= needed:
            self.collapse = {"epoch": epoch, **self._last}
            logger.warning(
                "training collapsed by step %d (epoch %d): logit scale %.3g < %.3g for "
                "%d consecutive steps, loss %.4f vs ln(batch) %.4f: every similarity is "
                "almost equal and zero-shot probabilities are uniform. Lower the "
                "learning rate and start again with --fresh_start=True",
                self._last["step"], epoch, self._last["logit_scale"],
                self.collapse_logit_scale, self._streak, self._last["loss"],
                self._last["uniform_loss"],
            )

    def summary(self) -> Dict:
        """Totals for ``results.json``.

        Returns
        -------
        dict
            Skip counts, non-finite steps, ``collapsed`` and its details.
        """
        return {**self.totals, "collapsed": self.collapse is not None,
                "collapse": self.collapse}

    @mark_as_saver
    def _save(self, path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"totals": self.totals, "collapse": self.collapse,
                       "streak": self._streak, "last": self._last}, f)

    @mark_as_loader
    def _load(self, path, end_of_epoch=False):
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        self.totals.update(state["totals"])
        self.collapse, self._streak, self._last = state["collapse"], state["streak"], state["last"]
