"""Evaluations beyond clip-level retrieval: ZSTE, sound event detection, grounding.

Each evaluation is usable from a recipe (as an ``extra_evaluations`` entry of
:class:`speechbrain_tclap.brain.CLAPBrain`, see
:class:`speechbrain_tclap.evaluation.base.Evaluator`) and from the pretrained
interface. This package sits above the trainer and the interface: it may
import them, they never import it.
"""
