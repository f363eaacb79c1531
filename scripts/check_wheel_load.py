#!/usr/bin/env python3
"""Loads a model by short name from an installed speechbrain-tclap, offline.

Run from any directory but the checkout (``scripts/check_wheel.sh`` runs it
in a venv holding only the wheel; ``tests/unittests/test_packaging.py`` on
the unpacked wheel). It writes a random-init checkpoint of a shrunken
``laion-630k-audioset`` (the model file of the package, small widths), loads
it with ``CLAP.from_pretrained("laion-630k-audioset", checkpoint=...)`` and
checks that the interface embeds audio as the module it was saved from, and
that a missing local checkpoint fails at once. Prints one line per check.

Authors
 * speechbrain-tclap developers 2026
"""

import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from hyperpyyaml import load_hyperpyyaml

import speechbrain_tclap
from speechbrain_tclap.inference import CLAP
from speechbrain_tclap.pretrained import list_pretrained
from speechbrain_tclap.utils.package_data import hparams_folder

#: A 64-frame HTSAT and a one-layer text tower: the file's structure, tiny.
SMALL = {
    "audio_encoder": {
        "spec_size": 64, "embed_dim": 8, "depths": [1, 1], "num_heads": [1, 1], "window_size": 4
    },
    "audio_projection": {"input_size": 16},
    "text_encoder": {"config": {
        "vocab_size": 300, "hidden_size": 16, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 20,
    }},
    "text_projection": {"input_size": 16},
    "joint_dim": 16,
    "clip_seconds": 0.5,  # the 64-frame window holds 0.64 s
}


def main() -> None:
    """Runs the checks; exits non-zero on the first failure."""
    print("package:", os.path.dirname(speechbrain_tclap.__file__))
    print("yaml folder:", hparams_folder())
    print("names:", len(list_pretrained()))
    with tempfile.TemporaryDirectory() as tmp:
        with open(hparams_folder() / "models" / "laion_clap_htsat_tiny.yaml") as f:
            source = load_hyperpyyaml(f, SMALL)["clap"].eval()
        checkpoint = os.path.join(tmp, "random_init.ckpt")
        torch.save(source.state_dict(), checkpoint)
        start = time.perf_counter()
        clap = CLAP.from_pretrained(
            "laion-630k-audioset", checkpoint=checkpoint,
            savedir=os.path.join(tmp, "savedir"), overrides={"model": SMALL},
        )
        wavs = torch.randn(2, 24000)  # 0.5 s at 48 kHz: inside the 64-frame window
        with torch.no_grad():
            torch.testing.assert_close(clap.encode_audio(wavs), source.encode_audio(wavs))
        print(f"from_pretrained('laion-630k-audioset'): ok in {time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        try:
            CLAP.from_pretrained("laion-630k-audioset", checkpoint=os.path.join(tmp, "missing.pt"))
        except FileNotFoundError as error:
            print(f"missing checkpoint: {error} ({time.perf_counter() - start:.2f} s)")
        else:
            sys.exit("a missing checkpoint loaded")


if __name__ == "__main__":
    main()
