"""Adversarial loading: stale savedirs, broken or malicious model folders, bad audio and captions.

Every case is a fault a careful user (or an attacker handing over a model
folder) can produce: a ``savedir`` reused for another model, a checkpoint
full of NaN, a pickle that runs code, a ``hyperparams.yaml`` that calls
``os.system``, a WAV cut in half, a float WAV at int16 scale, a file named
with braces, a caption that is not valid Unicode. Each must load the right
thing or fail with an error naming the culprit; nothing may run planted code.

The models are the recipes' tiny CLAP (``hparams/models/tiny_clap.yaml``)
with random weights, exported with
:func:`speechbrain_tclap.export.export_pretrained`.

Authors
 * speechbrain-tclap developers 2026
"""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file
from hyperpyyaml import load_hyperpyyaml

from speechbrain_tclap.data.audio import AudioReadError, read_audio
from speechbrain_tclap.data.manifest import ManifestError, load_manifest
from speechbrain_tclap.export import export_pretrained
from speechbrain_tclap.inference import CLAP
from speechbrain_tclap.recipe import prepare_tokenizer
from speechbrain_tclap.utils.checkpointing import read_checkpoint
from speechbrain_tclap.utils.safe_yaml import UnsafeYAMLError, check_yaml_safe

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "hparams" / "models" / "tiny_clap.yaml"
CAPTIONS = [f"a {a} {b}" for a in ("dog", "cat", "bell", "car") for b in ("barks", "rings")]
CPU = {"device": "cpu"}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Two tiny CLAPs with different random weights (one tokenizer), exported."""
    root = tmp_path_factory.mktemp("adversarial_exports")
    hparams_file = root / "hyperparams.yaml"
    hparams_file.write_text(f"model: !include:{TINY}\n")
    folders = {}
    for seed in (0, 1):
        torch.manual_seed(seed)
        with open(hparams_file) as f:
            model = load_hyperpyyaml(f)["model"]
        prepare_tokenizer(
            model["tokenizer"], CAPTIONS, str(root / "tok"), model["tokenizer_vocab_size"]
        )
        folders[seed] = Path(
            export_pretrained(str(hparams_file), model["loadables"], str(root / f"m{seed}"))
        )
    return folders


WEIGHTS = "clap.safetensors"  # what an export writes for the CLAP module


def _assert_holds(interface, checkpoint: Path):
    """The interface's CLAP holds exactly the weights of ``checkpoint``."""
    expected = read_checkpoint(str(checkpoint))
    torch.testing.assert_close(interface.mods.clap.state_dict(), expected, rtol=0, atol=0)


def _copy(folder: Path, tmp_path: Path) -> Path:
    dest = tmp_path / folder.name
    shutil.copytree(folder, dest)
    return dest


# ---------------------------------------------------------------------------
# A reused savedir never serves the previous model
# ---------------------------------------------------------------------------
def test_savedir_reused_for_another_source(exports, tmp_path):
    first, second = (read_checkpoint(str(f / WEIGHTS)) for f in exports.values())
    assert any(not torch.equal(first[k], second[k]) for k in first)
    for seed in (0, 1, 0):
        loaded = CLAP.from_hparams(source=str(exports[seed]), savedir=str(tmp_path), run_opts=CPU)
        _assert_holds(loaded, exports[seed] / WEIGHTS)


def test_savedir_reused_when_only_the_checkpoint_override_changes(exports, tmp_path):
    """The README's pattern: one hparams file, ``overrides={"checkpoint": ...}``."""
    (tmp_path / "tiny.yaml").write_text(
        f"checkpoint: !PLACEHOLDER\nmodel: !include:{TINY}\n"
        "sample_rate: !ref <model[sample_rate]>\nclap: !ref <model[clap]>\n"
        "modules:\n    clap: !ref <clap>\n"
        "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n"
        "    loadables:\n        clap: !ref <clap>\n        tokenizer: !ref <model[tokenizer]>\n"
        f"    paths:\n        clap: !ref <checkpoint>\n"
        f"        tokenizer: {exports[0] / 'tokenizer.ckpt'}\n"
        "    custom_hooks:\n"
        "        clap: !name:speechbrain_tclap.convert.pretrainer.load_any_checkpoint\n"
    )
    for seed in (0, 1):
        loaded = CLAP.from_hparams(
            source=str(tmp_path), hparams_file="tiny.yaml", savedir=str(tmp_path / "shared"),
            overrides={"checkpoint": str(exports[seed] / WEIGHTS)}, run_opts=CPU,
        )
        _assert_holds(loaded, exports[seed] / WEIGHTS)


