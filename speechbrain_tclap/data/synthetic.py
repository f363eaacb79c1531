"""A seeded procedural sound-event generator and its dataset preparation.

The default recipe needs no download: clips are sequences of synthesised
sound events whose classes differ by spectro-temporal shape, not by level,
each with its event list (label, onset, offset) for temporal captions.
:data:`EVENT_CLASSES` maps a label to ``(rng, duration, sample_rate) ->
np.ndarray`` (random in-class parameters and level, peak <= 1, short fades);
:class:`SoundEventGenerator` mixes events into clips and
:func:`prepare_synthetic` writes audio and SpeechBrain JSON manifests,
deterministically and idempotently.

Authors
 * speechbrain-tclap developers 2026
"""

import hashlib
import json
import multiprocessing
import os
import re
import shutil
import tempfile
import threading
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile as sf
from speechbrain.utils.logger import get_logger
from speechbrain_tclap.data.captions import caption_for_events
from speechbrain_tclap.utils.locking import folder_lock

logger = get_logger(__name__)

#: Bumped whenever the synthesis changes, so that old data is regenerated.
GENERATOR_VERSION = "1"

FINGERPRINT_FILE = "synthetic_config.json"

RngLike = Union[np.random.Generator, int, None]


# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------
def _num_samples(duration: float, sample_rate: int) -> int:
    n = int(round(duration * sample_rate))
    if n <= 0:
        raise ValueError(f"duration {duration} s gives no samples at {sample_rate} Hz")
    return n


_WAVETABLE_SIZE = 2048


