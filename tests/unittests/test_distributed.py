"""Gathering contrastive inputs across ranks, in one process.

* outside a process group everything is the identity;
* caption key ids are the same in every batch and every process;
* a fake world of two ranks (threads exchanging through a barrier, patched
  into the module's collectives) checks the padding of unequal row counts,
  the sample-index offsets, the view codes, and that the backward gives each
  rank ``world_size`` times the single-process gradient of its rows (which
  DDP's averaging turns into the exact gradient), also with ``local_loss``
  (each rank computes its own rows only);
* ``CLAPBrain.compute_objectives`` gathers only in training, and only with
  ``gather_across_ranks`` on.
"""

import os
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest
import speechbrain as sb
import torch

import speechbrain_tclap.brain as brain_module
from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.data.batching import (
    AudioView,
    CLAPSample,
    TextView,
    collate_clap_samples,
    key_to_id,
)
from speechbrain_tclap.losses import (
    ContrastiveInputs,
    HardNegativeLoss,
    InfoNCELoss,
    TemporalFocusedLoss,
    TemporalNCELoss,
)
from speechbrain_tclap.utils import distributed


def _samples():
    """Four samples: reversed audio, swapped negatives, a repeated caption."""
    out = []
    for i, (a, b, rev) in enumerate(
        [("dog", "cat", True), ("rain", "bell", False), ("cat", "dog", False), ("dog", "cat", False)]
    ):
        main, swapped = f"{a} then {b}", f"{b} then {a}"
        wav = torch.randn(8)
        audio = [AudioView(wav, main)]
        texts = [TextView(main)]
        if rev:
            audio.append(AudioView(wav.flip(0), swapped, view="reversed"))
            texts.append(TextView(swapped, view="reversed"))
        else:
            texts.append(TextView(swapped, view="swapped", negative=True))
        out.append(CLAPSample(str(i), audio, texts))
    return out


def _order_aside_samples():
    """:func:`_samples` with samples 1-3 captioned order-free for ``L_c``
    and their ordered captions set aside for ``L_t``."""
    out = _samples()[:1]
    for i, (a, b) in enumerate([("rain", "bell"), ("cat", "dog"), ("dog", "cat")], start=1):
        texts = [
            TextView(" and ".join(sorted((a, b)))),
            TextView(f"{a} then {b}", view="ordered", negative=True),
            TextView(f"{b} then {a}", view="swapped", negative=True),
        ]
        out.append(CLAPSample(str(i), [AudioView(torch.randn(8), texts[0].key)], texts))
    return out


def _inputs(batch, audio_emb, text_emb, scale):
    return ContrastiveInputs(
        audio_emb, text_emb, scale, batch.audio_keys, batch.text_keys,
        batch.text_is_negative, batch.audio_views, batch.text_views,
        batch.audio_sample, batch.text_sample,
    )


def test_identity_outside_a_process_group():
    assert not distributed.is_distributed()
    x = torch.randn(3, 2, requires_grad=True)
    assert distributed.gather_with_grad(x) is x
    assert distributed.gather_sizes(3) == [3]
    batch = collate_clap_samples(_samples())
    inputs = _inputs(batch, torch.randn(5, 4), torch.randn(8, 4), torch.tensor(1.0))
    assert distributed.gather_contrastive_inputs(inputs) is inputs


def test_key_ids_are_stable_across_batches_and_processes():
    samples = _samples()
    whole = collate_clap_samples(samples)
    part = collate_clap_samples(samples[2:])
    # Same key -> same id whatever the batch and the position in it.
    assert whole.audio_keys[-1] == part.audio_keys[-1] == key_to_id("dog then cat")
    assert whole.audio_keys[0] == whole.audio_keys[-1]
    # The swapped negative of sample 2 is the positive key of samples 0 and 3.
    assert part.text_keys[1] == whole.audio_keys[0]
    assert int(whole.audio_keys.min()) >= 0
    code = "from speechbrain_tclap.data.batching import key_to_id; print(key_to_id('dog then cat'))"
    values = set()
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        values.add(int(out.stdout))
    assert values == {key_to_id("dog then cat")}


