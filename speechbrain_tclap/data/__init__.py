"""Data tools: audio reading, manifests, synthetic sound events, batching."""
