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
#   MMDLD_CUDA    1: a GPU install. torch with CUDA from the package index instead of the CPU wheel,
#                 and mmcv's ops compiled with CUDA (FORCE_CUDA=1) by the toolkit in CUDA_HOME, else
#                 the one whose nvcc is on PATH (see docs/getting_started.md, "GPU install")
#   MMDLD_TORCH   torch version of a GPU install (default: the CPU path's version)
#   MMDLD_TORCH_INDEX  pip index of a GPU install's torch, e.g. https://download.pytorch.org/whl/cu126
#                 (default: the configured index, whose Linux torch wheels are CUDA builds)
#   TORCH_CUDA_ARCH_LIST  GPU architectures to compile for (default: torch's list)
#
# Why mmcv is compiled here: mmcv 2.0.1 (the newest mmcv that mmdet 3.1.0 accepts, and mmdet 3.1 is
# the newest mmdet that mmocr 1.0.1 accepts) publishes no wheel for torch 2.13, and its setup.py
# forces `-std=c++14`, which torch>=2.1 headers reject. We fetch its source distribution, switch the
# flag to C++17 and build a wheel once (about 11 minutes on 2 cores); the wheel is kept in
# $MMDLD_CACHE/wheels so that later clones (CI) install it in seconds.
set -euo pipefail

