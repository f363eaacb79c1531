"""Global negatives under DDP: 2 ranks equal one process on the global batch.

``ddp_worker.py`` runs once in a single process on a global batch of 8
samples and once under ``torchrun --standalone --nproc_per_node=2`` (gloo,
CPU) with the batch split 5 / 3, the CLAP module wrapped in
``DistributedDataParallel`` and the loss computed through
``CLAPBrain.compute_objectives`` (which gathers every rank's inputs). Loss
and DDP-averaged gradients must match the single process to 1e-5 for
``InfoNCELoss`` and both forms of ``TemporalFocusedLoss``. With
``local_loss`` (each rank computes only the loss rows of its own items) the
DDP-averaged gradients must equal those without it and those of the single
process to 1e-6, and the ranks' losses must average to the global loss. The
model has no BatchNorm and no dropout (batch statistics differ per rank in
train mode).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORKER = HERE / "ddp_worker.py"
GATHERED = ["infonce", "tclap_batch", "tclap_pairwise", "hard_negative", "teminal_tnce"]
TOL = 1e-5
LOCAL_TOL = 1e-6

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is unavailable",
)


def _run(command):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env.pop("WORLD_SIZE", None)
    proc = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Results of the single-process run and of both DDP ranks."""
    tmp = tmp_path_factory.mktemp("ddp")
    _run([sys.executable, str(WORKER), str(tmp / "single")])
    torchrun = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        "--nnodes=1", "--nproc_per_node=2", str(WORKER), str(tmp / "ddp"),
    ]
    _run(torchrun)
    single = torch.load(tmp / "single" / "rank0.pt")
    ranks = [torch.load(tmp / "ddp" / f"rank{r}.pt") for r in range(2)]
    return single, ranks


def _max_abs(a, b):
    return float((a - b).abs().max())


@pytest.mark.parametrize("loss", GATHERED)
def test_ddp_loss_and_gradients_equal_single_process(runs, loss):
    single, ranks = runs
    ref = single[loss]
    assert set(ref["grads"]) and all(g.abs().sum() > 0 for g in ref["grads"].values())
    for result in ranks:
        got = result[loss]
        assert _max_abs(got["loss"], ref["loss"]) <= TOL
        for name, grad in ref["grads"].items():
            assert _max_abs(got["grads"][name], grad) <= TOL, name


def test_gathered_inputs_are_the_global_batch(runs):
    single, ranks = runs
    ref = single["infonce"]["inputs"]
    for result in ranks:
        got = result["infonce"]["inputs"]
        for name in ("audio_keys", "text_keys", "text_is_negative",
                     "audio_sample", "text_sample"):
            assert torch.equal(got[name], ref[name]), name
        assert torch.equal(got["audio_views"], ref["audio_views"])
        assert torch.equal(got["text_views"], ref["text_views"])
        assert _max_abs(got["audio_emb"], ref["audio_emb"]) <= TOL
        assert _max_abs(got["text_emb"], ref["text_emb"]) <= TOL
    # 5 + 3 samples; reversed views on samples 1, 3 and 7.
    assert ref["audio_sample"].tolist() == [0, 1, 1, 2, 3, 3, 4, 5, 6, 7, 7]


@pytest.mark.parametrize("loss", GATHERED)
def test_local_loss_gives_the_gradients_of_the_global_loss(runs, loss):
    """Each rank computes its own rows: same gradients, losses average to L."""
    single, ranks = runs
    ref = single[loss]
    for result in ranks:
        local, whole = result[f"{loss}+local_loss"], result[loss]
        for name, grad in ref["grads"].items():
            assert _max_abs(local["grads"][name], whole["grads"][name]) <= LOCAL_TOL, name
            # Against one process: the gathered path's tolerance (above); the
            # summation order differs across CPUs (1.2e-6 seen on one).
            assert _max_abs(local["grads"][name], grad) <= TOL, name
    shares = [r[f"{loss}+local_loss"]["loss"] for r in ranks]
    assert _max_abs(sum(shares) / len(shares), ref["loss"]) <= TOL
    # Each rank's value is world_size x its own share, not the global loss.
    assert max(_max_abs(share, ref["loss"]) for share in shares) > 1e-4


def test_switch_off_gives_each_rank_its_local_loss(runs):
    single, ranks = runs
    global_loss = float(single["infonce_local"]["loss"])
    local = [float(r["infonce_local"]["loss"]) for r in ranks]
    assert all(abs(value - global_loss) > 1e-3 for value in local)
    assert abs(local[0] - local[1]) > 1e-3


def test_two_rank_recipe_trains_evaluates_and_exports(tmp_path):
    """`torchrun --nproc_per_node=2` of the synthetic recipe on CPU (gloo)."""
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        str(ROOT / "recipes" / "Synthetic" / "CLAP" / "train.py"),
        str(ROOT / "recipes" / "Synthetic" / "CLAP" / "hparams" / "clap.yaml"),
        "--distributed_backend=gloo", "--device=cpu", "--noprogressbar",
        "--num_train_clips=64", "--num_valid_clips=16", "--num_test_clips=16",
        "--number_of_epochs=1", "--batch_size=16",
        f"--output_folder={out}", f"--data_folder={tmp_path / 'data'}",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "results.json").is_file()
    for name in ("hyperparams.yaml", "README.md", "clap.safetensors", "tokenizer.ckpt"):
        assert (out / "pretrained" / name).is_file(), name


@pytest.mark.parametrize("run", ["short_rank", "short_rank_local"])
def test_rank_without_usable_samples_does_not_stall_the_others(runs, run):
    """A rank with 0 or 1 usable samples takes part with zero rows.

    A rank that simply skipped would either leave the other waiting forever
    or, as in this sequence, pair its next step's collectives with the other
    rank's current ones (silently wrong losses). The run must finish with
    the losses and parameters of single-process training on the usable
    samples of both ranks (a step where no rank has enough changes nothing).
    With ``local_loss`` (``short_rank_local``) such a rank owns no row of the
    loss; the ranks' losses average to the single-process loss.
    """
    single, ranks = runs
    ref = single["short_rank"]
    assert all(torch.isfinite(loss) for loss in ref["losses"])
    assert float(ref["losses"][3]) == 0.0  # skipped: no usable sample anywhere
    assert all(float(loss) != 0.0 for i, loss in enumerate(ref["losses"]) if i != 3)
    for before, after in zip(ref["params"], ref["params"][1:]):
        moved = max(_max_abs(after[n], before[n]) for n in before)
        assert (moved == 0.0) == (after is ref["params"][3])
    if run == "short_rank_local":
        for step, ref_loss in enumerate(ref["losses"]):
            mean = sum(r[run]["losses"][step] for r in ranks) / len(ranks)
            assert _max_abs(mean, ref_loss) <= TOL, step
    for result in ranks:
        got = result[run]
        for step, (loss, ref_loss) in enumerate(zip(got["losses"], ref["losses"])):
            assert torch.isfinite(loss), step
            assert run == "short_rank_local" or _max_abs(loss, ref_loss) <= TOL, step
        for step, (params, ref_params) in enumerate(zip(got["params"], ref["params"])):
            for name, value in ref_params.items():
                assert _max_abs(params[name], value) <= TOL, (step, name)