def test_plain_pretrainer_loads_the_clap_module_strictly(exports, tmp_path):
    """A user's own ``Pretrainer`` (no custom hook) goes through ``CLAP``'s
    transfer hook: an export's safetensors loads exactly; a partial or foreign
    state dict is refused, never loaded non-strictly."""
    from speechbrain.utils.parameter_transfer import Pretrainer

    def load(checkpoint: Path, folder: str):
        torch.manual_seed(5)
        with open(TINY) as f:
            clap = load_hyperpyyaml(f)["clap"]
        pretrainer = Pretrainer(
            collect_in=str(tmp_path / folder), loadables={"clap": clap},
            paths={"clap": str(checkpoint)},
        )
        pretrainer.collect_files()
        pretrainer.load_collected()
        return clap

    state = read_checkpoint(str(exports[0] / WEIGHTS))
    torch.testing.assert_close(load(exports[0] / WEIGHTS, "ok").state_dict(), state, rtol=0, atol=0)
    partial = tmp_path / "partial.safetensors"
    save_file({k: v for k, v in state.items() if "text_projection" not in k}, str(partial))
    with pytest.raises(RuntimeError, match="Missing key.*text_projection"):
        load(partial, "partial")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"model.weight": torch.ones(2)}, str(foreign))
    with pytest.raises(ValueError, match="not a state dict of this CLAP module"):
        load(foreign, "foreign")


# ---------------------------------------------------------------------------
# Broken or malicious weights
# ---------------------------------------------------------------------------
def test_non_finite_weights_are_refused(exports, tmp_path):
    folder = _copy(exports[0], tmp_path)
    state = read_checkpoint(str(folder / WEIGHTS))
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name][0] = float("nan")
    save_file(state, str(folder / WEIGHTS))
    with pytest.raises(ValueError, match="not finite") as err:
        CLAP.from_hparams(source=str(folder), savedir=str(tmp_path / "s"), run_opts=CPU)
    assert WEIGHTS in str(err.value) and repr(name) in str(err.value)


