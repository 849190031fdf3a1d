#!/usr/bin/env bash
# Creates (or completes) the project-local virtual environment that `make test` and `make demo`
# use. Idempotent: a second run checks what is there and returns in seconds.
#
#   bash tools/setup_env.sh [VENV_DIR]          (default: .venv)
#
# Environment:
#   PYTHON        interpreter to build the venv from (default: python3.11, else python3)
#   MMDLD_CACHE   where the compiled mmcv wheel is kept between clones (default: ~/.cache/mmdld)
#   MAX_JOBS      parallel compile jobs for mmcv's ops (default: number of cores)
#
# Why mmcv is compiled here: mmcv 2.0.1 (the newest mmcv that mmdet 3.1.0 accepts, and mmdet 3.1 is
# the newest mmdet that mmocr 1.0.1 accepts) publishes no wheel for torch 2.13, and its setup.py
# forces `-std=c++14`, which torch>=2.1 headers reject. We fetch its source distribution, switch the
# flag to C++17 and build a wheel once (about 11 minutes on 2 cores); the wheel is kept in
# $MMDLD_CACHE/wheels so that later clones (CI) install it in seconds.
set -euo pipefail

VENV=${1:-.venv}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MMDLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdld}
WHEELS=$CACHE/wheels
STAMP=$VENV/.mmdld-installed
# The stamp records the requirement files it was made from: editing them re-runs the install.
REQ_HASH=$(cat "$ROOT"/requirements/*.txt "$ROOT"/tools/setup_env.sh | sha256sum | cut -c1-16)

if [[ -f $STAMP && $(cat "$STAMP") == "$REQ_HASH" ]]; then
    exit 0
fi

log() { printf '[setup_env %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if [[ ! -x $VENV/bin/python ]]; then
    PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
    log "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
PY=$VENV/bin/python
PIP=("$PY" -m pip --disable-pip-version-check)

log "build tools, torch and numpy"
"${PIP[@]}" install -q -r "$ROOT/requirements/build.txt" -r "$ROOT/requirements/torch.txt" \
    "numpy>=1.24,<2"

MMCV_WHEEL=$(ls "$WHEELS"/mmcv-2.0.1-*.whl 2>/dev/null | head -n1 || true)
TORCH_TAG=$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
# A cached wheel is only valid for the torch it was compiled against.
if [[ -n $MMCV_WHEEL && ! -f $WHEELS/mmcv-2.0.1.torch-$TORCH_TAG ]]; then
    MMCV_WHEEL=""
fi
if [[ -z $MMCV_WHEEL ]]; then
    log "compiling mmcv 2.0.1 with ops (C++17) for torch $TORCH_TAG; this takes ~11 min on 2 cores"
    SRC=$(mktemp -d)
    trap 'rm -rf "$SRC"' EXIT
    # --no-build-isolation: mmcv's setup.py imports torch to configure the build.
    "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
        mmcv==2.0.1 -d "$SRC"
    tar -xzf "$SRC"/mmcv-2.0.1.tar.gz -C "$SRC"
    sed -i 's/-std=c++14/-std=c++17/g' "$SRC"/mmcv-2.0.1/setup.py
    mkdir -p "$WHEELS"
    rm -f "$WHEELS"/mmcv-2.0.1-*.whl "$WHEELS"/mmcv-2.0.1.torch-*
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "${PIP[@]}" wheel -q --no-deps --no-build-isolation -w "$WHEELS" "$SRC"/mmcv-2.0.1
    touch "$WHEELS/mmcv-2.0.1.torch-$TORCH_TAG"
    MMCV_WHEEL=$(ls "$WHEELS"/mmcv-2.0.1-*.whl | head -n1)
fi

log "OpenMMLab packages and runtime requirements"
"${PIP[@]}" install -q "$MMCV_WHEEL" \
    -r "$ROOT/requirements/mminstall.txt" \
    -r "$ROOT/requirements/runtime.txt" \
    -r "$ROOT/requirements/tests.txt" \
    "torch==$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"

# mmcv and mmocr ask for opencv-python, whose cv2 needs libGL (absent on headless machines).
# The headless build provides the same cv2 module without it.
if "${PIP[@]}" show -q opencv-python >/dev/null 2>&1; then
    "${PIP[@]}" uninstall -q -y opencv-python
fi
"${PIP[@]}" install -q --force-reinstall --no-deps "opencv-python-headless>=4.7,<4.11"

log "mmdld itself (editable, with the .mim link that mim needs)"
# `setup.py develop` (--no-use-pep517) rather than a PEP 660 editable wheel: mim and mmengine locate
# a package's configs and tools at <distribution location>/mmdld/.mim, which only the develop-style
# egg-link points at the source tree (see requirements/build.txt).
"${PIP[@]}" install -q --no-deps --no-build-isolation --no-use-pep517 -e "$ROOT"
"$PY" -m mmdld

echo "$REQ_HASH" >"$STAMP"
log "done"
