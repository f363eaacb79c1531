#!/usr/bin/env python3
"""Throughput of our HTSAT-tiny audio tower against Hugging Face's, same weights.

Builds HF ``ClapAudioModel(ClapAudioConfig())`` (LAION HTSAT-tiny, no fusion)
with random weights (BatchNorm statistics and relative-position tables
randomised too), converts its state dict with
:func:`speechbrain_tclap.convert.htsat_keys.hf_audio_encoder_to_htsat` into
the HTSAT of ``hparams/models/laion_clap_htsat_tiny.yaml`` with
``time_fill: stretch`` (the reference's bicubic
time stretch, for parity), then times, interleaved and after warm-up:

(a) waveform → clip embedding: ``CLAPFeatures.from_preset("laion")`` + our
    HTSAT, against ``ClapFeatureExtractor(frequency_min=50,
    frequency_max=14000, truncation="rand_trunc", padding="repeatpad")`` on
    NumPy arrays + ``ClapAudioModel`` ``pooler_output``;
(b) the encoder alone, both on the same log-mel input (ours).

It reports medians, speedups (HF time / our time), the largest absolute
difference between the two sides' outputs (must be ≤ 1e-4 in fp32), our
fraction of the fp32 matmul peak (a 2048² matmul timed in the same run;
encoder FLOPs counted on the model with ``torch.utils.flop_counter``), and,
with ``--profile``, a ``torch.profiler`` table of where our time goes. The
last line is exactly::

    end_to_end_speedup=X encoder_speedup=Y max_abs_diff=Z

Usage (see ``benchmarks/README.md``)::

    python benchmarks/encoder_throughput.py                 # CPU fp32, 2 threads
    python benchmarks/encoder_throughput.py --runs 2        # smoke run
    python benchmarks/encoder_throughput.py --device cuda --dtype bf16

Authors
 * speechbrain-tclap developers 2026
"""

import argparse
import os
import statistics
import sys
import time
from contextlib import nullcontext
from typing import Callable, Dict, List

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from hyperpyyaml import load_hyperpyyaml  # noqa: E402

from speechbrain_tclap.convert.htsat_keys import hf_audio_encoder_to_htsat  # noqa: E402
from speechbrain_tclap.lobes.features import CLAPFeatures  # noqa: E402
from speechbrain_tclap.lobes.htsat import HTSAT  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PARITY_TOLERANCE = 1e-4
# LAION's HTSAT-tiny on a 10-s clip (1024 x 64 image), the figure usually
# quoted; the script prints its own count next to it.
QUOTED_GFLOP_PER_CLIP = 11.8


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line options.

    Arguments
    ---------
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    argparse.Namespace
        The options.

    Example
    -------
    >>> args = parse_args(["--runs", "2"])
    >>> args.runs, args.batch, args.seconds, args.threads, args.dtype
    (2, 8, 10.0, 2, 'fp32')
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=5, help="timed runs (median)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--profile", action="store_true",
                        help="print a torch.profiler table of our pipeline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline-commit", default=None,
                        help="also time (and profile) the HTSAT of this git "
                        "commit on the same weights, interleaved: before/after")
    return parser.parse_args(argv)


