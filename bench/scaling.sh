#!/usr/bin/env bash
# How the training step scales on this machine: clinic's tokens/s at each
# thread count (BenchmarkTrainStep, the step 'clinic train' runs), the
# speedup over one thread and the parallel efficiency, and, where
# Debian's python3-torch is installed, PyTorch's tokens/s at its best
# thread count up to N (PyTorch can be slower at more threads, so an
# equal-threads comparison would flatter clinic).
# Usage: [CONFIGS="L6_d256 T6_d256"] [BATCH=128] [SECONDS=10] bench/scaling.sh [threads...]
#   default threads: 1 2 4 ... up to the CPUs; BATCH sets the LM configs'
#   sequences per step (0: each config's own; T6_d256: its pairs).
set -euo pipefail
cd "$(dirname "$0")/.."
n=$(nproc)
threads=("$@")
if [ $# -eq 0 ]; then
	t=1
	while [ "$t" -le "$n" ]; do threads+=("$t"); t=$((t * 2)); done
	[ "${threads[-1]}" -ne "$n" ] && threads+=("$n")
fi
list=$(IFS=,; echo "${threads[*]}")
batch=${BATCH:-0}
secs=${SECONDS_PER_POINT:-10}
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo "CPU: ${cpu:-unknown} ($n CPUs); threads: $list; batch: $batch (0: each config's own)"
go test -c -o /tmp/clinic-scaling.test ./bench/ >/dev/null
py=/usr/bin/python3
torch=0
if $py -c "import torch" 2>/dev/null; then
	torch=1
	export OMP_WAIT_POLICY=PASSIVE
	. bench/openblas_core.sh
	echo "PyTorch $($py -c 'import torch; print(torch.__version__)'), OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE ($core_why)"
else
	echo "PyTorch: not installed for $py (apt-get install python3-torch libopenblas0-pthread python3-threadpoolctl)"
fi
printf "%-10s %7s %12s %8s %10s %16s\n" config threads "clinic tok/s" speedup efficiency "torch best ≤ N"
for cfg in ${CONFIGS:-L6_d256 T6_d256}; do
	out=$(/tmp/clinic-scaling.test -test.run '^$' -test.bench "TrainStep/${cfg}/threads=[0-9]+\$/specialized" \
		-test.benchtime "${secs}s" -test.count 1 -threads "$list" -batch "$batch" | grep '^Benchmark')
	one= tbest=0
	for t in "${threads[@]}"; do
		tok=$(echo "$out" | grep "/threads=${t}/" | grep -o '[0-9.]* tokens/s' | cut -d' ' -f1)
		[ -z "$one" ] && one=$tok
		tt=-
		if [ "$torch" = 1 ]; then
			twin=bench/torch_step.py
			[ "${cfg#T}" != "$cfg" ] && twin=bench/torch_seq2seq.py
			targs=()
			[ "$batch" != 0 ] && [ "$twin" = bench/torch_step.py ] && targs=(--batch "$batch")
			v=$(OPENBLAS_NUM_THREADS="$t" $py "$twin" --config "$cfg" --threads "$t" --seconds "$secs" "${targs[@]}" |
				sed -n 's/.*tokens\/s=\([0-9.]*\).*/\1/p')
			tbest=$(awk -v a="$v" -v b="$tbest" 'BEGIN{print (a>b)?a:b}')
			tt=$(printf "%.0f" "$tbest")
		fi
		awk -v c="$cfg" -v t="$t" -v x="$tok" -v o="$one" -v p="$tt" \
			'BEGIN{printf "%-10s %7d %12.0f %8.2f %10.2f %16s\n", c, t, x, x/o, x/o/t, p}'
	done
done
