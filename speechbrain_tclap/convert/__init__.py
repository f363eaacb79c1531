"""Converters from foreign checkpoint formats to speechbrain-tclap state dicts."""
