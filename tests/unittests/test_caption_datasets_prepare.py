"""Tests of the AudioCaps and Clotho preparations on tiny fake layouts."""

import logging
import os
import unicodedata

import numpy as np
import pytest
import soundfile as sf

from speechbrain_tclap.data.caption_datasets import AudioIndex, read_caption_csv
from speechbrain_tclap.data.manifest import ManifestError, load_manifest
from speechbrain_tclap.data.prepare import audiocaps, clotho

HEADER = "audiocap_id,youtube_id,start_time,caption\n"


def _wav(path, seconds, rate=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(str(path), np.zeros(int(seconds * rate), "float32"), rate)


@pytest.fixture
def audiocaps_root(tmp_path):
    root = tmp_path / "audiocaps"
    (root / "dataset").mkdir(parents=True)
    (root / "dataset" / "train.csv").write_text(
        HEADER
        + "1,aaa,30,a dog barks followed by a car passes\n"
        + "2,bbb,0,rain falls\n"
        + '3,-cc_D,10,"a man speaks, then a door closes"\n'
        + "4,missing1,20,this clip has no audio\n",
        encoding="utf-8",
    )
    (root / "dataset" / "val.csv").write_text(
        HEADER + "5,vvv,40,a bell rings\n", encoding="utf-8"
    )
    test_rows = [f"{10 + i},ttt,50,caption number {i}\n" for i in range(5)]
    test_rows += [f"{20 + i},ttt2,0,other clip caption {i}\n" for i in range(5)]
    (root / "dataset" / "test.csv").write_text(
        HEADER + "".join(test_rows), encoding="utf-8"
    )
    audio = root / "audio"
    _wav(audio / "train" / "Yaaa.wav", 0.5)  # Y<id>
    _wav(audio / "bbb.flac", 0.25)  # bare id, flat folder, flac
    _wav(audio / "train" / "Y-cc_D_10.000_20.000.wav", 0.125)  # AudioSet style
    _wav(audio / "val" / "vvv_40.wav", 0.2)  # <id>_<start>
    _wav(audio / "test" / "ttt.wav", 0.3)
    _wav(audio / "test" / "21.wav", 0.4)  # named by an audiocap id
    _wav(audio / "train" / "ttt.wav", 0.9)  # same name in another split folder
    return root


def test_audiocaps_manifests(audiocaps_root, tmp_path, caplog):
    save = tmp_path / "prepared"
    with caplog.at_level(logging.WARNING):
        paths = audiocaps.prepare_audiocaps(audiocaps_root, save)
    assert sorted(paths) == ["test", "train", "val"]
    assert (
        "1 of 4 clips have no audio" in caplog.text
        and "missing1@20" in caplog.text
    )

    train = load_manifest(paths["train"])
    assert list(train) == ["aaa_30", "bbb_0", "-cc_D_10"]
    assert train["aaa_30"]["wav"] == str(
        audiocaps_root / "audio" / "train" / "Yaaa.wav"
    )
    assert train["aaa_30"]["captions"] == [
        "a dog barks followed by a car passes"
    ]
    assert train["aaa_30"]["caption"] == "a dog barks followed by a car passes"
    assert train["bbb_0"]["duration"] == 0.25 and train["bbb_0"][
        "wav"
    ].endswith("bbb.flac")
    assert train["-cc_D_10"]["captions"] == ["a man speaks, then a door closes"]
    assert train["-cc_D_10"]["audiocap_ids"] == ["3"]

    test = load_manifest(paths["test"])
    assert test["ttt_50"]["captions"] == [
        f"caption number {i}" for i in range(5)
    ]
    assert test["ttt_50"]["wav"].endswith(
        os.path.join("test", "ttt.wav")
    )  # split folder wins
    assert test["ttt_50"]["duration"] == 0.3
    assert (
        test["ttt2_0"]["wav"].endswith("21.wav")
        and len(test["ttt2_0"]["captions"]) == 5
    )
    assert load_manifest(paths["val"])["vvv_40"]["start_time"] == 40.0


def test_audiocaps_is_idempotent_and_notices_new_audio(
    audiocaps_root, tmp_path, caplog
):
    save = tmp_path / "prepared"
    paths = audiocaps.prepare_audiocaps(audiocaps_root, save, splits=["train"])
    stamp = os.stat(paths["train"]).st_mtime_ns
    content = open(paths["train"], encoding="utf-8").read()
    with caplog.at_level(logging.INFO):
        assert (
            audiocaps.prepare_audiocaps(audiocaps_root, save, splits=["train"])
            == paths
        )
    assert "up to date" in caplog.text
    assert os.stat(paths["train"]).st_mtime_ns == stamp

    _wav(audiocaps_root / "audio" / "Ymissing1.wav", 0.1)
    audiocaps.prepare_audiocaps(audiocaps_root, save, splits=["train"])
    assert "missing1_20" in load_manifest(paths["train"])
    os.remove(audiocaps_root / "audio" / "Ymissing1.wav")
    audiocaps.prepare_audiocaps(audiocaps_root, save, splits=["train"])
    assert open(paths["train"], encoding="utf-8").read() == content

    skipped = audiocaps.prepare_audiocaps(
        tmp_path / "nowhere", tmp_path / "x", skip_prep=True
    )
    assert skipped["test"] == str(tmp_path / "x" / "test.json")
    assert not os.path.exists(tmp_path / "x")


def test_audiocaps_skips_ambiguous_unreadable_and_wrong_rate(tmp_path, caplog):
    root = tmp_path / "ac"
    root.mkdir()
    (root / "train.csv").write_text(
        HEADER
        + "1,dup,0,first part\n2,dup,30,second part\n3,bad,0,corrupt file\n"
        "4,hi,0,other rate\n5,ok,0,fine\n",
        encoding="utf-8",
    )
    _wav(root / "audio" / "dup.wav", 0.1)  # which start time? unknown
    (root / "audio" / "bad.wav").write_bytes(b"RIFF garbage")
    _wav(root / "audio" / "hi.wav", 0.1, rate=8000)
    _wav(root / "audio" / "ok.wav", 0.1)
    with caplog.at_level(logging.WARNING):
        paths = audiocaps.prepare_audiocaps(
            root, tmp_path / "p", splits=["train"], sample_rate=16000
        )
    assert list(load_manifest(paths["train"])) == ["ok_0"]
    assert "unreadable 1, wrong sample rate 1, ambiguous file 2" in caplog.text

    (root / "train.csv").write_text(
        HEADER + "9,nothing,0,no audio\n", encoding="utf-8"
    )
    with pytest.raises(ValueError, match="none of the 1 clips"):
        audiocaps.prepare_audiocaps(root, tmp_path / "p", splits=["train"])


@pytest.mark.parametrize(
    "body, where, problem",
    [
        (
            "1,aaa,30,a dog,extra\n",
            "line 2",
            "5 cells, the header has 4 columns",
        ),
        ("1,aaa,30,ok\n2,bbb\n", "line 3", "2 cells, the header has 4 columns"),
        (
            "1,aaa,thirty,a dog\n",
            "line 2",
            "start_time is not a number: 'thirty'",
        ),
        ("1,aaa,30,ok\n\n2,bbb,0,   \n", "line 4", "empty value for 'caption'"),
        ('1,aaa,30,"unterminated\n', "line 2", "malformed CSV"),
    ],
)
def test_audiocaps_malformed_csv_names_file_and_line(
    tmp_path, body, where, problem
):
    root = tmp_path / "ac"
    root.mkdir()
    (root / "train.csv").write_text(HEADER + body, encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        audiocaps.prepare_audiocaps(root, tmp_path / "p", splits=["train"])
    assert info.value.path == str(root / "train.csv")
    assert info.value.row == where and problem in info.value.problem
    assert str(info.value).startswith(f"{root / 'train.csv'}, {where}: ")


def test_audiocaps_missing_csv_and_column(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset/val.csv"):
        audiocaps.prepare_audiocaps(tmp_path, tmp_path / "p", splits=["val"])
    (tmp_path / "val.csv").write_text(
        "audiocap_id,youtube_id,caption\n1,a,x\n", encoding="utf-8"
    )
    with pytest.raises(
        ManifestError,
        match=r"val.csv, line 1: missing column\(s\) \['start_time'\]",
    ):
        audiocaps.prepare_audiocaps(tmp_path, tmp_path / "p", splits=["val"])


CLOTHO_HEADER = "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"


def _clotho_row(name, stem):
    return f'{name},"{stem}: a dog barks, then a car passes.",{stem} two,{stem} three,{stem} four,{stem} five\n'


@pytest.fixture
def clotho_root(tmp_path):
    root = tmp_path / "clotho"
    root.mkdir()
    nfd_name = unicodedata.normalize("NFD", "Café ambience.wav")
    (root / "clotho_captions_development.csv").write_text(
        CLOTHO_HEADER
        + _clotho_row("rain.wav", "rain")
        + _clotho_row("wind 01.wav", "wind")
        + _clotho_row("gone.wav", "gone")
        + _clotho_row(
            unicodedata.normalize("NFC", "Café ambience.wav"), "cafe"
        ),
        encoding="utf-8",
    )
    (root / "clotho_captions_validation.csv").write_text(
        CLOTHO_HEADER + _clotho_row("bell.wav", "bell"), encoding="utf-8"
    )
    (root / "clotho_captions_evaluation.csv").write_text(
        "\ufeff" + CLOTHO_HEADER + _clotho_row("street.wav", "street"),
        encoding="utf-8",
    )
    _wav(root / "development" / "rain.wav", 0.5, 44100)
    _wav(root / "development" / "wind 01.wav", 0.25, 44100)
    _wav(root / "development" / nfd_name, 0.1, 44100)
    _wav(root / "validation" / "bell.wav", 0.2, 44100)
    _wav(root / "evaluation" / "street.wav", 0.3, 44100)
    _wav(
        root / "evaluation" / "rain.wav", 0.7, 44100
    )  # not in the evaluation CSV
    return root


def test_clotho_manifests(clotho_root, tmp_path, caplog):
    save = tmp_path / "prepared"
    with caplog.at_level(logging.WARNING):
        paths = clotho.prepare_clotho(clotho_root, save, sample_rate=44100)
    assert sorted(paths) == ["development", "evaluation", "validation"]
    assert (
        "1 of 4 clips have no audio" in caplog.text
        and "gone.wav" in caplog.text
    )

    dev = load_manifest(paths["development"])
    assert list(dev) == ["rain", "wind 01", "Café ambience"]
    assert dev["rain"]["captions"] == [
        "rain: a dog barks, then a car passes.",
        "rain two",
        "rain three",
        "rain four",
        "rain five",
    ]
    assert dev["rain"]["caption"] == dev["rain"]["captions"][0]
    assert dev["rain"]["duration"] == 0.5
    assert dev["rain"]["wav"] == str(clotho_root / "development" / "rain.wav")
    assert dev["wind 01"]["file_name"] == "wind 01.wav"
    assert os.path.isfile(dev["Café ambience"]["wav"])  # NFC name, NFD file
    evaluation = load_manifest(
        paths["evaluation"]
    )  # BOM in the header is ignored
    assert (
        list(evaluation) == ["street"]
        and evaluation["street"]["duration"] == 0.3
    )

    stamp = os.stat(paths["validation"]).st_mtime_ns
    with caplog.at_level(logging.INFO):
        clotho.prepare_clotho(clotho_root, save, sample_rate=44100)
    assert "up to date" in caplog.text
    assert os.stat(paths["validation"]).st_mtime_ns == stamp

    # audio in another folder; clips at another rate are skipped
    _wav(clotho_root / "val_audio" / "bell.wav", 0.2, 44100)
    other = tmp_path / "other"
    paths = clotho.prepare_clotho(
        clotho_root,
        other,
        splits=["validation"],
        audio_subdirs={"validation": "val_audio"},
    )
    assert load_manifest(paths["validation"])["bell"]["wav"].endswith(
        os.path.join("val_audio", "bell.wav")
    )
    with caplog.at_level(logging.WARNING):
        with pytest.raises(ValueError, match="none of the 1 clips"):
            clotho.prepare_clotho(
                clotho_root,
                other,
                splits=["validation"],
                audio_subdirs={"validation": "val_audio"},
                sample_rate=16000,
            )
    assert "44100 Hz, expected 16000 Hz" in caplog.text


@pytest.mark.parametrize(
    "body, where, problem",
    [
        ("a.wav,x,y,z,w\n", "line 2", "5 cells, the header has 6 columns"),
        (
            "a.wav,x,y,z,w,v\na.wav,x,y,z,w,v\n",
            "line 3",
            "file_name 'a.wav' repeated (first at line 2)",
        ),
        ("a.wav,x,y,,w,v\n", "line 2", "empty value for 'caption_3'"),
        ('a.wav,x,y,z,w,"v\n', "line 2", "malformed CSV"),
    ],
)
def test_clotho_malformed_csv_names_file_and_line(
    tmp_path, body, where, problem
):
    (tmp_path / "clotho_captions_validation.csv").write_text(
        CLOTHO_HEADER + body, encoding="utf-8"
    )
    with pytest.raises(ManifestError) as info:
        clotho.prepare_clotho(tmp_path, tmp_path / "p", splits=["validation"])
    assert info.value.path.endswith("clotho_captions_validation.csv")
    assert info.value.row == where and problem in info.value.problem


def test_clotho_missing_csv(tmp_path):
    with pytest.raises(
        ManifestError, match="clotho_captions_evaluation.csv: .* not found"
    ):
        clotho.prepare_clotho(tmp_path, tmp_path / "p", splits=["evaluation"])


def test_read_caption_csv_and_audio_index(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"a,b\n\xff\xfe,x\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        read_caption_csv(path, ["a"])
    path.write_text("", encoding="utf-8")
    with pytest.raises(ManifestError, match="empty file"):
        read_caption_csv(path, ["a"])
    _wav(tmp_path / "audio" / "x" / "clip.wav", 0.1)
    _wav(tmp_path / "audio" / "y" / "clip.flac", 0.1)
    (tmp_path / "audio" / "notes.txt").write_text("not audio")
    index = AudioIndex(tmp_path / "audio")
    assert len(index) == 2
    assert index.find(["clip"]).endswith(os.path.join("x", "clip.wav"))
    assert index.find(["clip"], prefer="y").endswith(
        os.path.join("y", "clip.flac")
    )
    assert index.find(["notes"]) is None and index.find(["clip.flac"]).endswith(
        "clip.flac"
    )
    assert AudioIndex(tmp_path / "nowhere").find(["clip"]) is None
