"""Tests of the training machinery: freezing, clipping, skipping, checkpoints."""

import functools
import math

import pytest
import speechbrain as sb
import torch
from speechbrain.utils.epoch_loop import EpochCounter
from torch import nn

from speechbrain_tclap.brain import CLAPBrain
from speechbrain_tclap.data.batching import (
    AudioView,
    CLAPSample,
    TextView,
    collate_clap_samples,
)
from speechbrain_tclap.losses import InfoNCELoss
from speechbrain_tclap.lobes.clap import CLAP
from speechbrain_tclap.lobes.outputs import AudioEncoderOutput, TextEncoderOutput
from speechbrain_tclap.metrics import (
    positives_from_caption_keys,
    retrieval_chance_with_positives,
    retrieval_metrics_with_positives,
)
from speechbrain_tclap.utils.checkpointing import AtomicCheckpointer
from speechbrain_tclap.utils.freezing import FreezingRule
from speechbrain_tclap.utils.schedulers import WarmupCosineSchedule


class _Frames(nn.Module):
    def forward(self, wavs, wav_lens=None):
        return wavs.unflatten(1, (-1, 4)), wav_lens


class _Audio(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 8)
        self.norm = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.5)

    def forward(self, feats, lens=None):
        h = self.drop(self.lin(feats))
        clip = self.norm(h.mean(1))
        return AudioEncoderOutput(clip, h, torch.ones(h.shape[:2], dtype=torch.bool))


class _Text(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(64, 8)

    def forward(self, texts):
        ids = torch.tensor([[ord(c) % 64 for c in (t + "    ")[:4]] for t in texts])
        h = self.emb(ids)
        return TextEncoderOutput(h.mean(1), h, torch.ones(ids.shape, dtype=torch.bool))


def _clap():
    torch.manual_seed(0)
    return CLAP(_Frames(), _Audio(), nn.Linear(8, 6), _Text(), nn.Linear(8, 6))


def _batch(n=4, skipped=0):
    samples = [
        CLAPSample(str(i), [AudioView(torch.randn(16), f"c{i}")], [TextView(f"c{i}")])
        for i in range(n)
    ]
    return collate_clap_samples(samples + [None] * skipped)


def _brain(tmp_path, **hparams):
    clap = _clap()
    defaults = {"loss": InfoNCELoss()}
    defaults.update(hparams)
    return CLAPBrain(
        modules={"clap": clap},
        opt_class=lambda params: torch.optim.SGD(params, lr=0.1),
        hparams=defaults,
        run_opts={"device": "cpu", "max_grad_norm": 1e-3},
        checkpointer=AtomicCheckpointer(tmp_path, {"clap": clap}),
    )


def test_freezing_survives_modules_train_and_blocks_updates(tmp_path):
    rule = FreezingRule(freeze=["clap.audio_encoder.*"])
    brain = _brain(tmp_path, freezing=rule)
    brain.on_fit_start()
    encoder = brain.modules.clap.audio_encoder
    before = encoder.lin.weight.clone()
    running = encoder.norm.running_mean.clone()
    brain.modules.train()  # what SpeechBrain does every epoch
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    brain.fit_batch(_batch())
    assert not encoder.training and not encoder.drop.training
    assert torch.equal(encoder.lin.weight, before)
    assert torch.equal(encoder.norm.running_mean, running)
    assert all(
        id(p) not in {id(q) for q in encoder.parameters()}
        for g in brain.optimizer.param_groups
        for p in g["params"]
    )
    with pytest.raises(ValueError, match="matches no parameter"):
        FreezingRule(freeze=["nothing.*"]).apply(brain.modules)


def test_clipping_covers_every_parameter_group(tmp_path):
    brain = _brain(tmp_path)
    clap = brain.modules.clap
    brain.opt_class = lambda params: torch.optim.SGD(
        [
            {"params": list(clap.audio_encoder.parameters())},
            {"params": [p for n, p in clap.named_parameters() if not n.startswith("audio_encoder")]},
        ],
        lr=1.0,
    )
    brain.on_fit_start()
    loss = brain.compute_objectives(
        brain.compute_forward(_batch(), sb.Stage.TRAIN), _batch(), sb.Stage.TRAIN
    )
    loss.backward()
    grads_before = {n: p.grad.clone() for n, p in clap.named_parameters() if p.grad is not None}
    params_before = {n: p.detach().clone() for n, p in clap.named_parameters()}
    brain.optimizers_step()
    total = math.sqrt(sum(float(g.norm() ** 2) for g in grads_before.values()))
    scale = min(1.0, 1e-3 / total)
    for name, grad in grads_before.items():
        step = params_before[name] - dict(clap.named_parameters())[name].detach()
        assert torch.allclose(step, grad * scale, rtol=1e-3, atol=1e-6), name


def test_batches_of_unreadable_audio_are_skipped_and_counted(tmp_path):
    brain = _brain(tmp_path)
    brain.on_fit_start()
    brain.on_stage_start(sb.Stage.TRAIN, 1)
    loss = brain.fit_batch(_batch(n=1, skipped=3))  # the readable one is not trained on either
    assert float(loss) == 0.0 and brain.skipped_samples == 4
    loss = brain.fit_batch(_batch(n=3, skipped=1))
    assert torch.isfinite(loss) and brain.skipped_samples == 5


def test_interrupted_checkpoint_save_is_never_recovered(tmp_path):
    class Exploding:
        pass

    lin = nn.Linear(2, 2)
    ckpt = AtomicCheckpointer(tmp_path, {"lin": lin})
    ckpt.save_checkpoint(meta={"step": 1})
    broken = AtomicCheckpointer(
        tmp_path,
        {"lin": lin, "bad": Exploding()},
        custom_save_hooks={"bad": lambda obj, path: (_ for _ in ()).throw(KeyboardInterrupt)},
    )
    with pytest.raises(KeyboardInterrupt):
        broken.save_checkpoint(meta={"step": 2})
    assert len(list(tmp_path.glob("CKPT+*"))) == 2
    recovered = AtomicCheckpointer(tmp_path, {"lin": lin}).recover_if_possible()
    assert recovered.meta["step"] == 1
    assert len(list(tmp_path.glob("CKPT+*"))) == 1


def test_warmup_cosine_schedule_resumes(tmp_path):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.0)
    sched = WarmupCosineSchedule(1.0, warmup_steps=10, total_steps=100, final_ratio=0.1)
    rates = [sched(opt) for _ in range(30)]
    assert rates[9] == pytest.approx(1.0) and rates[0] == pytest.approx(0.1)
    sched._save(tmp_path / "s.ckpt")
    other = WarmupCosineSchedule(1.0, warmup_steps=10, total_steps=100, final_ratio=0.1)
    other._load(tmp_path / "s.ckpt")
    assert other(opt) == pytest.approx(sched(opt))
    assert sched.value(1000) == pytest.approx(0.1)


