"""Mean ± std over training seeds of recipe results (``evaluation.seeds``)."""

import json

import pytest

from speechbrain_tclap.evaluation.seeds import load_seed_metrics, main, mean_std


def _write(folder, seed, metrics, name="results.json"):
    path = folder / str(seed)
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(json.dumps({"metrics": metrics, "chance": {"acc": 0.1, "zste3_acc": 1 / 3}}))


def test_command_line_table_over_experiments(tmp_path):
    for seed, acc in ((1234, 0.8), (1235, 0.9), (1236, 0.7)):
        _write(tmp_path / "tclap", seed, {"acc": acc, "binary": 0.95})
    _write(tmp_path / "clap", 1234, {"acc": 0.85})
    (tmp_path / "clap" / "1235").mkdir()  # an unfinished run: no results.json
    (tmp_path / "clap" / "notes").mkdir()
    out = tmp_path / "table.md"
    table = main([str(tmp_path / "tclap"), str(tmp_path / "clap"), "--metrics", "acc", "binary",
                  "--labels", "T-CLAP", "CLAP", "--output", str(out)])
    assert out.read_text().strip() == table
    rows = table.splitlines()
    assert rows[2] == "| chance | | 0.100 | — |"
    assert rows[3] == "| T-CLAP | 1234, 1235, 1236 | 0.800 ± 0.100 (0.800 / 0.900 / 0.700) | 0.950 ± 0.000 (0.950 / 0.950 / 0.950) |"
    assert rows[4] == "| CLAP | 1234 | 0.850 ± 0.000 | — |"


def test_zste_files_and_errors(tmp_path):
    _write(tmp_path / "ab", 1, {"zste3_acc": 0.9}, name="zste.json")
    assert load_seed_metrics(str(tmp_path / "ab"), "zste.json") == {1: {"zste3_acc": 0.9}}
    with pytest.raises(FileNotFoundError, match="no <seed>/results.json"):
        load_seed_metrics(str(tmp_path / "ab"))
    with pytest.raises(FileNotFoundError, match="missing"):
        load_seed_metrics(str(tmp_path / "missing"))
    with pytest.raises(SystemExit):
        main([str(tmp_path / "ab"), "--metrics", "zste3_acc", "--file", "zste.json", "--labels", "a", "b"])
    with pytest.raises(ValueError):
        mean_std([])