def htsat_at_commit(commit: str) -> type:
    """The ``HTSAT`` class of ``speechbrain_tclap/lobes/htsat.py`` at a commit.

    The file is read with ``git show`` and imported as a separate module (its
    imports resolve to the installed package), so an older encoder can be
    timed next to the current one in the same process.

    Arguments
    ---------
    commit : str
        A commit of this repository.

    Returns
    -------
    type
        That commit's ``HTSAT`` class.
    """
    import importlib.util
    import subprocess
    import tempfile

    source = subprocess.run(
        ["git", "show", f"{commit}:speechbrain_tclap/lobes/htsat.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(f"htsat_{commit}", f.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # importable by name (the model file builds it)
    spec.loader.exec_module(module)
    os.unlink(f.name)
    return module.HTSAT


def randomize_(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Gives BatchNorm statistics and relative-position tables random values.

    Freshly built models have zero tables and unit statistics, which would
    hide mistakes in the weight transfer.

    Arguments
    ---------
    model : torch.nn.Module
        Model to modify in place.
    seed : int
        Seed of the draws.

    Returns
    -------
    torch.nn.Module
        The same model.

    Example
    -------
    >>> bn = randomize_(torch.nn.Sequential(torch.nn.BatchNorm2d(3)))[0]
    >>> bool((bn.running_var != 1).all())
    True
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "relative_position_bias_table" in name:
                param.copy_(torch.randn(param.shape, generator=generator))
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator))
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
    return model


def build_models(seed: int, encoder_class: type = HTSAT):
    """HF ``ClapAudioModel`` (random) and our HTSAT holding the same weights.

    Arguments
    ---------
    seed : int
        Seed of the random initialisation.
    encoder_class : type
        Our encoder class (:func:`htsat_at_commit` gives an older one).

    Returns
    -------
    tuple
        ``(hf_model, our_encoder, conversion_report)``, both in eval mode.
    """
    import transformers

    torch.manual_seed(seed)
    reference = randomize_(transformers.ClapAudioModel(transformers.ClapAudioConfig()))
    state, report = hf_audio_encoder_to_htsat(reference.state_dict())
    with open(os.path.join(ROOT, "hparams", "models", "laion_clap_htsat_tiny.yaml")) as f:
        text = f.read().replace(  # the model file's HTSAT, built by encoder_class
            "speechbrain_tclap.lobes.htsat.HTSAT", f"{encoder_class.__module__}.HTSAT"
        )
    ours = load_hyperpyyaml(text, {"time_fill": "stretch"})["audio_encoder"]
    ours.load_state_dict(state, strict=True)
    return reference.eval(), ours.eval(), report


def count_gflop(encoder: HTSAT, feats: torch.Tensor) -> float:
    """GFLOP of one encoder forward on ``feats`` (one clip), counted by torch.

    Arguments
    ---------
    encoder : HTSAT
        The encoder.
    feats : torch.Tensor
        ``(1, T, n_mels)`` log-mel input.

    Returns
    -------
    float
        GFLOP (matmuls, convolutions and attention; a multiply-add counts 2).

    Example
    -------
    >>> enc = HTSAT.from_preset("test").eval()
    >>> count_gflop(enc, torch.randn(1, 64, 16)) > 0
    True
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    # with a gradient the encoder takes its plain ops, which the counter
    # knows (it has no formula for oneDNN's fused inference kernels)
    with torch.enable_grad(), counter:
        encoder(feats.detach().requires_grad_())
    return counter.get_total_flops() / 1e9


def matmul_peak_gflops(device: torch.device, dtype: torch.dtype, repeats: int = 10) -> float:
    """Measured GFLOP/s of a 2048 x 2048 matmul (median over ``repeats``).

    Arguments
    ---------
    device : torch.device
        Where to run.
    dtype : torch.dtype
        Matrix dtype.
    repeats : int
        Timed products.

    Returns
    -------
    float
        GFLOP/s.

    Example
    -------
    >>> matmul_peak_gflops(torch.device("cpu"), torch.float32, repeats=1) > 0
    True
    """
    n = 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    (a @ b).sum().item()  # warm-up
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def _sync(device: torch.device) -> None:
    """Waits for queued GPU work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    tasks: Dict[str, Callable[[], torch.Tensor]],
    runs: int,
    warmup: int,
    device: torch.device,
) -> Dict[str, List[float]]:
    """Runs every task ``warmup + runs`` times, round-robin; returns timings.

    Interleaving spreads slow drifts (other processes, frequency changes)
    evenly over the tasks.

    Arguments
    ---------
    tasks : dict
        Name -> zero-argument callable.
    runs : int
        Timed rounds.
    warmup : int
        Untimed rounds first.
    device : torch.device
        For synchronisation.

    Returns
    -------
    dict
        Name -> list of ``runs`` durations in seconds.

    Example
    -------
    >>> out = time_interleaved({"a": lambda: None}, 2, 0, torch.device("cpu"))
    >>> len(out["a"])
    2
    """
    timings = {name: [] for name in tasks}
    for round_index in range(warmup + runs):
        for name, task in tasks.items():
            _sync(device)
            start = time.perf_counter()
            task()
            _sync(device)
            if round_index >= warmup:
                timings[name].append(time.perf_counter() - start)
    return timings


