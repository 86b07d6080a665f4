#!/usr/bin/env bash
# Training-step throughput of clinic against its PyTorch twin
# (bench/torch_step.py), each configuration of bench.StepConfigs in its own
# process, clinic and PyTorch alternating so both see the same machine.
# Needs Debian's python3-torch and, for a fair BLAS, libopenblas0-pthread
# (Debian's torch otherwise runs on the reference BLAS); python3-threadpoolctl
# lets the script print which OpenBLAS core PyTorch ran:
#   apt-get install python3-torch libopenblas0-pthread python3-threadpoolctl
# OpenBLAS 0.3.21 does not recognise some CPUs (Sapphire Rapids, Zen 5)
# and silently falls back to its generic (Prescott) kernels, about 3x
# slower, and some machines set OPENBLAS_CORETYPE to a slower core than
# the CPU can run. So the script times PyTorch's L6_d256 step on one
# thread with each candidate core (bench/openblas_core.sh) and runs
# PyTorch with the fastest, printing which; CLINIC_OPENBLAS_CORE=NAME
# skips the timing and uses NAME.
# Usage: [CONFIGS="L6_d256 T6_d256"] bench/compare.sh [threads...]   (default: all configs, threads 1 2)
# L* configs are the byte-level LM (tokens: bytes), T6_d256 the 6+6-layer
# encoder–decoder (tokens: target tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=("$@"); [ $# -eq 0 ] && threads=(1 2)
py=/usr/bin/python3
if ! $py -c "import torch" 2>/dev/null; then
	echo "python3-torch is not installed for $py; run: apt-get install python3-torch libopenblas0-pthread" >&2
	exit 1
fi
go test -c -o /tmp/clinic-bench.test ./bench/ >/dev/null
export OMP_WAIT_POLICY=PASSIVE
. bench/openblas_core.sh
echo "PyTorch $($py -c 'import torch; print(torch.__version__)'), OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE ($core_why), BLAS in use: $core"
printf "%-10s %7s %14s %14s %7s %12s %12s\n" config threads "clinic tok/s" "torch tok/s" ratio "clinic MB" "torch MB"
for cfg in ${CONFIGS:-L6_d256 L18_d256 L6_d512 T6_d256}; do
	for t in "${threads[@]}"; do
		g=$(/tmp/clinic-bench.test -test.run '^$' -test.bench "TrainStep/${cfg}/threads=${t}\$/specialized" -test.benchtime 20s -test.count 1 | grep Benchmark)
		gt=$(echo "$g" | grep -o '[0-9.]* tokens/s' | cut -d' ' -f1)
		gm=$(echo "$g" | grep -o '[0-9.]* peak-RSS-MB' | cut -d' ' -f1)
		twin=bench/torch_step.py
		[ "${cfg#T}" != "$cfg" ] && twin=bench/torch_seq2seq.py
		p=$(OPENBLAS_NUM_THREADS="$t" $py "$twin" --config "$cfg" --threads "$t" --seconds 20)
		pt=$(echo "$p" | sed -n 's/.*tokens\/s=\([0-9.]*\).*/\1/p')
		pm=$(echo "$p" | sed -n 's/.*peak_rss_mb=\([0-9.]*\).*/\1/p')
		ratio=$(awk -v a="$gt" -v b="$pt" 'BEGIN{printf "%.2f", a/b}')
		printf "%-10s %7s %14.0f %14.0f %7s %12.0f %12.0f\n" "$cfg" "$t" "$gt" "$pt" "$ratio" "$gm" "$pm"
	done
done
