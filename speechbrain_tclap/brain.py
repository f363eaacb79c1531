"""``CLAPBrain``: SpeechBrain's trainer for every CLAP recipe of this package.

The Brain embeds all audio and text views of a :class:`CLAPBatch`, hands them
to the YAML ``loss`` and evaluates with retrieval (LAION protocol), zero-shot
classification and T-Classify. Beyond the stock ``Brain`` it clips every
parameter group, keeps frozen submodules in eval mode
(:mod:`speechbrain_tclap.utils.freezing`), skips and counts batches with
unreadable audio (under DDP a rank with too few samples still joins every
collective, :meth:`CLAPBrain.fit_batch`) and stops a run that is not training
(:class:`TrainingGuard`: non-finite steps past ``nonfinite_patience``, epochs
with every batch skipped, a fit without an optimiser step; a collapse below
``collapse_logit_scale`` (0.1) for ``collapse_steps`` (20) steps is flagged in
``results.json``). See ``docs/architecture.md`` and ``docs/scaling.md``.

YAML keys read (``self.hparams``): ``loss``, ``freezing``,
``zero_shot_template``, ``zero_shot_classes`` (default: the evaluation
labels), ``tclassify_template`` (default ``"{A} followed by {B}"``; null
disables T-Classify), ``extra_evaluations`` (duck-typed
:class:`~speechbrain_tclap.evaluation.base.Evaluator`: ``stages``,
``evaluate(brain, stage)``, ``chance_levels(metrics)``),
``gather_across_ranks`` (default True), ``local_loss`` (default False),
``valid_metric`` / ``valid_metric_mode``, ``test_checkpoint`` (``best`` or
``last``), ``lr_scheduler`` (per optimiser step; ``total_steps: null`` is
sized from the training loader), ``train_sample_builder`` (told the epoch),
``train_logger``, ``checkpointer``, ``output_folder``, ``sample_rate`` and
``clip_seconds`` (silent stand-in clips for a DDP rank without samples).

Authors
 * speechbrain-tclap developers 2026
"""

import contextlib
import dataclasses
import json
import math
import os
from typing import Dict, List, Optional

import speechbrain as sb
import torch
from speechbrain.utils.distributed import main_process_only
from speechbrain.utils.logger import get_logger

from speechbrain_tclap.data.batching import ViewRole, caption_key
from speechbrain_tclap.data.captions import class_prompts
from speechbrain_tclap.data.labels import readable_label
from speechbrain_tclap.lobes.clap import encode_text_chunks
from speechbrain_tclap.losses import (
    ContrastiveInputs,
    frame_order_template,
    reads_order_embeddings,
)
from speechbrain_tclap.metrics import (
    ordered_pair_captions,
    positives_from_caption_keys,
    retrieval_chance_with_positives,
    retrieval_metrics_with_positives,
    swapped_caption_cosine,
    t_classify_chance,
    t_classify_metrics,
    zero_shot_accuracy,
)
from speechbrain_tclap.utils.distributed import (
    gather_contrastive_inputs,
    is_distributed,
    unwrap_module,
)
from speechbrain_tclap.utils.optim import LR_SCALE, describe_groups, parameter_groups
from speechbrain_tclap.utils.training_guard import TrainingFailure, TrainingGuard

logger = get_logger(__name__)


