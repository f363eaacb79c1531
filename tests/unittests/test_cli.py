"""The ``speechbrain-tclap`` command: lazy help, one flag style, classify / embed / ground.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from speechbrain_tclap.benchmark.__main__ import build_parser as benchmark_parser
from speechbrain_tclap.cli import TOOLS, main
from speechbrain_tclap.evaluation.cli import underscore_flags


def test_parsers_import_no_torch():
    code = (
        "import importlib, sys\n"
        "from speechbrain_tclap.cli import TOOLS, build_parser\n"
        "build_parser()\n"
        "for module, _ in TOOLS.values(): importlib.import_module(module)\n"
        "print(sorted(m for m in ('torch', 'speechbrain', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["classify", "publish", *TOOLS])
def test_help_names_the_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: speechbrain-tclap {command}")


def test_one_flag_style_with_dashed_aliases():
    new = benchmark_parser().parse_args(underscore_flags(
        ["--data-root", "d", "--output", "o", "--templates-sweep", "--batch-size", "4"]))
    old = benchmark_parser().parse_args(
        ["--data_root", "d", "--output_folder", "o", "--templates_sweep", "--batch_size", "4"])
    assert vars(new) == vars(old)
    flags = [f for action in benchmark_parser()._actions for f in action.option_strings]
    assert not [f for f in flags if "-" in f[2:]], flags


def test_list_prints_the_names(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "laion-630k-audioset: laion_clap_htsat_tiny.yaml" in out and "msclap-2023" in out


def test_classify_embed_ground(tiny_export, tmp_path, capsys):
    files = sorted(str(p) for p in (Path(tiny_export).parent / "audio").glob("*.wav"))
    model = ["--model", tiny_export, "--savedir", str(tmp_path / "savedir")]
    assert main(["classify", *files, *model, "--labels", "dog", "rain", "bell",
                 "--top_k", "2", "--batch_size", "2", "--output", str(tmp_path / "c.json")]) == 0
    classified = json.loads((tmp_path / "c.json").read_text())
    assert [r["file"] for r in classified] == files
    for row in classified:
        assert len(row["top"]) == 2 and row["top"][0][1] >= row["top"][1][1]

    assert main(["embed", *files, *model, "--texts", "a dog", "--output", str(tmp_path / "e.pt")]) == 0
    saved = torch.load(tmp_path / "e.pt", weights_only=True)
    assert saved["audio"].shape == (3, 128) and saved["text"].shape == (1, 128)
    assert torch.allclose(saved["audio"].norm(dim=-1), torch.ones(3), atol=1e-4)

    assert main(["ground", files[0], *model, "--texts", "a dog", "--threshold", "-1",
                 "--output", str(tmp_path / "g.json")]) == 0
    (row,) = json.loads((tmp_path / "g.json").read_text())
    assert row["events"][0]["text"] == "a dog" and row["events"][0]["onset"] == 0.0
    assert "written:" in capsys.readouterr().out
