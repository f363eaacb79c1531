"""Preparation of the recipes' datasets from their standard layouts (nothing is downloaded).

One module per corpus (``esc50``, ``audiocaps``, ``clotho``), each writing
idempotent SpeechBrain JSON manifests. The recipes' ``*_prepare.py`` scripts
are thin wrappers of these modules, and the zero-shot benchmark uses them
directly: the package never reads ``recipes/``.
"""
