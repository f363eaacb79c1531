"""Tests for audio reading, crop/pad and manifests (speechbrain_tclap.data).

Authors
 * speechbrain-tclap developers 2026
"""

import json
import pathlib

import numpy as np
import pytest
import soundfile as sf
import torch

from speechbrain_tclap.data.audio import (
    AudioReadError,
    crop_or_pad,
    read_audio,
    resample_audio,
)
from speechbrain_tclap.data.manifest import (
    ManifestError,
    load_manifest,
    write_manifest,
)

ESC10 = (
    pathlib.Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "esc10"
)


# ---------------------------------------------------------------------------
# read_audio
# ---------------------------------------------------------------------------
def _tone(n=1600, sr=16000, amp=0.5):
    return (amp * np.sin(2 * np.pi * 440 * np.arange(n) / sr)).astype(
        np.float32
    )


def test_read_audio_int16_is_scaled_float(tmp_path):
    path = tmp_path / "int16.wav"
    sf.write(path, _tone(), 16000, subtype="PCM_16")
    wav = read_audio(path, sample_rate=16000)
    assert wav.dtype == torch.float32 and wav.shape == (1600,)
    assert wav.abs().max() <= 1.0
    # 16-bit quantisation error only.
    assert np.allclose(wav.numpy(), _tone(), atol=1e-4)


def test_read_audio_int32_and_float_formats(tmp_path):
    for subtype in ("PCM_24", "PCM_32", "FLOAT"):
        path = tmp_path / f"{subtype}.wav"
        sf.write(path, _tone(), 16000, subtype=subtype)
        wav = read_audio(path)
        assert np.allclose(wav.numpy(), _tone(), atol=1e-5), subtype


def test_read_audio_stereo_to_mono(tmp_path):
    path = tmp_path / "stereo.flac"
    left, right = _tone(amp=0.4), np.zeros(1600, dtype=np.float32)
    sf.write(path, np.stack([left, right], 1), 16000, subtype="PCM_16")
    mono = read_audio(path)
    assert mono.shape == (1600,)
    assert np.allclose(mono.numpy(), left / 2, atol=1e-4)
    both = read_audio(path, mono=False)
    assert both.shape == (2, 1600)


def test_read_audio_resample(tmp_path):
    path = tmp_path / "8k.wav"
    sf.write(path, _tone(800, 8000), 8000)
    wav = read_audio(path, sample_rate=16000, resample=True)
    assert wav.shape == (1600,) and wav.dtype == torch.float32
    # Same tone after resampling: its spectral peak stays at 440 Hz.
    spectrum = np.abs(np.fft.rfft(wav.numpy()))
    assert abs(np.argmax(spectrum) * 16000 / 1600 - 440) <= 10


@pytest.mark.parametrize("rates", [(48000, 16000), (44100, 48000), (22050, 16000), (16000, 48000)])
def test_resample_matches_torchaudio_in_float64(rates):
    """The cached polyphase matmul is torchaudio's default filter (its float64
    path; torchaudio's float32 kernels are off by up to 1e-4 for 147:160)."""
    import torchaudio.functional as AF

    generator = torch.Generator().manual_seed(0)
    for length in (1, 5, 47, 1001, 16001):
        wav = torch.randn(2, length, generator=generator)
        expected = AF.resample(wav.double(), *rates)
        got = resample_audio(wav, *rates)
        assert got.shape == expected.shape and got.dtype == torch.float32
        assert torch.allclose(got.double(), expected, atol=1e-5), (rates, length)


@pytest.mark.parametrize("rates", [(48000, 16000), (44100, 48000), (22050, 16000), (16000, 16000)])
def test_a_resampled_window_equals_the_window_of_the_resampled_clip(rates):
    generator = torch.Generator().manual_seed(1)
    wav = torch.randn(2, 30011, generator=generator)
    whole = resample_audio(wav, *rates)
    for start, count in ((0, 7), (5, 1000), (4321, 5000), (whole.shape[-1] - 9, 9), (100, 10**6)):
        window = resample_audio(wav, *rates, start=start, count=count)
        # the same products; a 1-block window is a matrix-vector product
        # (another summation order), hence float rounding rather than equality
        assert torch.allclose(window, whole[..., start : start + count], atol=1e-6), (rates, start)


