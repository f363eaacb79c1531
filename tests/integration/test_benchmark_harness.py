"""The benchmark command on a tiny exported model over fake ESC-50 and FSDD.

The model is the recipes' tiny CLAP (``hparams/models/tiny_clap.yaml``,
16 kHz, 2.5-s window) with random weights, exported and loaded offline as a
user would; the datasets are small fake copies of the ESC-50 and FSDD
layouts (one ESC clip longer than the window, so it goes through the
sliding windows). Checks: the result files, the skip messages of absent
datasets, and identical numbers on a second run.

Authors
 * speechbrain-tclap developers 2026
"""

import csv

import numpy as np
import pytest
import soundfile as sf

RATE = 16000
ESC = ("dog", "rain", "crackling_fire")
DIGITS = ("zero", "one", "two")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, export_tiny_clap):
    texts = [f"This is a sound of {w}." for w in ("dog", "rain", "crackling fire", "bell")]
    texts += [f"the spoken digit {d}" for d in DIGITS + ("three",)]
    return export_tiny_clap(tmp_path_factory.mktemp("bench_model"), texts * 4, 120)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_data")
    rng = np.random.default_rng(1)
    esc = root / "ESC-50"
    (esc / "audio").mkdir(parents=True)
    (esc / "meta").mkdir()
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for i, category in enumerate(ESC * 2):
        seconds = 4.0 if i == 0 else 1.0 + 0.5 * i  # the first needs windows
        name = f"{1 + i % 2}-{100 + i}-A-{i % 3}.wav"
        sf.write(str(esc / "audio" / name), 0.2 * rng.standard_normal(int(seconds * RATE)), RATE)
        lines.append(f"{name},{1 + i % 2},{i % 3},{category},True,{100 + i},A")
    (esc / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    fsdd = root / "fsdd"
    (fsdd / "audio").mkdir(parents=True)
    rows = ["filename,label,digit,speaker,split"]
    for d, word in enumerate(DIGITS):
        for index in (0, 7):
            name = f"audio/{d}_lucas_{index}.flac"
            sf.write(str(fsdd / name), 0.2 * rng.standard_normal(6000), 8000)  # resampled
            rows.append(f"{name},{word},{d},lucas,{'test' if index < 5 else 'train'}")
    (fsdd / "metadata.csv").write_text("\n".join(rows) + "\n")
    return root


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_harness_command_and_determinism(pretrained, data_root, tmp_path, capsys):
    from speechbrain_tclap.benchmark.__main__ import main
    from speechbrain_tclap.benchmark.runner import run_benchmark
    from speechbrain_tclap.inference import CLAP

    out = tmp_path / "first"
    code = main([
        "--model", pretrained, "--data-root", str(data_root), "--output", str(out),
        "--tasks", "esc10", "fsdd", "us8k", "clotho", "--templates-sweep",
        "--batch-size", "4", "--no-progress",
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "| esc10 | ESC-10 | acc | softmax |" in printed
    rows = {r["task"]: r for r in read_csv(out / "results.csv")}
    assert rows["esc10"]["status"] == rows["fsdd"]["status"] == "ok"
    assert rows["esc10"]["clips"] == "6" and rows["fsdd"]["clips"] == "3"  # FSDD test split
    assert float(rows["esc10"]["chance"]) == pytest.approx(1 / 3)
    assert rows["fsdd"]["template"] == "the spoken digit {}"
    assert rows["us8k"]["status"] == rows["clotho"]["status"] == "absent"
    table = (out / "results.md").read_text()
    assert "- us8k (UrbanSound8K): absent: no UrbanSound8K" in table
    assert "- clotho (Clotho): absent" in table
    assert (out / "templates.md").is_file()

    model = CLAP.from_hparams(
        source=pretrained, savedir=str(tmp_path / "iface"), run_opts={"device": "cpu"}
    )
    again = run_benchmark(
        model, str(data_root), str(tmp_path / "second"), tasks=["esc10", "fsdd"],
        templates_sweep=True, batch_size=3, progress=False,
    )  # fmt: skip
    values = {r.task: r.metrics for r in again}
    for task in ("esc10", "fsdd"):
        assert values[task]["acc"] == float(rows[task]["value"])  # other batches, same numbers
    first_sweep = read_csv(out / "templates.csv")
    assert first_sweep == read_csv(tmp_path / "second" / "templates.csv")