class CLAPBrain(sb.Brain):
    """Trains and evaluates a ``CLAP`` module held in ``modules["clap"]``.

    Example
    -------
    See ``recipes/Synthetic/CLAP/train.py`` and ``tests/integration``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.guard = TrainingGuard(
            limit=self.nonfinite_patience,
            collapse_logit_scale=getattr(self.hparams, "collapse_logit_scale", 0.1),
            collapse_steps=getattr(self.hparams, "collapse_steps", 20),
        )
        self._nonfinite: Optional[str] = None  # "loss" or "gradients" of this step
        self._step_taken = True
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("training_guard", self.guard, optional_load=True)

    def fit(self, *args, **kwargs):
        """SpeechBrain's ``fit``; a fit that made no optimiser step fails.

        Arguments
        ---------
        *args, **kwargs
            As :meth:`speechbrain.Brain.fit`.

        Raises
        ------
        TrainingFailure
            No optimiser step was taken (counting resumed checkpoints).
        """
        super().fit(*args, **kwargs)
        if self.opt_class is not None and self.optimizer_step == 0:
            raise TrainingFailure(
                "the run trained nothing: 0 optimiser steps "
                f"({self.guard.totals['skipped_batches']} batches skipped); nothing "
                "is tested or exported"
            )

    def on_fit_start(self):
        """Check the checkpoint selection, freeze before the optimiser is built
        and record the untrained text tower's order blindness."""
        self.test_checkpoint_keys()  # a wrong setting fails before training
        rule = getattr(self.hparams, "freezing", None)
        if rule is not None:
            rule.apply(self.modules)
        super().on_fit_start()
        self.check_resumed_schedule()
        self.record_initial_text_order()

    def check_resumed_schedule(self) -> None:
        """Refuse a resume whose learning-rate schedule differs from the checkpoint's.

        The settings saved with the schedule (``checkpoint_settings`` of e.g.
        :class:`WarmupCosineSchedule`) must match; ``resume_with_new_settings:
        True`` (YAML or command line) continues with the new schedule.

        Raises
        ------
        ValueError
            The settings differ (each named with both values).
        """
        scheduler = getattr(self.hparams, "lr_scheduler", None)
        saved = getattr(scheduler, "checkpoint_settings", None)
        if not saved:
            return
        now = scheduler.settings()
        changed = {k: (v, now.get(k)) for k, v in saved.items() if now.get(k) != v}
        if not changed:
            return
        detail = ", ".join(f"{k} {a} in the checkpoint, {b} now" for k, (a, b) in changed.items())
        if getattr(self.hparams, "resume_with_new_settings", False):
            logger.warning("resuming with a new learning-rate schedule: %s", detail)
            return
        raise ValueError(
            f"the checkpoint's learning-rate schedule differs from this run's ({detail}); "
            "pass --resume_with_new_settings=True to continue with the new schedule, "
            "or --fresh_start=True to start over"
        )

    #: File in ``output_folder`` holding metrics of the untrained model.
    INITIAL_METRICS_FILE = "initial_metrics.json"
    #: Labels of the training set (set when its loader is made).
    _train_labels: List[str] = []

    def record_initial_text_order(self) -> None:
        """Write ``text_order_cosine_init`` before the first training step.

        The mean cosine of "A followed by B" and "B followed by A" (pairs of
        ``zero_shot_classes`` or of the training labels) with the initial
        weights; a resumed run keeps its file. The test adds it to ``results.json``.
        """
        if "clap" not in self.modules:  # e.g. MultiTaskBrain: no text tower
            return
        folder = getattr(self.hparams, "output_folder", None)
        classes = getattr(self.hparams, "zero_shot_classes", None) or self._train_labels
        template = getattr(self.hparams, "tclassify_template", "{A} followed by {B}")
        if folder is None or not classes or len(classes) < 2 or not template:
            return
        path = os.path.join(folder, self.INITIAL_METRICS_FILE)
        if os.path.exists(path) or self.optimizer_step > 0:
            return
        names = [readable_label(c) for c in classes]
        captions, pairs = ordered_pair_captions(names, template)
        with _eval_mode(self.modules), torch.no_grad():
            emb = encode_text_chunks(unwrap_module(self.modules.clap), captions)
        value = swapped_caption_cosine(emb, pairs)
        logger.info("text_order_cosine before training: %.4f", value)
        if sb.utils.distributed.if_main_process():
            with open(path, "w") as f:
                json.dump({"text_order_cosine_init": value}, f)

    def make_dataloader(self, dataset, stage, ckpt_prefix="dataloader-", **loader_kwargs):
        """SpeechBrain's loader, with a private generator for its base seed.

        The private generator keeps a mid-epoch resume from shifting the global
        random stream (a ``DataLoader`` draws its base seed from it at every
        iterator). A streamed dataset
        (:class:`~speechbrain_tclap.data.shards.ShardDataset`) orders itself
        (``shuffle`` is dropped, its ``batch_size`` must be the loader's) and is
        told the epoch and, after a resume, the batches already taken.

        Arguments
        ---------
        dataset : Dataset
            The dataset.
        stage : speechbrain.Stage
            The stage.
        ckpt_prefix : str
            Checkpoint name prefix of the loader.
        **loader_kwargs : dict
            DataLoader options.

        Returns
        -------
        DataLoader
            The loader.
        """
        if "generator" not in loader_kwargs:
            seed = int(getattr(self.hparams, "seed", 0))
            loader_kwargs["generator"] = torch.Generator().manual_seed(seed)
        if isinstance(dataset, torch.utils.data.IterableDataset):
            loader_kwargs.pop("shuffle", None)  # a stream orders (and shuffles) itself
            expected = getattr(dataset, "batch_size", None)
            if expected is not None and loader_kwargs.get("batch_size", 1) != expected:
                raise ValueError(
                    f"the loader's batch_size {loader_kwargs.get('batch_size', 1)} differs "
                    f"from the streamed dataset's batch_size {expected}"
                )
        if stage == sb.Stage.TRAIN:
            self._streamed_train = dataset if hasattr(dataset, "set_epoch") else None
            if self._streamed_train is not None and loader_kwargs.get("persistent_workers"):
                raise ValueError(
                    "persistent_workers would keep the streamed dataset's first epoch "
                    "in its workers; set persistent_workers: False"
                )
        batch_sampler = loader_kwargs.get("batch_sampler")
        loader = super().make_dataloader(
            dataset, stage, ckpt_prefix=ckpt_prefix, **loader_kwargs
        )
        # SpeechBrain calls set_epoch only on samplers it built itself; under
        # DDP it already holds the wrapper, whose set_epoch reaches ours too.
        if (
            stage == sb.Stage.TRAIN
            and hasattr(batch_sampler, "set_epoch")
            and getattr(self.train_sampler, "sampler", None) is not batch_sampler
        ):
            self.train_sampler = batch_sampler
        if stage == sb.Stage.TRAIN:
            self._size_lr_schedule(loader)
            rows = getattr(dataset, "rows", None) or {}
            self._train_labels = sorted(
                {lab for row in rows.values() for lab in row.get("labels", [])}
            )
        return loader

    def _size_lr_schedule(self, loader):
        """Size a ``total_steps: null`` schedule: optimiser steps per epoch (this
        rank's loader over gradient accumulation) × ``epoch_counter.limit``."""
        scheduler = getattr(self.hparams, "lr_scheduler", None)
        if scheduler is None or getattr(scheduler, "total_steps", 0) is not None:
            return
        counter = getattr(self.hparams, "epoch_counter", None)
        if counter is None:
            raise ValueError("lr_scheduler has total_steps: null but hparams has no epoch_counter")
        steps_per_epoch = math.ceil(len(loader) / max(self.grad_accumulation_factor, 1))
        scheduler.set_total_steps(steps_per_epoch * counter.limit)
        logger.info(
            "lr schedule: %d per epoch x %d epochs, decay ends at step %d",
            steps_per_epoch, counter.limit, scheduler.total_steps,
        )

    def _wrap_distributed(self):
        """Wrap modules in DDP; on CPU without SpeechBrain's GPU-only
        ``SyncBatchNorm`` conversion (each rank keeps its own batch statistics)."""
        if not self.distributed_launch or not str(self.device).startswith("cpu"):
            return super()._wrap_distributed()
        for name, module in self.modules.items():
            if any(p.requires_grad for p in module.parameters()):
                self.modules[name] = torch.nn.parallel.DistributedDataParallel(
                    module,
                    device_ids=None,
                    find_unused_parameters=self.find_unused_parameters,
                )

    def init_optimizers(self):
        """Build the optimiser over trainable parameters, in groups
        (:func:`~speechbrain_tclap.utils.optim.parameter_groups`): YAML
        ``exempt_norms_and_biases`` (default True) and ``lr_scales``
        (``{glob: multiplier}``)."""
        if self.opt_class is None:
            return
        groups = parameter_groups(
            self.modules.named_parameters(),
            lr_scales=getattr(self.hparams, "lr_scales", None),
            exempt_norms_and_biases=getattr(
                self.hparams, "exempt_norms_and_biases", True
            ),
        )
        self.optimizer = self.opt_class(groups)
        for group in self.optimizer.param_groups:
            group["lr"] *= group.get(LR_SCALE, 1.0)
        logger.info("optimiser %s", describe_groups(self.optimizer))
        self.optimizers_dict = {"optimizer": self.optimizer}
        if self.checkpointer is not None:
            self.checkpointer.add_recoverable("optimizer", self.optimizer)

    def compute_forward(self, batch, stage):
        """Embed every audio and text view of the batch.

        Arguments
        ---------
        batch : CLAPBatch
            The batch.
        stage : speechbrain.Stage
            Current stage.

        Returns
        -------
        ContrastiveInputs
            Embeddings, keys and roles for the loss.
        """
        stand_in = stage == sb.Stage.TRAIN and len(batch) < 2  # DDP only: fit_batch
        # FrameOrderLoss: event prompts ride with the captions (one text pass);
        # the pairs are read from the batch while it is on the CPU (no syncs).
        loss = getattr(self.hparams, "loss", None)
        template = frame_order_template(loss)
        event_pairs = [] if template is None or stand_in else batch.ordered_event_pairs()
        batch = batch.to(self.device)
        wavs, wav_lens, texts = batch.wavs, batch.wav_lens, batch.texts
        if stand_in:
            wavs, wav_lens, texts = self._stand_in_input()
        # Through forward() so that a DDP wrapper sees the call; order
        # embeddings only when the loss reads them (they cost a DDP gather).
        extras = {}
        if getattr(unwrap_module(self.modules.clap), "has_codebook", False):
            extras["return_codewords"] = True
        if reads_order_embeddings(loss):
            extras["return_order"] = True
        num_texts = len(texts)
        if template is not None:
            extras["return_frames"] = True
            event_labels = sorted({label for _, *pair in event_pairs for label in pair})
            texts = list(texts) + class_prompts(event_labels, template)
        out = self.modules.clap(wavs, wav_lens, texts, **extras)
        pairs = {}
        if template is not None:
            *out, frames, frame_mask = out
            pairs = _event_pair_inputs(
                frames, frame_mask, out[1][num_texts:], event_pairs, event_labels
            )
        audio_emb, text_emb, logit_scale = out[:3]
        codes = out[3:5] if "return_codewords" in extras else (None, None)
        order = out[-2:] if "return_order" in extras else (None, None)
        # A stand-in gives zero rows that stay in the graph (zero DDP gradients);
        # text rows past the batch's own are the event prompts.
        rows = slice(0, 0) if stand_in else slice(None)
        text_rows = slice(0, 0) if stand_in else slice(0, num_texts)

        def take(values, which):
            return None if values is None else values[which]

        per_item = ("audio_keys", "text_keys", "text_is_negative", "audio_views",
                    "text_views", "audio_sample", "text_sample")
        return ContrastiveInputs(
            audio_emb=audio_emb[rows], text_emb=text_emb[text_rows],
            logit_scale=logit_scale,
            audio_codewords=take(codes[0], rows), text_codewords=take(codes[1], text_rows),
            audio_order_emb=take(order[0], rows), text_order_emb=take(order[1], text_rows),
            **{name: getattr(batch, name)[rows] for name in per_item}, **pairs,
        )

    def _stand_in_input(self):
        """Two rows a rank without samples feeds its model: the first batch
        with audio it saw, else silent clips of ``clip_seconds`` at ``sample_rate``."""
        if getattr(self, "_stand_in", None) is None:
            rate = getattr(self.hparams, "sample_rate", None)
            seconds = getattr(self.hparams, "clip_seconds", None)
            if rate is None or seconds is None:
                raise RuntimeError(
                    "CLAPBrain: this rank has no usable training sample yet and "
                    "must still run the model under DDP; set sample_rate and "
                    "clip_seconds in the YAML so that it can use silent clips"
                )
            num_samples = int(round(float(rate) * float(seconds)))
            self._stand_in = (torch.zeros(2, num_samples), torch.ones(2), ["silence"] * 2)
        wavs, wav_lens, texts = self._stand_in
        return wavs.to(self.device), wav_lens.to(self.device), texts

    def _keep_stand_in(self, batch) -> None:
        """Remember two rows of the first batch with audio (see fit_batch)."""
        if getattr(self, "_stand_in", None) is None and len(batch) > 0:
            audio = [i % batch.wavs.shape[0] for i in range(2)]
            texts = [batch.texts[i % len(batch.texts)] for i in range(2)]
            self._stand_in = (
                batch.wavs[audio].detach().cpu().clone(),
                batch.wav_lens[audio].detach().cpu().clone(),
                texts,
            )

    def compute_objectives(self, predictions, batch, stage):
        """Loss from YAML, in fp32; evaluation stages also collect embeddings.

        Training under DDP with ``gather_across_ranks`` (default True), the
        loss sees the inputs of every rank
        (:func:`~speechbrain_tclap.utils.distributed.gather_contrastive_inputs`)
        with exactly the gradients of one process on the global batch; with
        ``local_loss`` each rank computes its own rows only (the logged loss
        is then its share times the world size). Nothing is gathered at
        evaluation: every rank evaluates the whole set. Why this is exact:
        ``docs/architecture.md`` ("Several GPUs") and ``docs/scaling.md``.

        Arguments
        ---------
        predictions : ContrastiveInputs
            Output of :meth:`compute_forward`.
        batch : CLAPBatch
            The batch.
        stage : speechbrain.Stage
            Current stage.

        Returns
        -------
        torch.Tensor
            Scalar loss.
        """
        inputs = predictions
        if stage == sb.Stage.TRAIN and getattr(
            self.hparams, "gather_across_ranks", True
        ):
            inputs = gather_contrastive_inputs(
                predictions, local_loss=getattr(self.hparams, "local_loss", False)
            )
        # fp32 with autocast off: half precision loses the ranking of large logits.
        values = {f.name: getattr(inputs, f.name) for f in dataclasses.fields(inputs)}
        inputs = dataclasses.replace(inputs, **{
            name: value.float() for name, value in values.items()
            if torch.is_tensor(value) and value.is_floating_point()
        })
        with torch.autocast(inputs.audio_emb.device.type, enabled=False):
            if stage == sb.Stage.TRAIN and inputs.audio_emb.shape[0] == 0:
                # No rank had samples: a zero loss that reaches every parameter.
                loss = 0.0 * (
                    inputs.audio_emb.sum() + inputs.text_emb.sum() + inputs.logit_scale
                )
            else:
                loss = self.hparams.loss(inputs)
        if stage != sb.Stage.TRAIN:
            self._collect(predictions, batch)
        return loss

    def _collect(self, predictions: ContrastiveInputs, batch) -> None:
        """Store main-view audio and its captions (every main-view caption, or
        one keyed as the main audio; not other views' captions) for metrics."""
        audio_rows = (batch.audio_views == ViewRole.MAIN).nonzero().flatten().tolist()
        main_text = (batch.text_views == ViewRole.MAIN).tolist()
        sample_of_audio = [int(batch.audio_sample[i]) for i in audio_rows]
        main_key = {
            sample: int(batch.audio_keys[row])
            for row, sample in zip(audio_rows, sample_of_audio)
        }
        audio_ids = [batch.ids[i] for i in sample_of_audio]
        positive = [
            i
            for i in range(len(batch.texts))
            if not bool(batch.text_is_negative[i])
            and int(batch.text_sample[i]) in main_key
            and (
                main_text[i]
                or main_key[int(batch.text_sample[i])] == int(batch.text_keys[i])
            )
        ]
        self.accumulator.append(
            audio_ids=audio_ids,
            audio_emb=predictions.audio_emb[audio_rows],
            text_emb=predictions.text_emb[positive],
            text_audio_ids=[batch.ids[batch.text_sample[i]] for i in positive],
            text_keys=[caption_key(batch.texts[i]) for i in positive],
            labels=[batch.labels[i] for i in sample_of_audio],
        )

    def fit_batch(self, batch):
        """Skip batches with fewer than 2 usable samples; count skipped samples.

        Under DDP such a rank cannot skip (the others wait for it in the
        gather and the all-reduce): it runs a stand-in input and contributes
        zero rows and a zero gradient, so the step is the other ranks' step.

        Arguments
        ---------
        batch : CLAPBatch
            The batch.

        Returns
        -------
        torch.Tensor
            The detached loss.
        """
        distributed = is_distributed()
        if distributed:
            self._keep_stand_in(batch)
        if len(batch) < 2:
            logger.warning(
                "skipping a training batch with %d usable sample(s)", len(batch)
            )
            if not distributed:
                return self.count_skipped(batch, whole_batch=True)
        self.count_skipped(batch, whole_batch=False)
        return super().fit_batch(batch)

    def count_skipped(self, batch, whole_batch: bool) -> torch.Tensor:
        """Count a batch's unreadable samples, or all of them for a skipped batch.

        Arguments
        ---------
        batch : CLAPBatch or TaskBatch
            The batch (``len`` usable samples, ``num_skipped`` unreadable).
        whole_batch : bool
            The batch is skipped.

        Returns
        -------
        torch.Tensor
            A zero loss (for a skipped batch).
        """
        skipped = batch.num_skipped + (len(batch) if whole_batch else 0)
        self.skipped_samples += skipped
        if whole_batch:
            self.guard.skipped_batch(skipped)
        else:
            self.guard.skipped_samples(skipped)
        return torch.tensor(0.0)

    def check_loss_isfinite(self, loss):
        """Mark the step of a non-finite loss for skipping (see :meth:`optimizers_step`).

        Arguments
        ---------
        loss : torch.Tensor
            The scaled loss.
        """
        if not torch.isfinite(loss):
            self._nonfinite = "loss"

    def evaluate_batch(self, batch, stage):
        """Evaluate, skipping empty batches.

        Arguments
        ---------
        batch : CLAPBatch
            The batch.
        stage : speechbrain.Stage
            Current stage.

        Returns
        -------
        torch.Tensor
            The detached loss.
        """
        self.skipped_samples += batch.num_skipped
        if len(batch) == 0:
            return torch.tensor(0.0)
        return super().evaluate_batch(batch, stage)

    def on_fit_batch_start(self, batch, should_step):
        """Keep frozen modules in eval mode (``modules.train()`` undoes it).

        Arguments
        ---------
        batch : CLAPBatch
            The batch.
        should_step : bool
            Whether the optimiser steps after this batch.
        """
        rule = getattr(self.hparams, "freezing", None)
        if rule is not None:
            rule.enforce_eval(self.modules)

    def on_fit_batch_end(self, batch, outputs, loss, should_step):
        """Advance the learning-rate schedule (``hparams.lr_scheduler``) per step.

        Arguments
        ---------
        batch : CLAPBatch
            The batch.
        outputs : ContrastiveInputs
            Forward outputs.
        loss : torch.Tensor
            The loss.
        should_step : bool
            Whether the optimiser stepped.
        """
        if should_step and not self._step_taken:
            return  # a skipped step: counted by the guard, the schedule waits
        clap = unwrap_module(self.modules["clap"]) if "clap" in self.modules else None
        self.guard.trained_batch(  # the scale the step left (collapse watch)
            logit_scale=float(clap.logit_scale().detach()) if clap else float("inf"),
            loss=float(loss.detach()), rows=len(batch), step=self.optimizer_step,
        )
        scheduler = getattr(self.hparams, "lr_scheduler", None)
        if should_step and scheduler is not None:
            scheduler(self.optimizer)

    def optimizers_step(self):
        """Clip the gradients of every parameter group, then step.

        A step with a non-finite loss or (without a gradient scaler, which
        handles its own) gradients is skipped and reported to the guard.
        """
        if not self.optimizers_dict:
            return
        valid = self.freeze_optimizers(self.optimizers_dict)
        for opt in valid.values():
            self.scaler.unscale_(opt)
        for opt in valid.values():
            params = [p for group in opt.param_groups for p in group["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
            if not torch.isfinite(norm) and not self.scaler.is_enabled():
                self._nonfinite = self._nonfinite or "gradients"
        if not self.scaler.is_enabled() and self.skip_nonfinite_grads:
            self.check_gradients()
        what, self._nonfinite = self._nonfinite, None
        self._step_taken = what is None
        if what is None:
            for opt in valid.values():
                self.scaler.step(opt)
        self.scaler.update()
        for opt in valid.values():
            opt.zero_grad(set_to_none=True)
        if what is not None:
            lr = self.optimizer.param_groups[0]["lr"]
            self.guard.skip_step(what, self.optimizer_step + 1, lr)
            return
        self.optimizer_step += 1

    def on_stage_start(self, stage, epoch=None):
        """Reset the counters and the accumulator; tell the sample builder and
        a streamed training set the epoch.

        Arguments
        ---------
        stage : speechbrain.Stage
            Current stage.
        epoch : int, optional
            Current epoch.
        """
        self.skipped_samples = 0
        self.current_stage = stage
        self.accumulator = EvaluationCollector()
        if stage == sb.Stage.TRAIN:
            self.guard.start_epoch()
        builder = getattr(self.hparams, "train_sample_builder", None)
        if stage == sb.Stage.TRAIN and builder is not None and epoch is not None:
            builder.set_epoch(epoch)
        streamed = getattr(self, "_streamed_train", None)
        if stage == sb.Stage.TRAIN and streamed is not None and epoch is not None:
            streamed.set_epoch(epoch, batches_done=self.step)  # step > 0: resumed mid-epoch

    @torch.no_grad()
    def evaluation_metrics(self) -> Dict[str, float]:
        """Retrieval, zero-shot, T-Classify and the ``extra_evaluations``.

        Returns
        -------
        dict
            Metric name -> value (fractions in [0, 1]).
        """
        metrics = self._collected_metrics()
        evaluators = [
            e for e in self._extra_evaluations()
            if self.current_stage.name in e.stages
        ]
        if not evaluators:
            return metrics
        with _eval_mode(self.modules):
            for evaluator in evaluators:
                metrics.update(evaluator.evaluate(self, self.current_stage))
        return metrics

    def _collected_metrics(self) -> Dict[str, float]:
        """Retrieval, zero-shot and T-Classify over the collected embeddings."""
        acc = self.accumulator
        audio = acc.audio_matrix()
        metrics = retrieval_metrics_with_positives(
            audio @ acc.text_matrix().T, acc.positives()
        )
        labels = acc.labels
        classes = getattr(self.hparams, "zero_shot_classes", None) or sorted(
            {label for row in labels for label in row}
        )
        if not classes:
            return metrics
        with _eval_mode(self.modules):
            single = [i for i, row in enumerate(labels) if len(set(row)) == 1]
            if single:
                targets = torch.tensor([classes.index(labels[i][0]) for i in single])
                metrics.update(self._zero_shot(audio[single], targets, classes))
            # T-Classify on clips with exactly two different events, in order.
            two = [
                i for i, row in enumerate(labels) if len(row) == 2 and row[0] != row[1]
            ]
            template = getattr(self.hparams, "tclassify_template", "{A} followed by {B}")
            if two and template and len(classes) > 1:
                true_pairs = torch.tensor(
                    [[classes.index(labels[i][0]), classes.index(labels[i][1])] for i in two]
                )
                metrics.update(self._t_classify(audio[two], true_pairs, classes, template))
        return metrics

    def _zero_shot(self, audio, targets, classes) -> Dict[str, float]:
        """Zero-shot accuracy with the label words and with paraphrases.

        YAML ``zero_shot_paraphrases`` (``{class: [paraphrase, ...]}``) gives
        ``zero_shot_paraphrase_acc`` (mean over sets, set ``k`` taking each
        class's ``k``-th paraphrase) and ``_min`` (its lowest set); when the clips
        hold only some classes, ``zero_shot_present_acc`` is the accuracy among
        their own.
        """
        encode_text = unwrap_module(self.modules.clap).encode_text
        template = getattr(self.hparams, "zero_shot_template", None)

        def logits(names):
            class_emb = encode_text(class_prompts(names, template, str)).float().cpu()
            return audio @ class_emb.T

        def accuracy(names):
            return zero_shot_accuracy(logits(names), targets)["acc@1"]

        label_logits = logits([readable_label(c) for c in classes])
        metrics = {
            "zero_shot_acc": zero_shot_accuracy(label_logits, targets)["acc@1"],
            "zero_shot_n": len(targets),
            "zero_shot_classes": len(classes),
        }
        present, present_targets = torch.unique(targets, return_inverse=True)
        if len(present) < len(classes):  # class-disjoint runs
            metrics["zero_shot_present_acc"] = zero_shot_accuracy(
                label_logits[:, present], present_targets
            )["acc@1"]
            metrics["zero_shot_present_classes"] = len(present)
        paraphrases = getattr(self.hparams, "zero_shot_paraphrases", None)
        if paraphrases:
            missing = [c for c in classes if not paraphrases.get(c)]
            if missing:
                raise ValueError(f"zero_shot_paraphrases has none for classes {missing}")
            sets = max(len(paraphrases[c]) for c in classes)
            values = [
                accuracy([paraphrases[c][k % len(paraphrases[c])] for c in classes])
                for k in range(sets)
            ]
            metrics["zero_shot_paraphrase_acc"] = sum(values) / len(values)
            metrics["zero_shot_paraphrase_acc_min"] = min(values)
        return metrics

    def _t_classify(self, audio, true_pairs, classes, template) -> Dict[str, float]:
        """T-Classify with ``tclassify_template``, and binary T-Classify over
        phrasing lists.

        ``text_order_cosine``: mean cosine of each ordered-pair caption and its
        swapped twin (1 = order ignored). YAML ``tclassify_trained_templates`` /
        ``tclassify_heldout_templates`` give ``tclassify_binary_trained`` /
        ``_heldout`` (mean over the list), ``_min`` (the lowest template of each
        list) and ``_heldout@<k>``.
        """
        clap = unwrap_module(self.modules.clap)
        names = [readable_label(c) for c in classes]

        def run(template):
            captions, pairs = ordered_pair_captions(names, template)
            caption_emb = encode_text_chunks(clap, captions)
            return t_classify_metrics(audio, true_pairs, caption_emb, pairs), caption_emb, pairs

        metrics, caption_emb, pairs = run(template)
        metrics["tclassify_classes"] = len(classes)
        metrics["text_order_cosine"] = swapped_caption_cosine(caption_emb, pairs)
        phrasings = {
            "trained": getattr(self.hparams, "tclassify_trained_templates", None),
            "heldout": getattr(self.hparams, "tclassify_heldout_templates", None),
        }
        for kind, templates in phrasings.items():
            if templates:
                values = [run(t)[0]["tclassify_binary"] for t in templates]
                metrics[f"tclassify_binary_{kind}"] = sum(values) / len(values)
                metrics[f"tclassify_binary_{kind}_min"] = min(values)
                if kind == "heldout":  # which phrasings transfer, one by one
                    metrics.update({f"tclassify_binary_heldout@{k}": v
                                    for k, v in enumerate(values)})
        return metrics

    def _extra_evaluations(self) -> List:
        return list(getattr(self.hparams, "extra_evaluations", None) or [])

    def chance_levels(self, metrics: Dict[str, float]) -> Dict[str, float]:
        """Expected metric values for random embeddings, for the results table.

        Arguments
        ---------
        metrics : dict
            Metrics as returned by :meth:`evaluation_metrics`.

        Returns
        -------
        dict
            Metric name -> chance value.
        """
        chance = retrieval_chance_with_positives(self.accumulator.positives())
        if "zero_shot_classes" in metrics:
            chance["zero_shot_acc"] = 1.0 / metrics["zero_shot_classes"]
        if "zero_shot_present_classes" in metrics:
            chance["zero_shot_present_acc"] = 1.0 / metrics["zero_shot_present_classes"]
        if "zero_shot_paraphrase_acc" in metrics:
            chance["zero_shot_paraphrase_acc"] = 1.0 / metrics["zero_shot_classes"]
            chance["zero_shot_paraphrase_acc_min"] = 1.0 / metrics["zero_shot_classes"]
        if "tclassify_classes" in metrics:
            chance.update(t_classify_chance(int(metrics["tclassify_classes"])))
            for key in metrics:
                if key.startswith("tclassify_binary_"):
                    chance[key] = chance["tclassify_binary"]
        for evaluator in self._extra_evaluations():
            chance.update(evaluator.chance_levels(metrics))
        return chance

    def on_stage_end(self, stage, stage_loss, epoch=None):
        """Log, checkpoint on validation, write ``results.json`` on test.

        Arguments
        ---------
        stage : speechbrain.Stage
            Current stage.
        stage_loss : float
            Average loss of the stage.
        epoch : int, optional
            Current epoch.
        """
        stats = self.stage_stats(stage, stage_loss, epoch)
        if stage == sb.Stage.TRAIN:
            self.train_stats = stats
            return
        if not self.accumulator.audio:
            raise TrainingFailure(
                f"{stage.name}: no sample could be evaluated ({self.skipped_samples} "
                "skipped with unreadable audio; the log names the files)"
            )
        stats.update(self.evaluation_metrics())
        self.finish_evaluation_stage(stage, stats, epoch, self.chance_levels)

    #: Checkpoint selection when YAML gives no ``valid_metric`` /
    #: ``valid_metric_mode`` ("max" or "min").
    default_valid_metric = "t2a_R@1"
    default_valid_metric_mode = "max"

    def checkpoint_selection(self):
        """YAML ``valid_metric`` and ``valid_metric_mode`` (``"max"`` or
        ``"min"``) that select checkpoints, else the class defaults.

        Returns
        -------
        tuple of str
            ``(metric, mode)``.
        """
        key = getattr(self.hparams, "valid_metric", self.default_valid_metric)
        mode = getattr(self.hparams, "valid_metric_mode", self.default_valid_metric_mode)
        if mode not in ("max", "min"):
            raise ValueError(f"valid_metric_mode must be 'max' or 'min', got {mode!r}")
        return key, mode

    def test_checkpoint_keys(self) -> Dict[str, Optional[str]]:
        """``min_key`` / ``max_key`` of :meth:`evaluate`: which checkpoint is tested.

        YAML ``test_checkpoint``: ``"best"`` (default; best ``valid_metric``)
        or ``"last"`` (for protocols whose validation set is only monitored).

        Returns
        -------
        dict
            Keyword arguments of :meth:`evaluate`.
        """
        which = getattr(self.hparams, "test_checkpoint", "best")
        if which not in ("best", "last"):
            raise ValueError(f"test_checkpoint must be 'best' or 'last', got {which!r}")
        key, mode = self.checkpoint_selection()
        if which == "last":
            return {"min_key": None, "max_key": None}
        return {"min_key": key if mode == "min" else None, "max_key": key if mode == "max" else None}

    def stage_stats(self, stage, stage_loss, epoch=None) -> Dict[str, float]:
        """The stage's loss and skipped-sample count (logging the skips); the
        guard stops a run whose training epoch skipped every batch.

        Arguments
        ---------
        stage : speechbrain.Stage
            Current stage.
        stage_loss : float
            Average loss of the stage.
        epoch : int, optional
            Current epoch.

        Returns
        -------
        dict
            ``{"loss": ..., "skipped": ...}``.
        """
        if self.skipped_samples:
            logger.warning(
                "%s: skipped %d sample(s) (unreadable audio, or training batches "
                "with fewer than 2 usable samples)",
                stage.name,
                self.skipped_samples,
            )
        if stage == sb.Stage.TRAIN:
            self.guard.end_epoch(epoch)
        return {"loss": stage_loss, "skipped": self.skipped_samples}

    def finish_evaluation_stage(self, stage, stats, epoch, chance_levels) -> None:
        """Validation: log and keep the best checkpoint; test: log and write results.

        Arguments
        ---------
        stage : speechbrain.Stage
            VALID or TEST.
        stats : dict
            Loss and metrics of the stage.
        epoch : int, optional
            Current epoch.
        chance_levels : callable
            ``stats -> {metric: chance}``, called at test only.
        """
        if stage == sb.Stage.VALID:
            self.hparams.train_logger.log_stats(
                stats_meta={
                    "epoch": epoch,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "steps": self.optimizer_step,
                },
                train_stats=self.train_stats,
                valid_stats=stats,
            )
            key, mode = self.checkpoint_selection()
            self.checkpointer.save_and_keep_only(
                meta={key: stats[key], "loss": stats["loss"]},
                max_keys=[key] if mode == "max" else [],
                min_keys=[key] if mode == "min" else [],
                importance_keys=[],
                num_to_keep=1,
            )
        elif stage == sb.Stage.TEST:
            self.hparams.train_logger.log_stats(
                stats_meta={"Epoch loaded": self.hparams.epoch_counter.current},
                test_stats=stats,
            )
            self.test_stats = stats
            self.write_results(stats, chance_levels(stats))

    @main_process_only
    def write_results(
        self, stats: Dict[str, float], chance: Dict[str, float]
    ) -> None:
        """Write ``results.json`` and ``results.md`` and print the table.

        Arguments
        ---------
        stats : dict
            Test metrics.
        chance : dict
            Chance levels of the same metrics.
        """
        folder = self.hparams.output_folder
        initial = os.path.join(folder, self.INITIAL_METRICS_FILE)
        if os.path.exists(initial):
            with open(initial) as f:
                stats = {**stats, **json.load(f)}
        if self.guard.collapse:
            logger.warning("training collapsed (results.json: training.collapse): "
                           "these metrics are those of uniform similarities")
        training = {"optimizer_steps": self.optimizer_step, **self.guard.summary()}
        self._write_results_files(folder, stats, chance, training=training)

    @staticmethod
    def _write_results_files(folder, stats, chance, **extra) -> None:
        """Write ``results.json`` (``metrics``, ``chance`` and ``extra``) and
        ``results.md`` into ``folder``, and print the table."""
        results = {
            "metrics": {k: float(v) for k, v in stats.items()},
            "chance": {k: float(v) for k, v in chance.items()},
            **extra,
        }
        with open(os.path.join(folder, "results.json"), "w") as f:
            json.dump(results, f, indent=2, sort_keys=True)
        table = format_results_table(results["metrics"], results["chance"])
        with open(os.path.join(folder, "results.md"), "w") as f:
            f.write(table + "\n")
        print(table)


class EvaluationCollector:
    """Collects evaluation embeddings with their clip ids, keys and labels.

    Each clip is kept once (by id); every positive caption is kept with its
    clip and its caption key. Retrieval counts a caption as a hit for its own
    clip and for every clip with an identical caption (closed-vocabulary
    data repeats captions; with unique captions this is the LAION protocol).

    Example
    -------
    >>> c = EvaluationCollector()
    >>> c.append(["a", "b"], torch.eye(2), torch.eye(2)[[0, 1, 1]],
    ...          ["a", "b", "b"], ["dog", "cat", "cat 2"], [["dog"], ["cat"]])
    >>> c.audio_matrix().shape, c.labels
    (torch.Size([2, 2]), [['dog'], ['cat']])
    >>> c.positives().int().tolist()
    [[1, 0, 0], [0, 1, 1]]
    """

    def __init__(self):
        self.index: Dict[str, int] = {}
        self.audio: List[torch.Tensor] = []
        self.text: List[torch.Tensor] = []
        self.text_keys: List[str] = []
        self.clip_keys: List[List[str]] = []
        self.labels: List[List[str]] = []

    def append(
        self, audio_ids, audio_emb, text_emb, text_audio_ids, text_keys, labels
    ):
        """Add one batch.

        Arguments
        ---------
        audio_ids : list of str
            Clip id of each audio row.
        audio_emb : torch.Tensor
            ``(Na, D)``.
        text_emb : torch.Tensor
            ``(Nt, D)`` positive captions.
        text_audio_ids : list of str
            Clip id of each caption.
        text_keys : list of str
            Caption key of each caption.
        labels : list of list of str
            Labels of each audio row.
        """
        for row, clip_id in enumerate(audio_ids):
            if clip_id in self.index:
                continue
            self.index[clip_id] = len(self.index)
            self.audio.append(audio_emb[row].detach().float().cpu())
            self.labels.append(list(labels[row]))
            self.clip_keys.append([])
        self.text.append(text_emb.detach().float().cpu())
        self.text_keys.extend(text_keys)
        for clip_id, key in zip(text_audio_ids, text_keys):
            self.clip_keys[self.index[clip_id]].append(key)

    def audio_matrix(self) -> torch.Tensor:
        """Return the ``(N_clips, D)`` audio embeddings."""
        return torch.stack(self.audio)

    def text_matrix(self) -> torch.Tensor:
        """Return the ``(N_captions, D)`` caption embeddings."""
        return torch.cat(self.text)

    def positives(self) -> torch.Tensor:
        """Return the ``(N_clips, N_captions)`` boolean hit matrix."""
        return positives_from_caption_keys(self.clip_keys, self.text_keys)


def format_results_table(
    metrics: Dict[str, float],
    chance: Dict[str, float],
    keys: Optional[List[str]] = None,
) -> str:
    """Markdown table of metrics beside their chance levels.

    Arguments
    ---------
    metrics : dict
        Metric name -> value.
    chance : dict
        Metric name -> chance value.
    keys : list of str, optional
        Rows to show (default: every metric that has a chance level).

    Returns
    -------
    str
        The table.

    Example
    -------
    >>> print(format_results_table({"t2a_R@1": 0.5}, {"t2a_R@1": 0.1}))
    | metric | value | chance |
    |---|---|---|
    | t2a_R@1 | 0.5000 | 0.1000 |
    """
    keys = keys or [k for k in metrics if k in chance]
    lines = ["| metric | value | chance |", "|---|---|---|"]
    for k in keys:
        lines.append(f"| {k} | {metrics[k]:.4f} | {chance.get(k, float('nan')):.4f} |")
    return "\n".join(lines)


def _event_pair_inputs(frames, frame_mask, prompt_emb, event_pairs, event_labels) -> Dict:
    """``pair_frames``, ``pair_frame_mask`` and ``pair_texts`` of
    :class:`~speechbrain_tclap.losses.ContrastiveInputs`: per ordered event
    pair, its clip's frames and the prompt embeddings of its two labels."""
    if frame_mask is None:
        frame_mask = torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
    column = {label: i for i, label in enumerate(event_labels)}
    index = torch.tensor(
        [[row, column[a], column[b]] for row, a, b in event_pairs],
        dtype=torch.long, device=frames.device,
    ).view(-1, 3)
    return dict(
        pair_frames=frames[index[:, 0]],
        pair_frame_mask=frame_mask[index[:, 0]].bool(),
        # Two gathers, not one (P, 2) gather: the same gradient summation
        # order as the per-label rows (bit-identical training).
        pair_texts=torch.stack(
            [prompt_emb[index[:, 1]], prompt_emb[index[:, 2]]], dim=1
        ),
    )

@contextlib.contextmanager
def _eval_mode(modules):
    """Run the block with ``modules`` in eval mode, then restore their mode."""
    was_training = modules.training
    modules.eval()
    try:
        yield
    finally:
        modules.train(was_training)
