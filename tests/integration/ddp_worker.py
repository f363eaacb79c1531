"""Worker of ``test_ddp.py``: gathered contrastive losses under DDP.

Run alone (``python ddp_worker.py OUT``) it computes, in one process, the
losses of a fixed global batch of 8 samples and their gradients. Run under
``torchrun --nproc_per_node=2`` (gloo, CPU) it splits the same batch 5 / 3
over the ranks, wraps the CLAP module in ``DistributedDataParallel``, calls
``CLAPBrain.compute_objectives`` (which gathers the inputs of every rank) and
backpropagates. Each rank writes ``rank<r>.pt`` with the loss, the DDP-averaged
parameter gradients and the gathered inputs, for every loss:
``InfoNCELoss``, ``TemporalFocusedLoss`` (batch and pairwise forms),
MGA-CLAP's ``HardNegativeLoss``, TeminAL's ``TemporalNCELoss``, each also
with ``local_loss`` (``<name>+local_loss``: each rank computes the rows of
its own items only), and a control with ``gather_across_ranks`` off (each
rank's local loss).

Then it trains with ``CLAPBrain.fit_batch`` for the steps of ``SHORT_STEPS``,
where a rank sometimes holds no usable sample (all audio unreadable) or only
one: such a rank must still take part in every collective, or the other
rank would wait forever. Alone, the process trains on the usable samples of
both ranks together (a step without any is skipped). ``short_rank`` holds
each step's loss and the parameters after it; ``short_rank_local`` the same
with ``local_loss`` (a rank without samples owns no row of the loss).

The batch holds order-swapped negative captions, reversed audio views whose
swapped caption is their positive, captions repeated across ranks (positives
of each other by key) and a swapped negative equal to another sample's main
caption on the other rank.

The model is tiny and has neither BatchNorm nor dropout: batch statistics
differ per rank in train mode, which would make per-rank embeddings differ
from the single-process ones whatever the gather does.

Authors
 * speechbrain-tclap developers 2026
"""

import datetime
import os
import sys
from types import SimpleNamespace

import torch
from torch import nn

EVENTS = ["dog", "cat", "rain", "bell", "car", "bird"]
# (first, second, reversed audio?): sample 1 and 6 share a caption (ranks 0
# and 1); sample 5's swapped negative is sample 2's main caption.
PAIRS = [
    ("dog", "cat", False),
    ("rain", "bell", True),
    ("car", "bird", False),
    ("bell", "dog", True),
    ("cat", "rain", False),
    ("bird", "car", False),
    ("rain", "bell", False),
    ("dog", "bird", True),
]
SPLIT = 5  # rank 0 holds samples [0, 5), rank 1 the rest
# Losses also run with ``local_loss`` (each rank computes its own rows).
LOCAL_LOSS = ["infonce", "tclap_batch", "tclap_pairwise", "hard_negative", "teminal_tnce"]
# Per step, the sample indices of rank 0 and rank 1 (None: unreadable audio).
# A rank with fewer than 2 usable samples contributes none of them.
SHORT_STEPS = [
    ([0, 1, 2], [3, 4, 5]),
    ([0, 1, 2, 3], [None]),  # rank 1: nothing readable
    ([6], [4, 5, 6, 7]),  # rank 0: one sample
    ([None], [7]),  # no rank has enough: no update anywhere
    ([0, 1], [2, 3]),
]
WAV_LEN = 16


class Frames(nn.Module):
    """Waveform -> frames of 4 samples."""

    def forward(self, wavs, wav_lens=None):
        return wavs.unflatten(1, (-1, 4)), wav_lens