@pytest.mark.parametrize("fault", ["truncated", "empty", "no_pretrainer"])
def test_broken_folder_errors_name_the_file(exports, tmp_path, fault):
    folder = _copy(exports[0], tmp_path)
    culprit = folder / ("hyperparams.yaml" if fault == "no_pretrainer" else WEIGHTS)
    whole = culprit.read_bytes()
    if fault == "no_pretrainer":
        culprit.write_text(whole.decode().split("pretrainer:")[0])
    else:
        culprit.write_bytes(whole[: len(whole) // 2] if fault == "truncated" else b"")
    with pytest.raises(ValueError) as err:
        CLAP.from_hparams(source=str(folder), savedir=str(tmp_path / "s"), run_opts=CPU)
    assert culprit.name in str(err.value)


class _Planted:
    """A pickle that touches a file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.mark.parametrize("loadable", ["clap", "extra"])
def test_planted_pickle_does_not_run(exports, tmp_path, monkeypatch, loadable):
    """Weights-only loading whatever the environment says (also SpeechBrain's default hook)."""
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    folder = _copy(exports[0], tmp_path)
    if loadable == "clap":  # a hostile folder names a pickle instead of safetensors
        text = (folder / "hyperparams.yaml").read_text().replace(WEIGHTS, "clap.ckpt")
        (folder / "hyperparams.yaml").write_text(text)
    if loadable == "extra":  # a plain module, loaded through SpeechBrain's default hook
        text = (folder / "hyperparams.yaml").read_text()
        text = text.replace("modules:\n", "extra: !new:torch.nn.Linear [2, 2]\n\nmodules:\n")
        text = text.replace("    loadables:\n", "    loadables:\n        extra: !ref <extra>\n")
        (folder / "hyperparams.yaml").write_text(text)
    marker = tmp_path / "pwned"
    torch.save({"log_logit_scale": _Planted(marker)}, folder / f"{loadable}.ckpt")
    with pytest.raises(Exception, match="(?i)weights.only|unpickl|refusing to load"):
        CLAP.from_hparams(source=str(folder), savedir=str(tmp_path / "s"), run_opts=CPU)
    assert not marker.exists()


# ---------------------------------------------------------------------------
# Code in hyperparams.yaml (safe mode)
# ---------------------------------------------------------------------------
PLANTED_TAGS = {
    "os_system": "!apply:os.system ['touch {marker}']",
    "builtins_exec": "!apply:builtins.exec [\"open('{marker}', 'w')\"]",
    "python_tag": "!!python/object/apply:os.system ['touch {marker}']",
    "applyref": "!applyref:os.system ['touch {marker}']",
    "through_allowed_module": "!apply:speechbrain_tclap.lobes.minilm.os.system ['touch {marker}']",
    "private_attribute": "!apply:speechbrain_tclap.lobes.clap.CLAP.__init__.__globals__",
    "torch_load": "!apply:torch.load ['{marker}.pt']",
    "new_subprocess": "!new:subprocess.Popen [['touch', '{marker}']]",
    "name_later_called": "!name:os.system",
    "file_writer": "!apply:speechbrain_tclap.lobes.tokenizers.train_sentencepiece [[a], '{marker}', 8]",
    "tuple_string": "(!!python/object/apply:os.system ['touch {marker}'], 1)",
    "quoted_tuple_string": "\"(1, !!python/object/apply:os.system ['touch {marker}'])\"",
}


@pytest.mark.parametrize("case", sorted(PLANTED_TAGS))
def test_planted_yaml_code_is_refused(exports, tmp_path, case):
    folder = _copy(exports[0], tmp_path)
    marker = tmp_path / "pwned"
    tag = PLANTED_TAGS[case].format(marker=marker)
    with open(folder / "hyperparams.yaml", "a") as f:
        f.write(f"\nplanted: {tag}\n")
    with pytest.raises(UnsafeYAMLError) as err:
        CLAP.from_hparams(source=str(folder), savedir=str(tmp_path / "s"), run_opts=CPU)
    assert "hyperparams.yaml" in str(err.value) and "allow_unsafe_yaml" in str(err.value)
    assert "os.system" in str(err.value) or tag.split()[0].lstrip("!") in str(err.value)
    assert not marker.exists()


def test_planted_yaml_code_in_an_included_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.yaml").write_text(f"x: !apply:os.system ['touch {marker}']\n")
    (tmp_path / "main.yaml").write_text("model: !include:evil.yaml\n")
    with pytest.raises(UnsafeYAMLError, match="evil.yaml"):
        check_yaml_safe(str(tmp_path / "main.yaml"))
    assert not marker.exists()


def test_allow_unsafe_yaml_opts_out(exports, tmp_path):
    folder = _copy(exports[0], tmp_path)
    with open(folder / "hyperparams.yaml", "a") as f:
        f.write("\nthree: !apply:operator.add [1, 2]\n")
    with pytest.raises(UnsafeYAMLError, match="operator.add"):
        CLAP.from_hparams(source=str(folder), savedir=str(tmp_path / "s"), run_opts=CPU)
    loaded = CLAP.from_hparams(source=str(folder), savedir=str(tmp_path / "s"),
                               run_opts=CPU, allow_unsafe_yaml=True)
    assert loaded.hparams.three == 3


@pytest.mark.parametrize(
    "path", sorted((ROOT / "hparams" / "pretrained").glob("*.yaml")), ids=lambda p: p.name
)
def test_shipped_pretrained_files_are_safe(path):
    check_yaml_safe(str(path))


def test_recipe_model_sections_are_safe(tmp_path):
    """What export copies into a pretrained folder: every recipe's ``model``."""
    from speechbrain_tclap.export import model_yaml_section

    recipes = sorted(ROOT.glob("recipes/**/hparams/*.yaml"))
    assert recipes
    for path in recipes:
        try:
            section = model_yaml_section(str(path))
        except KeyError:
            continue
        probe = tmp_path / f"{path.parent.parent.name}_{path.name}"
        probe.write_text(re.sub(r"!include:(\S+)", lambda m: f"!include:{path.parent / m[1]}", section))
        check_yaml_safe(str(probe))


# ---------------------------------------------------------------------------
# Audio files
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT", "PCM_24"])
@pytest.mark.parametrize("container", ["WAV", "RF64", "W64", "AIFF", "AU"])
def test_truncated_uncompressed_audio_is_reported(tmp_path, container, subtype):
    # libsndfile decodes what is left of these without a word; an odd
    # length checks the chunk padding
    path = tmp_path / f"clip.{container.lower()}"
    sf.write(str(path), 0.1 * np.random.randn(16001), 16000, format=container, subtype=subtype)
    whole = path.read_bytes()
    read_audio(path)  # the whole file reads
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AudioReadError, match="truncated") as err:
        read_audio(path)
    assert err.value.path == str(path)


def test_float_wav_far_beyond_full_scale_is_reported(tmp_path):
    path = tmp_path / "loud.wav"
    sf.write(str(path), 1000 * np.sin(np.arange(1600) / 10), 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="peak") as err:
        read_audio(path)
    assert err.value.path == str(path) and "1000" in str(err.value)
    sf.write(str(path), 1.2 * np.sin(np.arange(1600) / 10), 16000, subtype="FLOAT")
    assert read_audio(path).abs().max() > 1  # mild overshoot passes as it is


def test_file_names_with_braces_load(tmp_path):
    wav = tmp_path / "brace{x}.wav"
    sf.write(str(wav), np.zeros(800, "float32"), 16000)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"a": {"wav": str(wav), "caption": "quiet"}}))
    rows = load_manifest(manifest, replacements={"data_root": "/data"})
    assert read_audio(rows["a"]["wav"]).shape == (800,)
    # A placeholder that names no file is still an error
    manifest.write_text(json.dumps({"a": {"wav": "{data_root}/a.wav", "caption": "quiet"}}))
    with pytest.raises(ManifestError, match="placeholder"):
        load_manifest(manifest)