def test_schedule_without_total_steps_is_sized_from_the_training_loader(tmp_path):
    # ESC-50 style manifests hold pairs *and* single clips: a YAML formula
    # over the pairs alone ended the cosine early; null lets the loader decide.
    sched = WarmupCosineSchedule(1.0, warmup_steps=1, total_steps=None)
    counter = EpochCounter(limit=3)
    brain = _brain(tmp_path, lr_scheduler=sched, epoch_counter=counter)
    brain.grad_accumulation_factor = 2
    loader = brain.make_dataloader(list(range(10)), sb.Stage.TRAIN, batch_size=2)
    assert len(loader) == 5 and sched.total_steps == 3 * 3  # ceil(5 / 2) steps x 3 epochs
    brain.make_dataloader(list(range(10)), sb.Stage.VALID, batch_size=4)
    assert sched.total_steps == 9
    with pytest.raises(RuntimeError, match="total_steps is unknown"):
        WarmupCosineSchedule(1.0, warmup_steps=0, total_steps=None).value(1)


def _loop_keyed(sim, pos, k):
    """Loop reference: R@k and AP@10 with pessimistic ties, per query row."""
    recalls, aps = [], []
    for row_s, row_p in zip(sim.tolist(), pos.tolist()):
        if not any(row_p):
            continue
        order = sorted(range(len(row_s)), key=lambda j: (-row_s[j], row_p[j]))
        hits = [row_p[j] for j in order]
        recalls.append(float(any(hits[:k])))
        found, ap = 0, 0.0
        for r, h in enumerate(hits[:10]):
            if h:
                found += 1
                ap += found / (r + 1)
        aps.append(ap / min(sum(row_p), 10))
    return sum(recalls) / len(recalls), sum(aps) / len(aps)


def test_keyed_retrieval_matches_loop():
    g = torch.Generator().manual_seed(0)
    keys = [["a"], ["b"], ["a"], ["c"], ["b"], ["d"]]
    text_keys = ["a", "b", "c", "d", "b", "a", "e"]
    pos = positives_from_caption_keys(keys, text_keys)
    sim = torch.randn(6, 7, generator=g).round(decimals=1)  # ties on purpose
    m = retrieval_metrics_with_positives(sim, pos, ks=(1, 5))
    for name, s, p in (("t2a", sim.T, pos.T), ("a2t", sim, pos)):
        for k in (1, 5):
            r, ap = _loop_keyed(s, p, k)
            assert m[f"{name}_R@{k}"] == pytest.approx(r)
        assert m[f"{name}_mAP@10"] == pytest.approx(ap)
    # (with unique captions it is LAION's protocol: tests/unittests/test_metrics.py)


def test_keyed_retrieval_chance_matches_monte_carlo():
    keys = [["a"], ["a"], ["b"], ["c"], ["c"], ["c"], ["d"], ["e"]]
    text_keys = ["a", "b", "c", "d", "e", "a"]
    pos = positives_from_caption_keys(keys, text_keys)
    chance = retrieval_chance_with_positives(pos, ks=(1, 5))
    g = torch.Generator().manual_seed(1)
    trials = [
        retrieval_metrics_with_positives(torch.rand(8, 6, generator=g), pos, ks=(1, 5))
        for _ in range(1500)
    ]
    for key in ("t2a_R@1", "t2a_R@5", "t2a_mAP@10", "a2t_R@1", "a2t_mAP@10"):
        mc = sum(t[key] for t in trials) / len(trials)
        assert mc == pytest.approx(chance[key], abs=0.02), key