def _time(n: int, sample_rate: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / sample_rate


def _cap(freq: float, sample_rate: int) -> float:
    """Keeps a frequency safely below Nyquist at low sample rates."""
    return min(freq, 0.45 * sample_rate)


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _sine_sweep(f_start: float, f_end: float, n: int, sample_rate: int, phase: float):
    """Exponential sweep from ``f_start`` to ``f_end`` Hz (phase-continuous)."""
    freqs = f_start * (f_end / f_start) ** (np.arange(n) / max(n - 1, 1))
    return np.sin(phase + 2 * np.pi * np.cumsum(freqs) / sample_rate)


def _shaped_noise(
    rng: np.random.Generator,
    n: int,
    sample_rate: int,
    gain: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """White noise filtered in the frequency domain by ``gain(freqs_hz)``."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    return np.fft.irfft(spectrum * gain(freqs), n)


def _lowpass_gain(cutoff: float, order: int = 4):
    return lambda f: 1.0 / np.sqrt(1.0 + (f / cutoff) ** (2 * order))


def _highpass_gain(cutoff: float, order: int = 4):
    return lambda f: 1.0 / np.sqrt(1.0 + (cutoff / np.maximum(f, 1e-3)) ** (2 * order))


def _bandpass_gain(center: float, octaves: float):
    """Gaussian band in log-frequency, ``octaves`` wide at about -9 dB."""

    def gain(f):
        distance = np.log2(np.maximum(f, 1e-3) / center) / (octaves / 2)
        return np.exp(-0.5 * distance**2)

    return gain


def _finish(rng: np.random.Generator, x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Applies short fades, then scales to a random peak in [-12, -1] dBFS."""
    n = x.shape[0]
    fade = min(int(0.005 * sample_rate), n // 4)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(fade) / fade)
        x = x.copy()
        x[:fade] *= ramp
        x[n - fade :] *= ramp[::-1]
    peak = np.max(np.abs(x))
    if peak > 0:
        x = x / peak
    level = 10.0 ** (rng.uniform(-12.0, -1.0) / 20.0)
    return (level * x).astype(np.float32)


def _chirp(rng, duration: float, sample_rate: int, rising: bool) -> np.ndarray:
    """A sine sweeping 1.5-3 octaves between 200-500 Hz and above, up or down."""
    n = _num_samples(duration, sample_rate)
    low = _log_uniform(rng, 200, 500)
    high = _cap(low * 2 ** rng.uniform(1.5, 3.0), sample_rate)
    start, end = (low, high) if rising else (high, low)
    x = _sine_sweep(start, end, n, sample_rate, rng.uniform(0, 2 * np.pi))
    return _finish(rng, x, sample_rate)


def _swell(rng, t: np.ndarray, rates: tuple, depths: tuple) -> np.ndarray:
    """Loudness envelope dipping at a rate (Hz) and by a depth drawn in the ranges."""
    rate, depth = rng.uniform(*rates), rng.uniform(*depths)
    angle = 2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)
    return 1.0 - depth * (0.5 + 0.5 * np.cos(angle))


# ---------------------------------------------------------------------------
# The event classes
# ---------------------------------------------------------------------------
_EVENT_DOC = """

    Arguments
    ---------
    rng : np.random.Generator
        Draws the in-class parameters, the noise and the level.
    duration : float
        Length in seconds.
    sample_rate : int
        Sample rate in Hz.

    Returns
    -------
    np.ndarray
        ``(round(duration * sample_rate),)`` float32, peak <= 1.

    Example
    -------
    >>> x = {name}(np.random.default_rng(0), 0.5, 16000)
    >>> x.shape, x.dtype, bool(0 < np.abs(x).max() <= 1)
    ((8000,), dtype('float32'), True)
    """


def _event_class(fn):
    """Completes an event class's one-line docstring with the shared sections."""
    if fn.__doc__ is not None:  # None under ``python -OO``
        fn.__doc__ += _EVENT_DOC.format(name=fn.__name__)
    return fn


@_event_class
def pure_tone(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """A steady sine at 300-1500 Hz."""
    n = _num_samples(duration, sample_rate)
    freq = _cap(_log_uniform(rng, 300, 1500), sample_rate)
    x = np.sin(rng.uniform(0, 2 * np.pi) + 2 * np.pi * freq * _time(n, sample_rate))
    return _finish(rng, x, sample_rate)


@_event_class
def rising_chirp(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """A sine sweeping up 1.5-3 octaves from 200-500 Hz over the event."""
    return _chirp(rng, duration, sample_rate, rising=True)


@_event_class
def falling_chirp(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """A sine sweeping down 1.5-3 octaves to 200-500 Hz over the event."""
    return _chirp(rng, duration, sample_rate, rising=False)


@_event_class
def white_noise_burst(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """Steady broadband white noise."""
    n = _num_samples(duration, sample_rate)
    return _finish(rng, rng.standard_normal(n), sample_rate)


@_event_class
def low_rumble(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """Noise low-passed at 80-250 Hz with a slow 1-3 Hz swell."""
    n = _num_samples(duration, sample_rate)
    x = _shaped_noise(rng, n, sample_rate, _lowpass_gain(rng.uniform(80, 250)))
    swell = _swell(rng, _time(n, sample_rate), (1.0, 3.0), (0.1, 0.3))
    return _finish(rng, x * swell, sample_rate)


@_event_class
def hiss(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """Steady noise high-passed at 3.5-5.5 kHz (scaled down at low rates)."""
    n = _num_samples(duration, sample_rate)
    cutoff = min(rng.uniform(3500, 5500), 0.3 * sample_rate)
    x = _shaped_noise(rng, n, sample_rate, _highpass_gain(cutoff))
    return _finish(rng, x, sample_rate)


@_event_class
def click_train(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """Regular broadband clicks (2 ms decaying noise) at 5-20 per second."""
    n = _num_samples(duration, sample_rate)
    period = 1.0 / rng.uniform(5.0, 20.0)
    click_len = max(int(0.003 * sample_rate), 2)
    click_env = np.exp(-np.arange(click_len) / (0.0007 * sample_rate))
    x = np.zeros(n)
    # The first click comes early (inside the fade-in margin plus a bit).
    t = rng.uniform(0.008, 0.008 + 0.5 * period)
    while True:
        start = int(t * sample_rate)
        if start + click_len > n:
            break
        x[start : start + click_len] += click_env * rng.standard_normal(click_len)
        t += period
    if not x.any():  # too short for a full click: put one in the middle
        start = max((n - click_len) // 2, 0)
        length = min(click_len, n)
        x[start : start + length] = click_env[:length] * rng.standard_normal(length)
    return _finish(rng, x, sample_rate)


@_event_class
def harmonic_buzz(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """A steady buzzy harmonic stack (1/k amplitudes) with f0 at 80-250 Hz."""
    n = _num_samples(duration, sample_rate)
    f0 = rng.uniform(80, 250)
    n_harmonics = int(_cap(5000.0, sample_rate) // f0)
    ks = np.arange(1, n_harmonics + 1)
    phases = rng.uniform(0, 2 * np.pi, n_harmonics)
    # One period in a wavetable (>= 32 points per cycle of the top harmonic),
    # read by linear interpolation: ~10x cheaper than summing sines per sample.
    table_phase = np.linspace(0, 2 * np.pi, _WAVETABLE_SIZE + 1)
    partials = np.sin(ks[:, None] * table_phase[None, :] + phases[:, None])
    table = (partials / ks[:, None]).sum(0)
    cycle = (f0 * _time(n, sample_rate) + rng.uniform()) % 1.0
    x = np.interp(cycle * _WAVETABLE_SIZE, np.arange(_WAVETABLE_SIZE + 1), table)
    return _finish(rng, x, sample_rate)


@_event_class
def tremolo_tone(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """A 400-1200 Hz sine whose loudness wobbles at 4-12 Hz (never silent)."""
    n = _num_samples(duration, sample_rate)
    t = _time(n, sample_rate)
    freq = _cap(_log_uniform(rng, 400, 1200), sample_rate)
    env = _swell(rng, t, (4.0, 12.0), (0.5, 0.85))
    x = env * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return _finish(rng, x, sample_rate)


@_event_class
def vibrato_tone(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """A 500-1200 Hz sine whose pitch wobbles by 3-8 % at 4-8 Hz."""
    n = _num_samples(duration, sample_rate)
    t = _time(n, sample_rate)
    freq = _cap(_log_uniform(rng, 500, 1200), sample_rate / 1.1)
    rate, depth = rng.uniform(4.0, 8.0), rng.uniform(0.03, 0.08)
    angle = 2 * np.pi * rate * t + rng.uniform(0, 2 * np.pi)
    inst = freq * (1.0 + depth * np.sin(angle))
    x = np.sin(rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.cumsum(inst) / sample_rate)
    return _finish(rng, x, sample_rate)


@_event_class
def beeping(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """An 800-2500 Hz tone switched on and off 4-8 times per second."""
    n = _num_samples(duration, sample_rate)
    t = _time(n, sample_rate)
    freq = _cap(_log_uniform(rng, 800, 2500), sample_rate)
    period = 1.0 / rng.uniform(4.0, 8.0)
    duty = rng.uniform(0.3, 0.55)
    gate = ((t % period) < duty * period).astype(np.float64)
    # 3 ms ramps on each beep edge avoid clicks.
    ramp = max(int(0.003 * sample_rate), 1)
    gate = np.convolve(gate, np.ones(ramp) / ramp, mode="same")
    x = gate * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    return _finish(rng, x, sample_rate)


@_event_class
def bell(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """A struck bell: inharmonic partials (base 300-900 Hz), 0.1-0.35 s decay."""
    n = _num_samples(duration, sample_rate)
    t = _time(n, sample_rate)
    f0 = _log_uniform(rng, 300, 900)
    tau = rng.uniform(0.1, 0.35)
    x = np.zeros(n)
    for ratio, amp in ((1.0, 1.0), (2.32, 0.7), (4.25, 0.5), (6.63, 0.35)):
        freq = f0 * ratio * rng.uniform(0.98, 1.02)
        if freq >= 0.45 * sample_rate:
            continue
        # Higher partials die away faster, as in real bells.
        x += (
            amp
            * np.exp(-t * ratio**0.5 / tau)
            * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        )
    return _finish(rng, x, sample_rate)


@_event_class
def knock(rng: np.random.Generator, duration: float, sample_rate: int) -> np.ndarray:
    """1-3 thuds: band-passed (150-600 Hz) noise bursts with 8-25 ms decay."""
    n = _num_samples(duration, sample_rate)
    tau = rng.uniform(0.008, 0.025) * sample_rate
    burst_len = min(int(6 * tau), n)
    excitation = np.zeros(n)
    n_knocks = int(rng.integers(1, 4))
    # Knocks are spread over the event, at least ~90 ms apart when room allows.
    slots = np.linspace(0, max(n - burst_len, 0), n_knocks + 1)[:-1].astype(int)
    jitter = int(0.02 * sample_rate)
    for start in slots:
        start = int(min(start + rng.integers(0, jitter + 1), max(n - burst_len, 0)))
        env = np.exp(-np.arange(burst_len) / tau)
        excitation[start : start + burst_len] += env * rng.standard_normal(burst_len)
    center = rng.uniform(150, 600)
    spectrum = np.fft.rfft(excitation) * _bandpass_gain(center, 1.5)(
        np.fft.rfftfreq(n, 1.0 / sample_rate)
    )
    return _finish(rng, np.fft.irfft(spectrum, n), sample_rate)


@_event_class
def bird_tweets(
    rng: np.random.Generator, duration: float, sample_rate: int
) -> np.ndarray:
    """Rapid high chirps (2.5-4.5 kHz, 30-60 ms, downward) at 6-12 per second."""
    n = _num_samples(duration, sample_rate)
    period = 1.0 / rng.uniform(6.0, 12.0)
    high = _cap(rng.uniform(2500, 4500), sample_rate)
    tweet_len = min(int(rng.uniform(0.03, 0.06) * sample_rate), n)
    window = np.hanning(tweet_len)
    x = np.zeros(n)
    t = rng.uniform(0.0, 0.3 * period)
    while True:
        start = int(t * sample_rate)
        if start + tweet_len > n:
            break
        top = high * rng.uniform(0.95, 1.05)
        x[start : start + tweet_len] += window * _sine_sweep(
            top, 0.6 * top, tweet_len, sample_rate, 0.0
        )
        t += period
    if not x.any():  # shorter than one period: a single tweet
        sweep = _sine_sweep(high, 0.6 * high, tweet_len, sample_rate, 0.0)
        x[:tweet_len] = window * sweep
    return _finish(rng, x, sample_rate)


#: label -> synthesis function ``(rng, duration, sample_rate) -> np.ndarray``.
EVENT_CLASSES: Dict[str, Callable[[np.random.Generator, float, int], np.ndarray]] = {
    "pure_tone": pure_tone,
    "rising_chirp": rising_chirp,
    "falling_chirp": falling_chirp,
    "white_noise_burst": white_noise_burst,
    "low_rumble": low_rumble,
    "hiss": hiss,
    "click_train": click_train,
    "harmonic_buzz": harmonic_buzz,
    "tremolo_tone": tremolo_tone,
    "vibrato_tone": vibrato_tone,
    "beeping": beeping,
    "bell": bell,
    "knock": knock,
    "bird_tweets": bird_tweets,
}


def _as_rng(rng: RngLike) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


# ---------------------------------------------------------------------------
# Clip generator
# ---------------------------------------------------------------------------
class SoundEventGenerator:
    """Mixes procedural sound events into clips with time-stamped labels.

    Arguments
    ---------
    sample_rate : int
        Output sample rate in Hz.
    classes : sequence of str, optional
        Labels from :data:`EVENT_CLASSES` to draw from (all by default).
    seed : int
        Seed of the stream used when ``make_clip`` gets no ``rng``.
    min_event : float
        Shortest event in seconds.
    max_event : float
        Longest event in seconds.
    noise_floor_db : float, optional
        RMS level (dBFS) of a pink background noise; None: digital silence.

    Example
    -------
    >>> gen = SoundEventGenerator(sample_rate=16000, seed=0)
    >>> wav, events = gen.make_clip(2.0, n_events=2, rng=7)
    >>> wav.shape, wav.dtype
    ((32000,), dtype('float32'))
    >>> [sorted(e) for e in events][0]
    ['label', 'offset', 'onset']
    >>> events[0]["offset"] <= events[1]["onset"]
    True
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        classes: Optional[Sequence[str]] = None,
        seed: int = 0,
        min_event: float = 0.3,
        max_event: float = 1.0,
        noise_floor_db: Optional[float] = -40.0,
    ):
        if classes is None:
            classes = list(EVENT_CLASSES)
        unknown = [c for c in classes if c not in EVENT_CLASSES]
        if unknown:
            raise ValueError(
                f"unknown event classes {unknown}; known: {sorted(EVENT_CLASSES)}"
            )
        if not classes:
            raise ValueError("classes is empty")
        if not 0 < min_event <= max_event:
            raise ValueError(
                f"need 0 < min_event <= max_event, got {min_event}, {max_event}"
            )
        self.sample_rate = int(sample_rate)
        self.classes = list(classes)
        self.min_event = float(min_event)
        self.max_event = float(max_event)
        self.noise_floor_db = noise_floor_db
        self._rng = np.random.default_rng(seed)

    def make_event(
        self, label: str, duration: float, rng: RngLike = None
    ) -> np.ndarray:
        """Synthesises one event of class ``label``.

        Arguments
        ---------
        label : str
            A label from :data:`EVENT_CLASSES`.
        duration : float
            Length in seconds.
        rng : np.random.Generator or int, optional
            Random source or seed (the generator's own stream if None).

        Returns
        -------
        np.ndarray
            float32 event, peak <= 1.

        Example
        -------
        >>> SoundEventGenerator().make_event("bell", 0.5, rng=0).shape
        (8000,)
        """
        if label not in EVENT_CLASSES:
            raise ValueError(f"unknown event class {label!r}")
        rng = self._rng if rng is None else _as_rng(rng)
        return EVENT_CLASSES[label](rng, duration, self.sample_rate)

    def make_clip(
        self,
        duration: float,
        n_events: int = 1,
        rng: RngLike = None,
        allow_overlap: bool = False,
    ) -> Tuple[np.ndarray, List[Dict[str, Union[str, float]]]]:
        """Makes one clip holding ``n_events`` events of distinct classes.

        Without overlap, durations are drawn in ``[min_event, min(max_event,
        duration / n_events)]`` and the rest split at random into gaps, so the
        order is well defined.

        Arguments
        ---------
        duration : float
            Clip length in seconds.
        n_events : int
            Number of events (at most the number of classes).
        rng : np.random.Generator or int, optional
            Random source or seed (the generator's own stream if None).
        allow_overlap : bool
            Place each event independently, so events may overlap.

        Returns
        -------
        wav : np.ndarray
            float32 ``(round(duration * sample_rate),)``, peak <= 1.
        events : list of dict
            ``{"label", "onset", "offset"}`` in seconds, sorted by onset.

        Example
        -------
        >>> gen = SoundEventGenerator(classes=["bell", "hiss"])
        >>> wav, events = gen.make_clip(1.0, n_events=2, rng=0)
        >>> sorted(e["label"] for e in events)
        ['bell', 'hiss']
        """
        rng = self._rng if rng is None else _as_rng(rng)
        sr = self.sample_rate
        n_total = _num_samples(duration, sr)
        if not 1 <= n_events <= len(self.classes):
            raise ValueError(
                f"n_events must be in [1, {len(self.classes)}], got {n_events}"
            )
        room = duration if allow_overlap else duration / n_events
        longest = min(self.max_event, room)
        if longest < self.min_event:
            raise ValueError(
                f"{n_events} events of at least {self.min_event} s do not fit "
                f"in {duration} s without overlap"
            )
        picks = rng.choice(len(self.classes), n_events, replace=False)
        labels = [self.classes[i] for i in picks]
        lengths = [
            _num_samples(rng.uniform(self.min_event, longest), sr) for _ in labels
        ]
        # Rounding can push the sum a sample or two over the clip.
        while not allow_overlap and sum(lengths) > n_total:
            lengths[int(np.argmax(lengths))] -= 1

        if allow_overlap:
            starts = [int(rng.integers(0, n_total - length + 1)) for length in lengths]
        else:
            free = n_total - sum(lengths)
            cuts = np.sort(rng.integers(0, free + 1, size=n_events))
            starts, used = [], 0
            for cut, length in zip(cuts, lengths):
                starts.append(int(cut) + used)
                used += length

        wav = np.zeros(n_total, dtype=np.float64)
        if self.noise_floor_db is not None:
            wav += self._noise_floor(rng, n_total)
        events = []
        for label, start, length in zip(labels, starts, lengths):
            wav[start : start + length] += EVENT_CLASSES[label](rng, length / sr, sr)
            events.append(
                {
                    "label": label,
                    "onset": start / sr,
                    "offset": (start + length) / sr,
                }
            )
        peak = np.max(np.abs(wav))
        if peak > 1.0:  # only reachable with overlapping events
            wav /= peak
        events.sort(key=lambda e: (e["onset"], e["offset"]))
        return wav.astype(np.float32), events

    def _noise_floor(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Pink (1/f) noise at ``noise_floor_db`` dBFS RMS.

        A random excerpt (start and sign) of a fixed 32 s bank: random enough
        for a background, and it spares an FFT per clip.
        """
        bank = _pink_noise_bank(self.sample_rate)
        if n > bank.shape[0] // 2:
            x = _pink_noise(rng, n, self.sample_rate)
        else:
            start = int(rng.integers(0, bank.shape[0] - n + 1))
            x = bank[start : start + n] * rng.choice((-1.0, 1.0))
        rms = np.sqrt(np.mean(x**2))
        return x * (10.0 ** (self.noise_floor_db / 20.0) / max(rms, 1e-12))


def _pink_noise(rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """Pink (1/f power) noise, drawn directly as a Gaussian spectrum."""
    n_bins = n // 2 + 1
    spectrum = rng.standard_normal((2, n_bins))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    gain = 1.0 / np.sqrt(np.maximum(freqs, 20.0))
    return np.fft.irfft((spectrum[0] + 1j * spectrum[1]) * gain, n)


_PINK_BANKS: Dict[int, np.ndarray] = {}


def _pink_noise_bank(sample_rate: int) -> np.ndarray:
    """32 s of pink noise per sample rate, from a fixed seed (deterministic)."""
    if sample_rate not in _PINK_BANKS:
        rng = np.random.default_rng([20260, sample_rate])
        _PINK_BANKS[sample_rate] = _pink_noise(rng, 32 * sample_rate, sample_rate)
    return _PINK_BANKS[sample_rate]


# ---------------------------------------------------------------------------
# Dataset preparation
# ---------------------------------------------------------------------------
def _clip_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """An independent, reproducible stream per (seed, split, clip)."""
    split_key = zlib.crc32(split.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([seed, split_key, index]))


def prepare_synthetic(
    data_folder: Union[str, os.PathLike],
    splits: Optional[Mapping[str, int]] = None,
    sample_rate: int = 16000,
    clip_duration: float = 2.5,
    n_events: Tuple[int, int] = (1, 3),
    seed: int = 1234,
    classes: Optional[Sequence[str]] = None,
    audio_format: str = "flac",
    min_event: float = 0.3,
    max_event: float = 1.0,
    noise_floor_db: Optional[float] = -40.0,
    allow_overlap: bool = False,
    num_workers: Optional[int] = None,
) -> Dict[str, str]:
    """Generates the synthetic sound-event dataset: audio plus JSON manifests.

    Writes ``<data_folder>/audio/<split>/<split>_<index>.<format>`` (16-bit
    PCM) and ``<data_folder>/<split>.json`` manifests ``{id: {"wav"
    (absolute), "duration", "events", "labels" (in time order), "caption"
    (default ordered)}}``. Each clip is seeded by (seed, split, index): the
    output is byte-identical for the same arguments. A fingerprint file makes
    a repeated call a no-op and changed arguments regenerate; concurrent
    callers take turns on a folder lock. Clips are staged in a temporary
    folder and moved in at the end, the fingerprint last; workers end with
    the process that started them, even when it is killed.

    Arguments
    ---------
    data_folder : str or os.PathLike
        Output folder (created).
    splits : mapping, optional
        ``{split: number of clips}``; default
        ``{"train": 2000, "valid": 200, "test": 400}``.
    sample_rate : int
        Sample rate in Hz.
    clip_duration : float
        Clip length in seconds.
    n_events : tuple of int
        Inclusive range of events per clip.
    seed : int
        Master seed.
    classes : sequence of str, optional
        Event classes (all of :data:`EVENT_CLASSES` by default).
    audio_format : str
        ``"flac"`` or ``"wav"``.
    min_event : float
        Shortest event in seconds.
    max_event : float
        Longest event in seconds.
    noise_floor_db : float, optional
        Background noise RMS in dBFS (None: none).
    allow_overlap : bool
        Let events overlap (then the caption's order is by onset).
    num_workers : int, optional
        Processes (default: CPU count, at most 8); the output does not depend
        on it.

    Returns
    -------
    dict
        ``{split: manifest path}``.

    Example
    -------
    >>> folder = getfixture("tmpdir") / "synth"
    >>> paths = prepare_synthetic(folder, splits={"train": 3, "test": 2})
    >>> sorted(paths)
    ['test', 'train']
    >>> from speechbrain_tclap.data.manifest import load_manifest
    >>> rows = load_manifest(paths["train"])
    >>> row = rows["train_00000"]
    >>> row["duration"], len(row["events"]) == len(row["labels"])
    (2.5, True)
    >>> prepare_synthetic(folder, splits={"train": 3, "test": 2}) == paths
    True
    """
    # Imported here to keep the synthesis usable without the manifest module.
    from speechbrain_tclap.data.manifest import manifest_paths

    if splits is None:
        splits = {"train": 2000, "valid": 200, "test": 400}
    splits = {str(split): int(count) for split, count in splits.items()}
    audio_format = audio_format.lower()
    if audio_format not in ("flac", "wav"):
        raise ValueError(f"audio_format must be 'flac' or 'wav', got {audio_format!r}")
    lo, hi = int(n_events[0]), int(n_events[1])
    if not 1 <= lo <= hi:
        raise ValueError(f"n_events must be a range 1 <= low <= high, got {n_events}")
    data_folder = os.path.abspath(os.fspath(data_folder))
    config = {
        "generator_version": GENERATOR_VERSION,
        "splits": splits,
        "sample_rate": int(sample_rate),
        "clip_duration": float(clip_duration),
        "n_events": [lo, hi],
        "seed": int(seed),
        "classes": classes,
        "audio_format": audio_format,
        "min_event": float(min_event),
        "max_event": float(max_event),
        "noise_floor_db": None if noise_floor_db is None else float(noise_floor_db),
        "allow_overlap": bool(allow_overlap),
        "data_folder": data_folder,
    }
    # The generator checks classes and event lengths before any work and
    # resolves the default class list.
    config["classes"] = _generator(config).classes
    manifests = manifest_paths(data_folder, splits)
    with folder_lock(data_folder, "generating synthetic data"):
        _generate_locked(config, manifests, num_workers)
    return manifests


def _generate_locked(
    config: dict, manifests: Dict[str, str], num_workers: Optional[int]
) -> None:
    """Generate the data of ``config`` unless it is there (the folder's lock held)."""
    from speechbrain_tclap.data.manifest import write_manifest

    data_folder, splits = config["data_folder"], config["splits"]
    fingerprint_path = os.path.join(data_folder, FINGERPRINT_FILE)
    previous = _read_fingerprint(fingerprint_path)
    if previous is not None and previous.get("config") == config:
        if all(os.path.isfile(p) for p in manifests.values()):
            logger.info("Synthetic data in %s is up to date; skipping.", data_folder)
            return
    for name in os.listdir(data_folder):  # left by a killed generation
        if name.startswith(_STAGING_PREFIX):
            shutil.rmtree(os.path.join(data_folder, name), ignore_errors=True)
    staging = tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=data_folder)
    if num_workers is None:
        num_workers = min(os.cpu_count() or 1, 8)
    jobs = []
    for split, count in splits.items():
        os.makedirs(os.path.join(staging, "audio", split))
        for first in range(0, int(count), _CHUNK):
            indices = range(first, min(first + _CHUNK, int(count)))
            jobs.append((config, str(split), indices, staging))
    logger.info(
        "Generating %d synthetic clips in %s (%d workers).",
        sum(splits.values()),
        data_folder,
        num_workers,
    )
    if num_workers > 1 and len(jobs) > 1 and sum(splits.values()) > _CHUNK:
        # Every clip has its own seed, so the output does not depend on how the
        # work is shared out. Fork (where available) avoids re-importing torch.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(
            num_workers,
            mp_context=context,
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            results = list(pool.map(_generate_chunk, jobs))
    else:
        results = [_generate_chunk(job) for job in jobs]

    rows_per_split: Dict[str, Dict[str, dict]] = {split: {} for split in splits}
    for (_, split, _, _), chunk_rows in zip(jobs, results):
        rows_per_split[split].update(chunk_rows)
    # Replace what an earlier generation wrote, and only that (our manifests
    # and clip files, never other files); the fingerprint last.
    if previous is not None:
        os.remove(fingerprint_path)
    for split in set(splits) | set(
        (previous or {}).get("config", {}).get("splits", {})
    ):
        _remove_generated(data_folder, split)
    for split in splits:
        final_dir = os.path.join(data_folder, "audio", split)
        os.makedirs(final_dir, exist_ok=True)
        staged_dir = os.path.join(staging, "audio", split)
        for name in os.listdir(staged_dir):
            os.replace(os.path.join(staged_dir, name), os.path.join(final_dir, name))
        write_manifest(rows_per_split[split], os.path.join(staging, f"{split}.json"))
        os.replace(os.path.join(staging, f"{split}.json"), manifests[split])
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    with open(fingerprint_path, "w", encoding="utf-8") as f:
        json.dump({"config": config, "sha256": digest}, f, indent=2)
        f.write("\n")
    shutil.rmtree(staging)


#: Name prefix of the temporary folder a generation writes into.
_STAGING_PREFIX = ".generating-"


def _exit_with_parent(parent_pid: int) -> None:
    """Worker initialiser: end this worker once ``parent_pid`` has ended
    (even by SIGKILL, which skips the pool's own shutdown)."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


# Clips per parallel job: large enough to amortise the inter-process traffic.
_CHUNK = 100


def _generate_chunk(job: tuple) -> Dict[str, dict]:
    """Writes the clips ``indices`` of ``(config, split, indices, staging)`` under
    ``<staging>/audio/<split>/``; returns their rows (naming the final folder)."""
    config, split, indices, staging = job
    split_dir = os.path.join(staging, "audio", split)
    final_dir = os.path.join(config["data_folder"], "audio", split)
    generator = _generator(config)
    low, high = config["n_events"]
    audio_format = config["audio_format"]
    rows = {}
    for index in indices:
        rng = _clip_rng(config["seed"], split, index)
        n_events = int(rng.integers(low, high + 1))
        wav, events = generator.make_clip(
            config["clip_duration"],
            n_events=n_events,
            rng=rng,
            allow_overlap=config["allow_overlap"],
        )
        clip_id = f"{split}_{index:05d}"
        file_name = f"{clip_id}.{audio_format}"
        sf.write(
            os.path.join(split_dir, file_name),
            wav,
            config["sample_rate"],
            format=audio_format.upper(),
            subtype="PCM_16",
        )
        rows[clip_id] = {
            "wav": os.path.join(final_dir, file_name),
            "duration": config["clip_duration"],
            "events": events,
            "labels": [e["label"] for e in events],
            "caption": caption_for_events(events, style="ordered"),
        }
    return rows


def _generator(config: dict) -> SoundEventGenerator:
    """The clip generator of a :func:`prepare_synthetic` config."""
    keys = ("sample_rate", "classes", "min_event", "max_event", "noise_floor_db")
    return SoundEventGenerator(**{key: config[key] for key in keys})


def _remove_generated(data_folder: str, split: str) -> None:
    """Deletes the manifest and clip files this module wrote for ``split``."""
    manifest = os.path.join(data_folder, f"{split}.json")
    if os.path.isfile(manifest):
        os.remove(manifest)
    split_dir = os.path.join(data_folder, "audio", split)
    if not os.path.isdir(split_dir):
        return
    clip_name = re.compile(rf"{re.escape(split)}_\d{{5,}}\.(flac|wav)")
    for name in os.listdir(split_dir):
        if clip_name.fullmatch(name):
            os.remove(os.path.join(split_dir, name))
    if not os.listdir(split_dir):
        os.rmdir(split_dir)


def _read_fingerprint(path: str) -> Optional[dict]:
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