def test_reading_only_the_crop_gives_the_cropped_clip(tmp_path):
    path = tmp_path / "long.flac"
    sf.write(path, 0.3 * np.random.default_rng(0).standard_normal(44100), 44100)
    whole = read_audio(path, 16000, resample=True)
    cropped = read_audio(path, 16000, resample=True, window=lambda n: (n - 6000, 5000))
    assert torch.allclose(cropped, whole[-6000:-1000], atol=1e-6)


def _expect_read_error(path, fragment, **kwargs):
    with pytest.raises(AudioReadError) as info:
        read_audio(path, **kwargs)
    message = str(info.value)
    assert pathlib.Path(path).name in message, message
    assert fragment in message, message
    return info.value


def test_read_audio_errors_name_file_and_problem(tmp_path):
    _expect_read_error(tmp_path / "missing.wav", "not found")

    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    _expect_read_error(empty, "empty file")

    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"this is not audio at all" * 20)
    _expect_read_error(corrupt, "cannot decode")

    zero = tmp_path / "zero_length.wav"
    sf.write(zero, np.zeros(0, dtype=np.float32), 16000)
    _expect_read_error(zero, "zero-length")

    bad = _tone()
    bad[10], bad[20] = np.nan, np.inf
    nonfinite = tmp_path / "nonfinite.wav"
    sf.write(nonfinite, bad, 16000, subtype="FLOAT")
    err = _expect_read_error(nonfinite, "NaN/Inf")
    assert "sample 10" in err.problem

    rate = tmp_path / "rate.wav"
    sf.write(rate, _tone(), 16000)
    _expect_read_error(rate, "expected 48000 Hz", sample_rate=48000)

    _expect_read_error(tmp_path, "directory")
    assert issubclass(AudioReadError, ValueError)


# ---------------------------------------------------------------------------
# crop_or_pad
# ---------------------------------------------------------------------------
def test_crop_modes():
    wav = torch.arange(10, dtype=torch.float32)
    out, valid = crop_or_pad(wav, 4, crop="left")
    assert out.tolist() == [0, 1, 2, 3] and valid == 4
    out, _ = crop_or_pad(wav, 4, crop="center")
    assert out.tolist() == [3, 4, 5, 6]
    same, valid = crop_or_pad(wav, 10)
    assert torch.equal(same, wav) and valid == 10


def test_crop_loudest_finds_the_burst():
    wav = 0.01 * torch.ones(16000)
    wav[9000:9400] = 1.0
    out, valid = crop_or_pad(wav, 400, crop="loudest")
    assert valid == 400 and bool((out == 1.0).all())
    # Multichannel: the energy is summed over channels.
    stereo = torch.stack([wav, torch.zeros(16000)])
    out2, _ = crop_or_pad(stereo, 400, crop="loudest")
    assert out2.shape == (2, 400) and bool((out2[0] == 1.0).all())
    # Ties: the earliest window, so the result is deterministic.
    out3, _ = crop_or_pad(torch.zeros(50), 10, crop="loudest")
    assert out3.shape == (10,)


def test_crop_random_uses_generator():
    wav = torch.arange(1000, dtype=torch.float32)

    def seeded(seed):
        return torch.Generator().manual_seed(seed)

    a = crop_or_pad(wav, 10, crop="random", generator=seeded(3))[0]
    b = crop_or_pad(wav, 10, crop="random", generator=seeded(3))[0]
    assert torch.equal(a, b)
    assert torch.equal(a, torch.arange(a[0], a[0] + 10, dtype=torch.float32))
    gen = seeded(0)
    starts = {
        int(crop_or_pad(wav, 10, crop="random", generator=gen)[0][0])
        for _ in range(20)
    }
    assert len(starts) > 10


def test_pad_modes():
    wav = torch.tensor([1.0, 2.0, 3.0])
    out, valid = crop_or_pad(wav, 7, pad="zero")
    assert out.tolist() == [1, 2, 3, 0, 0, 0, 0] and valid == 3
    out, valid = crop_or_pad(wav, 7, pad="repeat")
    assert out.tolist() == [1, 2, 3, 1, 2, 3, 0] and valid == 7
    out, _ = crop_or_pad(torch.ones(2, 3), 5, pad="repeat")
    assert out.shape == (2, 5)


def test_crop_or_pad_rejects_bad_arguments():
    with pytest.raises(ValueError, match="crop"):
        crop_or_pad(torch.ones(5), 3, crop="middle")
    with pytest.raises(ValueError, match="pad"):
        crop_or_pad(torch.ones(5), 8, pad="reflect")
    with pytest.raises(ValueError, match="empty"):
        crop_or_pad(torch.ones(0), 8)
    with pytest.raises(ValueError, match="positive"):
        crop_or_pad(torch.ones(5), 0)