def test_extra_evaluations_run_in_eval_mode_and_join_metrics(tmp_path):
    from speechbrain_tclap.evaluation.base import Evaluator

    class _Probe(Evaluator):
        stages = ("TEST",)

        def __init__(self):
            self.calls = []

        def evaluate(self, brain, stage):
            model = self.model(brain)
            self.calls.append((stage, model.training, torch.is_grad_enabled()))
            return {"probe": float(len(brain.accumulator.index))}

        def chance_levels(self, metrics):
            return {"probe": 0.5}

    probe = _Probe()
    brain = _brain(tmp_path, extra_evaluations=[probe])
    brain.on_fit_start()
    for stage in (sb.Stage.VALID, sb.Stage.TEST):
        brain.on_stage_start(stage, 1)
        batch = _batch()
        brain.compute_objectives(brain.compute_forward(batch, stage), batch, stage)
        metrics = brain.evaluation_metrics()
        assert ("probe" in metrics) == (stage == sb.Stage.TEST)
    assert probe.calls == [(sb.Stage.TEST, False, False)]
    assert metrics["probe"] == 4.0
    assert brain.chance_levels(metrics)["probe"] == 0.5
    assert brain.modules.training  # restored


def test_optimiser_groups_exempt_the_temperature_and_scale_a_tower(tmp_path):
    brain = _brain(tmp_path, lr_scales={"clap.text_encoder.*": 0.1})
    brain.opt_class = functools.partial(torch.optim.AdamW, lr=1e-3, weight_decay=0.01)
    brain.on_fit_start()
    clap = brain.modules.clap
    group = {
        id(p): g for g in brain.optimizer.param_groups for p in g["params"]
    }
    assert group[id(clap.log_logit_scale)]["weight_decay"] == 0.0
    assert group[id(clap.audio_projection.bias)]["weight_decay"] == 0.0
    assert group[id(clap.audio_projection.weight)]["weight_decay"] == 0.01
    text_weight = next(p for p in clap.text_encoder.parameters() if p.ndim == 2)
    assert group[id(text_weight)]["lr"] == pytest.approx(1e-4)
    assert group[id(clap.audio_projection.weight)]["lr"] == pytest.approx(1e-3)


def test_frame_order_loss_gets_the_frames_and_prompts_of_ordered_event_pairs(tmp_path):
    # A FrameOrderLoss in the YAML loss: the Brain embeds each event label's
    # prompt with the captions (split off again) and hands the loss the
    # frames of every clip whose main view holds two events in a row.
    from speechbrain_tclap.losses import FrameOrderLoss, LossSum

    loss = LossSum([InfoNCELoss(), FrameOrderLoss("the sound of {}")], weights=[1.0, 0.5])
    brain = _brain(tmp_path, loss=loss)
    events = [dict(label="dog", onset=0.0, offset=1.0), dict(label="rain", onset=1.0, offset=2.0)]
    samples = [
        CLAPSample("p", [AudioView(torch.randn(16), "dog then rain")], [TextView("dog then rain")],
                   meta={"view_events": {"main": events}}),
        CLAPSample("q", [AudioView(torch.randn(16), "rain then dog")], [TextView("rain then dog")],
                   meta={"view_events": {"main": events[::-1]}, "events": events}),
        CLAPSample("s", [AudioView(torch.randn(16), "a cat")], [TextView("a cat")]),
    ]
    batch = collate_clap_samples(samples)
    clap = brain.modules.clap
    clap.eval()  # no dropout: the embeddings compare with the model's own
    out = brain.compute_forward(batch, sb.Stage.TRAIN)
    assert out.text_emb.shape[0] == len(batch.texts) == 3  # prompts split off
    # "q" lists its events backwards: sorted by onset it is dog, then rain too
    assert out.pair_frames.shape == (2, 4, 6) and out.pair_frame_mask.all()
    prompts = clap.encode_text(["the sound of dog", "the sound of rain"])
    assert torch.allclose(out.pair_texts[0], prompts, atol=1e-6)
    frames = clap.encode_audio(batch.wavs[:1], return_frames=True).frames
    assert torch.allclose(out.pair_frames[0], frames[0], atol=1e-6)
    total = brain.compute_objectives(out, batch, sb.Stage.TRAIN)
    assert torch.isfinite(total) and total > InfoNCELoss()(out)
    total.backward()
    assert clap.audio_projection.weight.grad.abs().sum() > 0
    # a batch without ordered events: no pairs, a zero term
    plain = brain.compute_forward(_batch(), sb.Stage.TRAIN)
    assert plain.pair_frames.shape[0] == 0
    assert float(FrameOrderLoss("{}")(plain).detach()) == 0.0
