"""speechbrain-tclap: temporal and fine-grained CLAP for SpeechBrain.

The package is a SpeechBrain plugin: lobes (``speechbrain_tclap.lobes``),
losses, data tools, a ``CLAPBrain`` and a pretrained interface that YAML
files reference by dotted path.
"""

__version__ = "0.1.0"