class _FakeWorld:
    """Ranks as threads; collectives exchange values through a barrier."""

    def __init__(self, size):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=30)
        self.slots = [None] * size
        self.local = threading.local()

    def exchange(self, value):
        self.slots[self.local.rank] = value
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()
        return out

    def patch(self, monkeypatch):
        monkeypatch.setattr(distributed, "is_distributed", lambda: True)
        monkeypatch.setattr(distributed, "_rank_and_world", lambda: (self.local.rank, self.size))
        monkeypatch.setattr(
            distributed, "_all_gather_tensors", lambda t: [x.clone() for x in self.exchange(t)]
        )

        def all_reduce_sum(t):
            return t.copy_(torch.stack(self.exchange(t.clone())).sum(0))

        monkeypatch.setattr(distributed, "_all_reduce_sum", all_reduce_sum)

    def run(self, fn, per_rank_args):
        results, errors = [None] * self.size, []

        def target(rank):
            self.local.rank = rank
            try:
                results[rank] = fn(*per_rank_args[rank])
            except Exception as exc:  # surfaced below
                errors.append(exc)
                self.barrier.abort()

        threads = [threading.Thread(target=target, args=(r,)) for r in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


LOCAL_LOSSES = [
    InfoNCELoss(),
    TemporalFocusedLoss(form="batch"),
    TemporalFocusedLoss(form="pairwise"),
    HardNegativeLoss(beta=0.5, embedding_regularization=True),
    # Only sample 0 (rank 0) holds both views: rank 1 has no row of its own.
    TemporalNCELoss(views=("main", "reversed"), alpha_same=0.5, alpha_cross=0.8, beta=0.7),
]


@pytest.mark.parametrize("make_samples", [_samples, _order_aside_samples])
@pytest.mark.parametrize("local_loss", [False, True])
@pytest.mark.parametrize("loss_fn", LOCAL_LOSSES)
def test_fake_two_rank_gather_pads_offsets_and_scales_gradients(
    monkeypatch, loss_fn, local_loss, make_samples
):
    torch.manual_seed(0)
    samples = make_samples()
    whole = collate_clap_samples(samples)
    audio = torch.nn.functional.normalize(torch.randn(len(whole.audio_views), 6), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(len(whole.texts), 6), dim=-1)
    scale = torch.tensor(5.0)

    # Single process on the global batch.
    a_ref, t_ref = audio.clone().requires_grad_(), text.clone().requires_grad_()
    ref_loss = loss_fn(_inputs(whole, a_ref, t_ref, scale))
    ref_loss.backward()

    # Rank 0 holds 3 samples (4 audio, 6 texts), rank 1 one sample (1, 2): padding.
    parts = [collate_clap_samples(samples[:3]), collate_clap_samples(samples[3:])]
    na0, nt0 = len(parts[0].audio_views), len(parts[0].texts)
    rows = [(slice(0, na0), slice(0, nt0)), (slice(na0, None), slice(nt0, None))]
    world = _FakeWorld(2)
    world.patch(monkeypatch)

    def rank_step(batch, a_rows, t_rows):
        a = audio[a_rows].clone().requires_grad_()
        t = text[t_rows].clone().requires_grad_()
        gathered = distributed.gather_contrastive_inputs(
            _inputs(batch, a, t, scale), local_loss=local_loss
        )
        loss = loss_fn(gathered)
        loss.backward()
        return gathered, loss.detach(), a.grad, t.grad

    out = world.run(rank_step, [(parts[r], *rows[r]) for r in range(2)])
    for rank, (gathered, loss, a_grad, t_grad) in enumerate(out):
        for name in ("audio_keys", "text_keys", "text_is_negative", "audio_sample", "text_sample"):
            assert torch.equal(getattr(gathered, name), getattr(whole, name)), name
        assert torch.equal(gathered.audio_views, whole.audio_views)
        assert torch.equal(gathered.text_views, whole.text_views)
        assert torch.allclose(gathered.audio_emb, audio) and torch.allclose(gathered.text_emb, text)
        assert (gathered.local is not None) == local_loss
        if not local_loss:  # each rank's loss is the global loss
            assert torch.allclose(loss, ref_loss, atol=1e-6)
        a_rows, t_rows = rows[rank]
        assert torch.allclose(a_grad, 2 * a_ref.grad[a_rows], atol=1e-6)
        assert torch.allclose(t_grad, 2 * t_ref.grad[t_rows], atol=1e-6)
    if local_loss:  # world_size x each rank's share: they average to the loss
        assert torch.allclose(sum(o[1] for o in out) / 2, ref_loss, atol=1e-6)


def test_fake_world_gather_with_grad_of_empty_rank(monkeypatch):
    world = _FakeWorld(2)
    world.patch(monkeypatch)
    local = [torch.arange(6.0).view(3, 2), torch.zeros(0, 2)]
    out = world.run(lambda x: distributed.gather_with_grad(x), [(local[0],), (local[1],)])
    assert all(torch.equal(o, local[0]) for o in out)


def test_brain_gathers_only_in_training_and_when_switched_on(monkeypatch):
    calls = []

    def spy(inputs, local_loss=False):
        calls.append((inputs, local_loss))
        return inputs

    monkeypatch.setattr(brain_module, "gather_contrastive_inputs", spy)
    batch = collate_clap_samples(_samples()[1:3])
    emb = torch.nn.functional.normalize(torch.randn(2, 4), dim=-1)
    inputs = _inputs(batch, emb, torch.cat([emb[:1], emb[:1], emb[1:], emb[1:]]), torch.tensor(2.0))
    collected = []

    def brain(**hparams):
        return SimpleNamespace(
            hparams=SimpleNamespace(loss=InfoNCELoss(), **hparams),
            _collect=lambda p, b: collected.append(p),
        )

    loss = CLAPBrain.compute_objectives(brain(), inputs, batch, sb.Stage.TRAIN)
    assert len(calls) == 1 and calls[0][0] is inputs and calls[0][1] is False
    assert torch.isfinite(loss)
    CLAPBrain.compute_objectives(brain(gather_across_ranks=False), inputs, batch, sb.Stage.TRAIN)
    CLAPBrain.compute_objectives(brain(), inputs, batch, sb.Stage.VALID)
    assert len(calls) == 1 and collected == [inputs]
    CLAPBrain.compute_objectives(brain(local_loss=True), inputs, batch, sb.Stage.TRAIN)
    assert len(calls) == 2 and calls[1][0] is inputs and calls[1][1] is True