# ---------------------------------------------------------------------------
# Manifests
# ---------------------------------------------------------------------------
def test_load_csv_with_id_column_json_fields_and_replacements(tmp_path):
    path = tmp_path / "m.csv"
    events = json.dumps([{"label": "bell", "onset": 0.1, "offset": 0.5}])
    write_manifest(
        {
            "a": {
                "wav": "$data_root/a.flac",
                "caption": "a bell",
                "duration": "1.5",
                "events": json.loads(events),
                "captions": ["a bell", "ding"],
            },
        },
        path,
    )
    rows = load_manifest(path, replacements={"data_root": "/data"})
    row = rows["a"]
    assert row["id"] == "a" and row["wav"] == "/data/a.flac"
    assert row["duration"] == 1.5 and row["events"][0]["label"] == "bell"
    assert row["captions"] == ["a bell", "ding"]

    lower = tmp_path / "lower.csv"
    lower.write_text("id,wav,caption\nx,${root}/x.wav,rain\n", encoding="utf-8")
    assert (
        load_manifest(lower, replacements={"root": "/r"})["x"]["wav"]
        == "/r/x.wav"
    )


def test_load_json_dict_and_list(tmp_path):
    as_dict = tmp_path / "d.json"
    as_dict.write_text(
        json.dumps(
            {
                "c1": {
                    "wav": "{root}/c1.flac",
                    "captions": ["dog barking", "a dog"],
                },
                "c2": {"wav": "{root}/c2.flac", "caption": "rain"},
            }
        ),
        encoding="utf-8",
    )
    rows = load_manifest(as_dict, replacements={"root": "/x"})
    assert list(rows) == ["c1", "c2"]
    assert rows["c1"]["caption"] == "dog barking"  # filled from captions
    assert rows["c2"]["wav"] == "/x/c2.flac" and rows["c2"]["id"] == "c2"

    as_list = tmp_path / "l.json"
    as_list.write_text(
        json.dumps([{"id": "z", "wav": "z.wav", "caption": "hiss"}]),
        encoding="utf-8",
    )
    assert load_manifest(as_list)["z"]["caption"] == "hiss"


def test_write_manifest_round_trip(tmp_path):
    rows = [
        {
            "id": "b",
            "wav": "b.flac",
            "caption": "bell",
            "duration": 2.5,
            "events": [{"label": "bell", "onset": 0.0, "offset": 1.0}],
            "labels": ["bell"],
        },
        {
            "id": "a",
            "wav": "a.flac",
            "caption": "hiss",
            "duration": 1.0,
            "events": [],
            "labels": [],
        },
    ]
    for name in ("m.json", "m.csv"):
        write_manifest(rows, tmp_path / name)
        loaded = load_manifest(tmp_path / name)
        assert list(loaded) == ["b", "a"]
        for row in rows:  # relative wav paths come back under the manifest's folder
            assert loaded[row["id"]] == {**row, "wav": str(tmp_path / row["wav"])}, name
    saved = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert "id" not in saved["b"]  # SpeechBrain layout: the id is the key


BAD_CSV = {
    "missing_column.csv": (
        "ID,wav\na,a.wav\n",
        None,
        "missing column 'caption'",
    ),
    "no_id.csv": ("wav,caption\na.wav,x\n", None, "missing id column"),
    "empty_caption.csv": (
        "ID,wav,caption\na,a.wav,ok\nb,b.wav,\n",
        "line 3",
        "caption",
    ),
    "blank_caption.csv": (
        'ID,wav,caption\na,a.wav,"   "\n',
        "line 2",
        "whitespace",
    ),
    "duplicate.csv": (
        "ID,wav,caption\na,a.wav,x\nb,b.wav,y\na,c.wav,z\n",
        "line 4",
        "duplicate id 'a' (first seen at line 2)",
    ),
    "missing_value.csv": (
        "ID,wav,caption\na,,x\n",
        "line 2",
        "missing value for 'wav'",
    ),
    "missing_id.csv": (
        "ID,wav,caption\n,a.wav,x\n",
        "line 2",
        "missing value for 'id'",
    ),
    "bad_events.csv": (
        "ID,wav,caption,events\na,a.wav,x,[{oops\n",
        "line 2",
        "'events' is not valid JSON",
    ),
    "bad_duration.csv": (
        "ID,wav,caption,duration\na,a.wav,x,long\n",
        "line 2",
        "duration",
    ),
    "placeholder.csv": (
        "ID,wav,caption\na,$data_root/a.wav,x\n",
        "line 2",
        "unresolved placeholder '$data_root'",
    ),
    "extra_cells.csv": (
        "ID,wav,caption\na,a.wav,x,y\n",
        "line 2",
        "more cells",
    ),
    "header_only.csv": ("ID,wav,caption\n", None, "no rows"),
    "empty.csv": ("", None, "empty file"),
}

