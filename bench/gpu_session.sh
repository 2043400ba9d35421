#!/usr/bin/env bash
# Issue 13's GPU figures in one device call. Runs on the lent GPU machine from the copied
# repository root, after `.gpu/` was prepared here:
#
#   bash ../shared/gpu/prepare.sh            # builds the release binary; .gpu/: pipeline.xz,
#                                            # Vulkan loader, run.sh, data
#   cp bench/torch_reference.py bench/gpu_session.sh .gpu/
#
# then the device tool's `run` with carry [".gpu"], command `bash .gpu/gpu_session.sh`, and a
# timeout under 600 s. Everything it measures goes to $OUT (or ./gpu-out):
#   persistence.txt  the same `bench --only ann` in two processes sharing a fresh autotune cache
#                    (the second should skip the tuning);
#   reference.txt    `torch_reference.py --rust-bin`: PyTorch eager (CUDA) and `pipeline bench`
#                    (wgpu) at batch 64, T = 100, in one sitting, with the ratios.
# LOCAL=1 runs it on this machine instead (lavapipe and CPU PyTorch, small shapes): a dry run of
# the script itself, not a measurement.
set -uo pipefail
cd "$(dirname "$0")"
out=${OUT:-$PWD/gpu-out}
mkdir -p "$out"
if [ "${LOCAL:-0}" = 1 ]; then
  bin=${RUST_BIN:-../target/release/pipeline}
  torch_device=cpu
  shape=(--batch 2 --timesteps 4 --width 0.125)
else
  for f in deb/*.deb; do dpkg -x "$f" /; done
  ldconfig
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -x pipeline ] || { xz -dk pipeline.xz && chmod +x pipeline; }
  bin=./pipeline
  torch_device=cuda
  shape=(--batch 64 --timesteps 100)
  nvidia-smi -L | tee "$out/device.txt"
fi

# Autotune persistence: a fresh cache database, then two processes.
export CUBECL_ENVIRONMENT="gpu-session-$(date +%s)"
for run in first second; do
  start=$(date +%s.%N)
  "$bin" bench --device wgpu --only ann "${shape[@]}" --iters 3 --out "$out/persist-$run" \
    2>&1 | grep -v XDG_RUNTIME_DIR | tee -a "$out/persistence.txt"
  end=$(date +%s.%N)
  echo "$run process: $(awk "BEGIN { print $end - $start }") s wall" | tee -a "$out/persistence.txt"
done

# Both sides in one sitting; the wgpu side reuses the cache filled above.
python3 torch_reference.py --device "$torch_device" "${shape[@]}" --iters 3 --rounds 2 \
  --rust-bin "$bin" --rust-device wgpu --json "$out/reference.json" \
  2>&1 | grep -v XDG_RUNTIME_DIR | tee "$out/reference.txt"