class Audio(nn.Module):
    """Order-aware frame encoder without BatchNorm or dropout."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 8)
        self.pos = nn.Parameter(torch.randn(WAV_LEN // 4, 1))

    def forward(self, feats, lens=None):
        from speechbrain_tclap.lobes.outputs import AudioEncoderOutput

        h = torch.tanh(self.lin(feats)) * (1 + self.pos)
        mask = torch.ones(h.shape[:2], dtype=torch.bool)
        return AudioEncoderOutput(h.mean(1), h, mask)


class Text(nn.Module):
    """Word + position embeddings, masked mean (batch-independent)."""

    def __init__(self):
        super().__init__()
        self.words = nn.Embedding(64, 8)
        self.pos = nn.Embedding(8, 8)

    def forward(self, texts):
        from speechbrain_tclap.lobes.outputs import TextEncoderOutput

        tokens = [[sum(map(ord, w)) % 64 for w in t.split()][:8] for t in texts]
        width = max(len(t) for t in tokens)
        ids = torch.zeros(len(texts), width, dtype=torch.long)
        mask = torch.zeros(len(texts), width, dtype=torch.bool)
        for row, t in enumerate(tokens):
            ids[row, : len(t)] = torch.tensor(t)
            mask[row, : len(t)] = True
        h = self.words(ids) + self.pos(torch.arange(width)).unsqueeze(0)
        pooled = (h * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        return TextEncoderOutput(pooled, h, mask)


def build_clap():
    """The tiny CLAP, identical in every process (seeded)."""
    from speechbrain_tclap.lobes.clap import CLAP

    torch.manual_seed(0)
    return CLAP(Frames(), Audio(), nn.Linear(8, 6), Text(), nn.Linear(8, 6))


def build_samples():
    """The fixed global batch (8 samples, seeded waveforms)."""
    from speechbrain_tclap.data.batching import AudioView, CLAPSample, TextView

    g = torch.Generator().manual_seed(1)
    samples = []
    for i, (a, b, reverse) in enumerate(PAIRS):
        main, swapped = f"{a} followed by {b}", f"{b} followed by {a}"
        wav = torch.randn(WAV_LEN, generator=g)
        audio = [AudioView(wav, main)]
        texts = [TextView(main)]
        if reverse:
            audio.append(AudioView(wav.flip(0), swapped, view="reversed"))
            texts.append(TextView(swapped, view="reversed"))
        else:
            texts.append(TextView(swapped, view="swapped", negative=True))
        samples.append(CLAPSample(str(i), audio, texts, labels=[a, b]))
    return samples


def losses():
    """Name -> (loss module, ``gather_across_ranks``, ``local_loss``)."""
    from speechbrain_tclap.losses import (
        HardNegativeLoss,
        InfoNCELoss,
        TemporalFocusedLoss,
        TemporalNCELoss,
    )

    table = {
        "infonce": (InfoNCELoss(), True),
        "hard_negative": (HardNegativeLoss(beta=0.15), True),
        # TeminAL's weighted temporal NCE over the samples with both views.
        "teminal_tnce": (
            TemporalNCELoss(views=("main", "reversed"), alpha_same=0.5, alpha_cross=0.8, beta=0.7),
            True,
        ),
        "tclap_batch": (TemporalFocusedLoss(0.5, form="batch"), True),
        "tclap_pairwise": (TemporalFocusedLoss(0.5, form="pairwise"), True),
        # Control: the switch off gives each rank's local loss.
        "infonce_local": (InfoNCELoss(), False),
    }
    table = {name: (loss, gather, False) for name, (loss, gather) in table.items()}
    for name in LOCAL_LOSS:
        table[f"{name}+local_loss"] = (table[name][0], True, True)
    return table


def main(out):
    """Compute every loss and its gradients; write ``rank<r>.pt`` to ``out``."""
    import speechbrain as sb
    import torch.distributed as dist

    from speechbrain_tclap.brain import CLAPBrain
    from speechbrain_tclap.data.batching import collate_clap_samples
    from speechbrain_tclap.losses import ContrastiveInputs
    from speechbrain_tclap.utils.distributed import gather_contrastive_inputs

    distributed = "WORLD_SIZE" in os.environ
    rank = 0
    samples = build_samples()
    clap = build_clap()
    clap.eval()  # no dropout / batch statistics anywhere; explicit anyway
    model = clap
    if distributed:
        # A rank left waiting fails the test in a minute, not in 30.
        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
        rank = dist.get_rank()
        assert dist.get_world_size() == 2
        samples = samples[:SPLIT] if rank == 0 else samples[SPLIT:]
        model = nn.parallel.DistributedDataParallel(clap)
    batch = collate_clap_samples(samples)
    results = {}
    for name, (loss_fn, gather, local_loss) in losses().items():
        model.zero_grad(set_to_none=True)
        audio, text, scale = model(batch.wavs, batch.wav_lens, batch.texts)
        inputs = ContrastiveInputs(
            audio, text, scale, batch.audio_keys, batch.text_keys,
            batch.text_is_negative, batch.audio_views, batch.text_views,
            batch.audio_sample, batch.text_sample,
        )
        hparams = SimpleNamespace(
            loss=loss_fn, gather_across_ranks=gather, local_loss=local_loss
        )
        brain = SimpleNamespace(hparams=hparams)
        loss = CLAPBrain.compute_objectives(brain, inputs, batch, sb.Stage.TRAIN)
        loss.backward()
        gathered = gather_contrastive_inputs(inputs)
        results[name] = {
            "loss": loss.detach(),
            "grads": {n: p.grad.detach().clone() for n, p in clap.named_parameters()},
            "inputs": {
                "audio_emb": gathered.audio_emb.detach(),
                "text_emb": gathered.text_emb.detach(),
                "audio_keys": gathered.audio_keys,
                "text_keys": gathered.text_keys,
                "text_is_negative": gathered.text_is_negative,
                "audio_views": gathered.audio_views,
                "text_views": gathered.text_views,
                "audio_sample": gathered.audio_sample,
                "text_sample": gathered.text_sample,
            },
        }
    results["short_rank"] = short_rank_steps(distributed, rank)
    results["short_rank_local"] = short_rank_steps(distributed, rank, local_loss=True)
    os.makedirs(out, exist_ok=True)
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    if distributed:
        dist.barrier()
        dist.destroy_process_group()


def short_rank_steps(distributed, rank, local_loss=False):
    """Train through ``SHORT_STEPS`` with ``CLAPBrain.fit_batch``.

    Returns ``{"losses": [...], "params": [{name: tensor}, ...]}``, one entry
    per step.
    """
    import speechbrain as sb

    from speechbrain_tclap.brain import CLAPBrain
    from speechbrain_tclap.data.batching import collate_clap_samples
    from speechbrain_tclap.losses import InfoNCELoss

    samples = build_samples()
    clap = build_clap()
    brain = CLAPBrain(
        modules={"clap": clap},
        opt_class=lambda params: torch.optim.SGD(params, lr=0.5),
        hparams={"loss": InfoNCELoss(), "local_loss": local_loss},
        run_opts={"device": "cpu", "distributed_backend": "gloo"},
    )
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    losses, params = [], []
    for shares in SHORT_STEPS:
        if distributed:
            chosen = shares[rank]
        else:  # the usable samples of both ranks, in rank order
            usable = [[i for i in share if i is not None] for share in shares]
            chosen = [i for share in usable if len(share) >= 2 for i in share]
        batch = collate_clap_samples(
            [None if i is None else samples[i] for i in chosen]
        )
        brain.step += 1
        losses.append(brain.fit_batch(batch))
        params.append(
            {n: p.detach().clone() for n, p in clap.named_parameters()}
        )
    return {"losses": losses, "params": params}


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1])