BAD_JSON = {
    "missing_field.json": (
        {"a": {"wav": "a.wav"}},
        "row 'a'",
        "missing field 'caption'",
    ),
    "empty_caption.json": (
        {"a": {"wav": "a.wav", "caption": " \t"}},
        "row 'a'",
        "caption",
    ),
    "null_wav.json": (
        {"a": {"wav": None, "caption": "x"}},
        "row 'a'",
        "missing value for 'wav'",
    ),
    "empty_captions.json": (
        {"a": {"wav": "a.wav", "captions": ["x", ""]}},
        "row 'a'",
        "'captions'[1]",
    ),
    "list_missing_id.json": (
        [{"wav": "a.wav", "caption": "x"}],
        "row 0",
        "'id'",
    ),
    "list_duplicate.json": (
        [
            {"id": "a", "wav": "a", "caption": "x"},
            {"id": "a", "wav": "b", "caption": "y"},
        ],
        "row 1",
        "duplicate id",
    ),
    "row_not_object.json": ({"a": "a.wav"}, "row 'a'", "expected an object"),
    "top_level.json": ("just a string", None, "top level"),
    "empty_dict.json": ({}, None, "no rows"),
}


@pytest.mark.parametrize("name", sorted(BAD_CSV))
def test_bad_csv_errors_name_file_row_and_problem(tmp_path, name):
    text, row, fragment = BAD_CSV[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert name in message and fragment in message, message
    if row is not None:
        assert info.value.row.startswith(row) and row in message, message


@pytest.mark.parametrize("name", sorted(BAD_JSON))
def test_bad_json_errors_name_file_row_and_problem(tmp_path, name):
    content, row, fragment = BAD_JSON[name]
    path = tmp_path / name
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert name in message and fragment in message, message
    if row is not None:
        assert row in message, message


def test_other_manifest_file_errors(tmp_path):
    dup = tmp_path / "dup_keys.json"
    dup.write_text(
        '{"a": {"wav": "1", "caption": "x"}, "a": {"wav": "2", "caption": "y"}}',
        encoding="utf-8",
    )
    expected = r"dup_keys\.json, row 'a': duplicate id 'a'"
    with pytest.raises(ManifestError, match=expected):
        load_manifest(dup)
    invalid = tmp_path / "invalid.json"
    invalid.write_text("{not json", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"invalid\.json: not valid JSON"):
        load_manifest(invalid)
    with pytest.raises(ManifestError, match=r"absent\.csv: file not found"):
        load_manifest(tmp_path / "absent.csv")
    other = tmp_path / "rows.tsv"
    other.write_text("ID\twav\n", encoding="utf-8")
    with pytest.raises(
        ManifestError, match=r"rows\.tsv: unknown manifest format"
    ):
        load_manifest(other)
    # Only the requested fields are required.
    ok = tmp_path / "ok.csv"
    ok.write_text("ID,wav\na,a.wav\n", encoding="utf-8")
    assert load_manifest(ok, required=("id", "wav"))["a"]["wav"] == str(tmp_path / "a.wav")


# ---------------------------------------------------------------------------
# Real audio (skipped where the shared data is absent)
# ---------------------------------------------------------------------------
@pytest.mark.skipif(
    not ESC10.is_dir(), reason="shared ESC-10 data not available"
)
def test_read_real_esc10_clip():
    files = sorted((ESC10 / "audio").glob("*.flac"))
    assert files, "ESC-10 folder has no FLAC files"
    wav = read_audio(files[0], sample_rate=16000)
    assert wav.shape == (80000,) and wav.dtype == torch.float32
    assert bool(torch.isfinite(wav).all()) and 0 < float(wav.abs().max()) <= 1.0
    loud, valid = crop_or_pad(wav, 16000, crop="loudest")
    left, _ = crop_or_pad(wav, 16000, crop="left")
    assert valid == 16000 and float(loud.pow(2).sum()) >= float(
        left.pow(2).sum()
    )
    assert read_audio(files[0], sample_rate=8000, resample=True).shape == (
        40000,
    )
