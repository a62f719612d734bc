#!/usr/bin/env bash
# The GPU checks in one command, for a machine with an NVIDIA GPU and no package registry:
# install from carried wheels, run the suite (each test's name and outcome in the log), the
# speed switches, and README's first line on the GPU beside the same line on two CPU cores.
#
#   here:   bash ../shared/gpu/wheelhouse.sh .gpu/wheels '.[test]'
#   there:  bash benchmarks/gpu_check.sh LOG_DIR          (from the project's root, .gpu/ carried)
#
# Each part has its own time limit so that the whole stays under 8 minutes; a part that runs out
# of time says so in its log and the next part still runs. Six logs land in LOG_DIR.
set -uo pipefail
logs=${1:?usage: bash benchmarks/gpu_check.sh LOG_DIR}
mkdir -p "$logs"
export PYTHONUNBUFFERED=1

python3 -m pip install -q --no-index --find-links .gpu/wheels -e '.[test]' >"$logs/install.log" 2>&1 \
  || { echo "install failed: see $logs/install.log"; exit 1; }
# the console script sits beside the interpreter that holds torch
PATH="$(dirname "$(python3 -c 'import sys; print(sys.executable)')"):$PATH"

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
  nproc; } >"$logs/machine.txt" 2>&1

timed() {  # timed LIMIT_S LOG COMMAND...: run, append the wall time and exit status to LOG
  local limit=$1 log=$2; shift 2
  local start=$SECONDS
  timeout "$limit" "$@" >>"$log" 2>&1; local status=$?
  local note=""; [ "$status" = 124 ] && note=", stopped at its ${limit} s limit"
  echo "[$((SECONDS - start)) s, exit $status$note] $*" >>"$log"
}

work=$(mktemp -d)
readme_line() {  # readme_line NAME CORES [OVERRIDES...]: README's first line's two training runs
  local name=$1 cores=$2; shift 2
  timed 120 "$logs/readme_$name.log" taskset -c "$cores" ganxfer pretrain "$@" hydra.run.dir="$work/$name/pretrain"
  timed 60 "$logs/readme_$name.log" taskset -c "$cores" ganxfer finetune "$@" \
    ckpt="$work/$name/pretrain/checkpoints/last.ckpt" hydra.run.dir="$work/$name/finetune"
}
# side by side on cores of their own: the GPU run on all but two, the CPU reference on two
readme_line gpu "2-$(($(nproc) - 1))" &
readme_line cpu 0,1 trainer.device=cpu
wait

timed 240 "$logs/tests.log" python3 -m pytest -n auto -rA -p no:cacheprovider -o cache_dir="$work/cache"
timed 90 "$logs/speed.log" python3 benchmarks/gpu_speed.py --device cuda --steps 1000 --repeats 2
grep -h '^\[' "$logs"/*.log
