#!/usr/bin/env bash
# Builds the wheel, installs it alone into a fresh venv and loads a model by
# short name from another directory, offline (scripts/check_wheel_load.py).
# The venv gets no dependencies of its own: it reads those of the active
# environment's site-packages through a .pth file (plain paths: that
# environment's own .pth files, e.g. an editable install of this checkout, are
# not read), so nothing is downloaded and the checkout is never imported.
#
#   source .venv/bin/activate && bash scripts/check_wheel.sh [work folder]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
deps=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf "$work/whl" "$work/venv" "$work/tree"
# built from a copy: setuptools writes build/ and *.egg-info into the tree
mkdir -p "$work/tree"
cp -r "$repo/setup.py" "$repo/README.md" "$repo/speechbrain_tclap" "$repo/hparams" "$work/tree"
python -m pip wheel "$work/tree" --no-deps -q -w "$work/whl"
unzip -l "$work"/whl/*.whl | grep -c "_hparams/.*\.yaml" | sed 's/^/YAML files in the wheel: /'
python -m venv "$work/venv"
site=$("$work/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$deps" > "$site/dependencies.pth"
"$work/venv/bin/python" -m pip install -q --no-deps "$work"/whl/*.whl
cd "$work"
env -u PYTHONPATH HF_HUB_OFFLINE=1 "$work/venv/bin/python" "$repo/scripts/check_wheel_load.py"
TIMEFORMAT='speechbrain-tclap --help: %R s'
time env -u PYTHONPATH "$work/venv/bin/speechbrain-tclap" --help > /dev/null
TIMEFORMAT='speechbrain-tclap sed --help: %R s'
time env -u PYTHONPATH "$work/venv/bin/speechbrain-tclap" sed --help > /dev/null