# ---------------------------------------------------------------------------
# Captions
# ---------------------------------------------------------------------------
def test_lone_surrogate_caption_fails_early(exports, tmp_path):
    interface = CLAP.from_hparams(source=str(exports[0]), savedir=str(tmp_path / "s"),
                                  run_opts=CPU)
    with pytest.raises(ValueError, match=r"Text 1 .*UTF-8"):
        interface.encode_text(["a dog barks", "a cat \udc80 meows"])
    manifest = tmp_path / "m.json"
    manifest.write_text('{"a": {"wav": "a.wav", "caption": "bad \\udc80"}}')
    with pytest.raises(ManifestError, match="UTF-8"):
        load_manifest(manifest)


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside.yaml", "notes.txt"])
def test_yaml_include_outside_the_folder_is_refused(tmp_path, target):
    # an include would read any file on the disk: only .yaml files of the
    # folder itself (or of the package's hparams) may be read
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.yaml").write_text("a: 1\n")
    (folder / "notes.txt").write_text("a: 1\n")
    (folder / "hyperparams.yaml").write_text(f"x: !include:{target}\n")
    with pytest.raises(UnsafeYAMLError, match="include must be a .yaml file"):
        check_yaml_safe(str(folder / "hyperparams.yaml"))
    (folder / "part.yaml").write_text("a: 1\n")
    (folder / "hyperparams.yaml").write_text("x: !include:part.yaml\n")
    check_yaml_safe(str(folder / "hyperparams.yaml"))  # inside the folder: read


def test_yaml_alias_bomb_and_recursive_alias_are_refused(tmp_path):
    # "billion laughs": nine levels of nine aliases would build 387 M nodes
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UnsafeYAMLError, match="expand to more than"):
        check_yaml_safe(str(path))
    path.write_text("a: &a [1, *a]\n")
    with pytest.raises(UnsafeYAMLError, match="contains it"):
        check_yaml_safe(str(path))
    path.write_text("a: &a [1, 2]\nb: *a\nc: [*a, *a]\n")  # ordinary aliases pass
    check_yaml_safe(str(path))