# Absolute: the mmcv compile runs the venv's python from inside its build folder.
VENV=$(realpath -m "${1:-.venv}")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MMDLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmdld}
WHEELS=$CACHE/wheels
STAMP=$VENV/.mmdld-installed
CUDA_BUILD=${MMDLD_CUDA:-0}
# The stamp records the requirement files it was made from: editing them re-runs the install.
REQ_HASH=$({ cat "$ROOT"/requirements/*.txt "$ROOT"/tools/setup_env.sh
    echo "cuda=$CUDA_BUILD torch=${MMDLD_TORCH:-} arch=${TORCH_CUDA_ARCH_LIST:-}"; } |
    sha256sum | cut -c1-16)

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
if [[ $CUDA_BUILD == 1 ]]; then
    TORCH_REQ=("torch==${MMDLD_TORCH:-$(sed -n 's/^torch==//p' "$ROOT/requirements/torch.txt")}")
    # The CPU wheel of the CPU path would satisfy the pin: ask for a CUDA build explicitly.
    TORCH_OPTS=(--no-cache-dir)
    [[ -n ${MMDLD_TORCH_INDEX:-} ]] && TORCH_OPTS+=(--index-url "$MMDLD_TORCH_INDEX")
    "${PIP[@]}" install -q -r "$ROOT/requirements/build.txt" "numpy>=1.24,<2"
    # build.txt as constraints: torch's own requirements must not lift its setuptools cap.
    "${PIP[@]}" install -q "${TORCH_OPTS[@]}" -c "$ROOT/requirements/build.txt" "${TORCH_REQ[@]}"
    TORCH_CUDA=$("$PY" -c 'import torch; print(torch.version.cuda or "")')
    if [[ -z $TORCH_CUDA ]]; then
        log "MMDLD_CUDA=1 but the installed torch is a CPU build ($("$PY" -c 'import torch; print(torch.__version__)'));"
        log "set MMDLD_TORCH_INDEX to a CUDA index (https://download.pytorch.org/whl/cuXXX) or remove $VENV"
        exit 1
    fi
    if [[ -z ${CUDA_HOME:-} ]]; then
        NVCC=$(command -v nvcc || true)
        if [[ -z $NVCC ]]; then
            log "MMDLD_CUDA=1 needs a CUDA $TORCH_CUDA toolkit: set CUDA_HOME or put nvcc on PATH"
            exit 1
        fi
        # nvcc on PATH is often a link or a wrapper script (/usr/local/bin/nvcc): the toolkit is
        # where the link points, else the conventional /usr/local/cuda.
        CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
        if [[ ! -f $CUDA_HOME/include/cuda_runtime.h && -x /usr/local/cuda/bin/nvcc ]]; then
            CUDA_HOME=/usr/local/cuda
        fi
    fi
    export CUDA_HOME
    NVCC_CUDA=$("$CUDA_HOME/bin/nvcc" --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')
    if [[ ${NVCC_CUDA%%.*} != "${TORCH_CUDA%%.*}" ]]; then
        log "torch is built with CUDA $TORCH_CUDA but $CUDA_HOME has CUDA $NVCC_CUDA (the major versions must match)"
        exit 1
    fi
    log "torch $("$PY" -c 'import torch; print(torch.__version__)') with CUDA $TORCH_CUDA; toolkit $CUDA_HOME (CUDA $NVCC_CUDA)"
    # torch's ATen/cuda headers include cuBLAS, cuSPARSE and cuSOLVER headers, which a minimal
    # toolkit (nvcc and the runtime only) lacks; torch's own nvidia-* wheels ship them.
    if [[ ! -f $CUDA_HOME/include/cusparse.h ]]; then
        SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        for INC in "$SITE"/nvidia/*/include; do
            [[ -d $INC ]] && CPATH=${CPATH:+$CPATH:}$INC
        done
        export CPATH
        log "library headers from torch's nvidia packages: ${CPATH:-none found}"
    fi
    # CPU and CUDA builds of mmcv have the same file name: each gets its own cache folder.
    WHEELS=$WHEELS/cuda$TORCH_CUDA
else
    "${PIP[@]}" install -q -r "$ROOT/requirements/build.txt" -r "$ROOT/requirements/torch.txt" \
        "numpy>=1.24,<2"
fi

MMCV_WHEEL=$(ls "$WHEELS"/mmcv-2.0.1-*.whl 2>/dev/null | head -n1 || true)
TORCH_TAG=$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
# A cached wheel is only valid for the torch it was compiled against.
if [[ -n $MMCV_WHEEL && ! -f $WHEELS/mmcv-2.0.1.torch-$TORCH_TAG ]]; then
    MMCV_WHEEL=""
fi
if [[ -z $MMCV_WHEEL ]]; then
    if [[ $CUDA_BUILD == 1 ]]; then
        log "compiling mmcv 2.0.1 with CPU and CUDA ops for torch $TORCH_TAG; about 50 min on 2 cores for one architecture"
    else
        log "compiling mmcv 2.0.1 with ops for torch $TORCH_TAG; this takes ~11 min on 2 cores"
    fi
    # The source tree stays under $CACHE/build until its wheel exists, so that an interrupted
    # compile resumes (ninja rebuilds only the missing objects) instead of starting again.
    BUILD=$CACHE/build/mmcv-2.0.1-torch-$TORCH_TAG-cuda$CUDA_BUILD
    if [[ ! -f $BUILD/.mmdld-configured ]]; then
        rm -rf "$BUILD"
        mkdir -p "$BUILD"
        DOWNLOAD=$(mktemp -d)
        trap 'rm -rf "$DOWNLOAD"' EXIT
        # --no-build-isolation: mmcv's setup.py imports torch to configure the build.
        "${PIP[@]}" download -q --no-deps --no-binary :all: --no-build-isolation \
            mmcv==2.0.1 -d "$DOWNLOAD"
        tar -xzf "$DOWNLOAD"/mmcv-2.0.1.tar.gz -C "$BUILD" --strip-components=1
        # The standard the installed torch's headers require (C++17 for torch 2.13, C++20 for
        # 2.14), in place of the -std=c++14 that mmcv's setup.py forces.
        ATEN_H=$("$PY" -c 'import os, torch; print(os.path.dirname(torch.__file__))')/include/ATen/ATen.h
        CXX_STD=$(grep -o -m1 'C++[0-9]*' "$ATEN_H" | tr -d 'C+')
        sed -i "s/-std=c++14/-std=c++${CXX_STD:-17}/g" "$BUILD"/setup.py
        touch "$BUILD/.mmdld-configured"
    else
        log "resuming the interrupted compile in $BUILD"
    fi
    mkdir -p "$WHEELS"
    rm -f "$WHEELS"/mmcv-2.0.1-*.whl "$WHEELS"/mmcv-2.0.1.torch-*
    # setup.py itself rather than `pip wheel`: pip deletes the build folder after a failure.
    (cd "$BUILD" && MMCV_WITH_OPS=1 FORCE_CUDA=$CUDA_BUILD MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$PY" setup.py -q bdist_wheel -d "$WHEELS" >"$BUILD/build.log" 2>&1) || {
        log "mmcv's compile failed; the end of $BUILD/build.log:"
        grep -E -m 20 'error|Error' "$BUILD/build.log" >&2 || tail -n 30 "$BUILD/build.log" >&2
        exit 1
    }
    rm -rf "$BUILD"
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