def main(argv=None) -> int:
    """Runs the benchmark and prints the report.

    Arguments
    ---------
    argv : list of str, optional
        Command-line arguments.

    Returns
    -------
    int
        0, or 1 when the fp32 outputs differ by more than the tolerance.
    """
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    amp_dtype = torch.bfloat16 if args.dtype == "bf16" else None
    if amp_dtype is not None and device.type == "cpu":
        print("note: bf16 on CPU runs under CPU autocast", file=sys.stderr)
    if args.runs < 5:
        print(f"note: {args.runs} timed runs (use >= 5 for a measurement)")

    import transformers

    reference, ours, report = build_models(args.seed)
    reference.to(device)
    ours.to(device)
    features = CLAPFeatures.from_preset("laion").to(device).eval()
    extractor = transformers.ClapFeatureExtractor(
        frequency_min=50,
        frequency_max=14000,
        truncation="rand_trunc",
        padding="repeatpad",
    )

    generator = torch.Generator().manual_seed(args.seed + 1)
    num_samples = int(round(args.seconds * features.sample_rate))
    wavs_cpu = 0.1 * torch.randn(args.batch, num_samples, generator=generator)
    wavs = wavs_cpu.to(device)
    wavs_np = [w.numpy() for w in wavs_cpu]  # HF's extractor takes NumPy

    def autocast():
        if amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=device.type, dtype=amp_dtype)

    @torch.no_grad()
    def ours_end_to_end() -> torch.Tensor:
        with autocast():
            feats, _ = features(wavs)
            return ours(feats).clip

    @torch.no_grad()
    def hf_end_to_end() -> torch.Tensor:
        inputs = extractor(
            wavs_np, sampling_rate=features.sample_rate, return_tensors="pt"
        )
        mel = inputs["input_features"].to(device=device, dtype=torch.float32)
        with autocast():
            return reference(
                input_features=mel, is_longer=inputs["is_longer"].to(device)
            ).pooler_output

    with torch.no_grad():
        mel_input, _ = features(wavs)  # (B, T, 64): the shared encoder input
    mel_hf = mel_input.unsqueeze(1)

    @torch.no_grad()
    def ours_encoder() -> torch.Tensor:
        with autocast():
            return ours(mel_input).clip

    @torch.no_grad()
    def hf_encoder() -> torch.Tensor:
        with autocast():
            return reference(input_features=mel_hf).pooler_output

    tasks = {
        "ours_end_to_end": ours_end_to_end,
        "hf_end_to_end": hf_end_to_end,
        "ours_encoder": ours_encoder,
        "hf_encoder": hf_encoder,
    }
    baseline = None
    if args.baseline_commit:
        _, baseline, _ = build_models(args.seed, htsat_at_commit(args.baseline_commit))
        baseline.to(device)

        @torch.no_grad()
        def base_end_to_end() -> torch.Tensor:
            with autocast():
                feats, _ = features(wavs)
                return baseline(feats).clip

        @torch.no_grad()
        def base_encoder() -> torch.Tensor:
            with autocast():
                return baseline(mel_input).clip

        tasks.update(base_end_to_end=base_end_to_end, base_encoder=base_encoder)
    # outputs first: the parity check does not depend on the timings
    outputs = {name: task().float() for name, task in tasks.items()}
    diff_e2e = float((outputs["ours_end_to_end"] - outputs["hf_end_to_end"]).abs().max())
    diff_enc = float((outputs["ours_encoder"] - outputs["hf_encoder"]).abs().max())
    max_abs_diff = max(diff_e2e, diff_enc)

    timings = time_interleaved(tasks, args.runs, args.warmup, device)
    median = {name: statistics.median(t) for name, t in timings.items()}
    e2e_speedup = median["hf_end_to_end"] / median["ours_end_to_end"]
    enc_speedup = median["hf_encoder"] / median["ours_encoder"]

    gflop_clip = count_gflop(ours.float(), mel_input[:1].float())
    peak_dtype = amp_dtype or torch.float32
    peak = matmul_peak_gflops(device, peak_dtype)
    achieved = gflop_clip * args.batch / median["ours_encoder"]

    print(
        f"device={device} dtype={args.dtype} threads={args.threads} "
        f"batch={args.batch} x {args.seconds:g} s @ {features.sample_rate} Hz, "
        f"runs={args.runs} (+{args.warmup} warm-up), torch {torch.__version__}, "
        f"transformers {transformers.__version__}"
    )
    print(f"weights: {report.summary()}")
    print(f"{'task':<18}{'median s':>10}{'min s':>10}{'clips/s':>10}")
    for name, t in timings.items():
        print(f"{name:<18}{median[name]:>10.4f}{min(t):>10.4f}"
              f"{args.batch / median[name]:>10.2f}")
    print(f"speedup (HF / ours): end-to-end {e2e_speedup:.3f}, encoder {enc_speedup:.3f}")
    if baseline is not None:
        base_gflops = gflop_clip * args.batch / median["base_encoder"]
        print(
            f"baseline {args.baseline_commit}: speedup (HF / baseline) end-to-end "
            f"{median['hf_end_to_end'] / median['base_end_to_end']:.3f}, encoder "
            f"{median['hf_encoder'] / median['base_encoder']:.3f}; ours / baseline "
            f"encoder {median['base_encoder'] / median['ours_encoder']:.3f}x; baseline "
            f"{base_gflops:.1f} GFLOP/s -> {100 * base_gflops / peak:.1f}% of peak; "
            f"max |ours - baseline| {float((outputs['ours_encoder'] - outputs['base_encoder']).abs().max()):.2e}"
        )
    print(f"max |diff|: end-to-end {diff_e2e:.2e}, encoder {diff_enc:.2e} "
          f"(tolerance {PARITY_TOLERANCE:g} in fp32)")
    print(
        f"encoder cost: {gflop_clip:.2f} GFLOP per clip counted "
        f"(quoted figure {QUOTED_GFLOP_PER_CLIP}); ours {achieved:.1f} GFLOP/s, "
        f"2048^2 {args.dtype} matmul peak {peak:.1f} GFLOP/s "
        f"-> {100 * achieved / peak:.1f}% of peak"
    )

    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
        profiled = [("ours", ours_end_to_end)]
        if baseline is not None:
            profiled.append((f"baseline {args.baseline_commit}", tasks["base_end_to_end"]))
        for name, task in profiled:
            with profile(activities=activities) as prof:
                task()
                _sync(device)
            print(f"profile of {name} (end to end):")
            print(prof.key_averages().table(sort_by=key, row_limit=15))

    failed = args.dtype == "fp32" and not max_abs_diff <= PARITY_TOLERANCE
    if failed:
        print(f"FAIL: outputs differ by {max_abs_diff:.2e} > {PARITY_TOLERANCE:g}")
    print(
        f"end_to_end_speedup={e2e_speedup:.3f} encoder_speedup={enc_speedup:.3f} "
        f"max_abs_diff={max_abs_diff:.2e}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
