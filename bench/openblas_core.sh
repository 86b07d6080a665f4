# Sourced by bench/compare.sh and bench/scaling.sh (needs $py): picks the
# OpenBLAS core PyTorch runs fastest with on this CPU and exports it as
# OPENBLAS_CORETYPE, with OPENBLAS_L2_SIZE unset (a machine may set both
# for an older OpenBLAS's sake; they slow a current one). Sets $core (the
# kernel threadpoolctl reports) and $core_why.
unset OPENBLAS_L2_SIZE
if [ -n "${CLINIC_OPENBLAS_CORE:-}" ]; then
	export OPENBLAS_CORETYPE="$CLINIC_OPENBLAS_CORE"
	core_why="CLINIC_OPENBLAS_CORE"
else
	best= bestv=0 tried=
	for c in SkylakeX Haswell Zen Cooperlake SapphireRapids; do
		v=$(OPENBLAS_CORETYPE=$c OPENBLAS_NUM_THREADS=1 $py bench/torch_step.py --config L6_d256 --threads 1 --seconds 3 2>/dev/null |
			sed -n 's/.*tokens\/s=\([0-9.]*\).*/\1/p')
		[ -z "$v" ] && continue
		tried="$tried $c=$v"
		if awk -v a="$v" -v b="$bestv" 'BEGIN{exit !(a>b)}'; then best=$c bestv=$v; fi
	done
	if [ -z "$best" ]; then
		echo "could not run PyTorch's step with any OpenBLAS core" >&2
		exit 1
	fi
	export OPENBLAS_CORETYPE=$best
	core_why="fastest of L6_d256 tokens/s, 1 thread:$tried"
fi
core=$(OPENBLAS_NUM_THREADS=1 $py bench/torch_step.py --config L6_d256 --threads 1 --seconds 0 | sed -n 's/.*blas=\([^ ]*\).*/\1/p')
