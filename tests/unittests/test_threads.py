"""The torch thread count of recipes and command lines (issue 16, point 2)."""

import os

import pytest
import torch

from speechbrain_tclap.utils.threads import default_num_threads, set_num_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_default_respects_omp_num_threads_else_the_affinity(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_num_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_num_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "many")  # not a count: ignored
    assert default_num_threads() == len(os.sched_getaffinity(0))


def test_set_num_threads_logs_the_choice(restore_threads, monkeypatch, caplog):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with caplog.at_level("INFO", logger="speechbrain_tclap.utils.threads"):
        assert set_num_threads() == 1
    assert torch.get_num_threads() == 1
    assert "torch uses 1 CPU thread(s) (default: OMP_NUM_THREADS" in caplog.text
    for bad in (0, -2, "two", 1.5, True):
        with pytest.raises(ValueError, match="num_threads must be a positive integer"):
            set_num_threads(bad)


def test_evaluation_command_lines_take_num_threads(restore_threads):
    from speechbrain_tclap.benchmark.__main__ import build_parser
    from speechbrain_tclap.evaluation.cli import evaluation_parser, underscore_flags

    args = evaluation_parser("demo", "clips").parse_args(
        ["--model", "m", "--manifest", "x.json", "--output_folder", "o", "--num_threads", "1"]
    )
    assert args.num_threads == 1
    assert build_parser().parse_args(underscore_flags(["--num-threads", "2"])).num_threads == 2
