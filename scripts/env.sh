# Sourced by the scripts (never run): the one Python interpreter and the OpenBLAS core type.
#
#   PYTHON                    the interpreter scripts/setup.sh provides packages for: Debian's
#                             /usr/bin/python3 (never whatever python3 comes first on PATH, which may
#                             be a pyenv or conda interpreter without numpy or torch).
#   littlebit_openblas_env    exports OPENBLAS_CORETYPE for a dense baseline, chosen from what the
#                             CPU reports, and prints the choice (one line on stderr).
#
# Why a core type at all: Debian's OpenBLAS 0.3.21 does not recognize some AVX-512 CPUs (Zen 4)
# and falls back to its Haswell kernels, up to 3x slower. Naming SkylakeX (Cooperlake where the
# CPU has AVX-512 BF16) fixes that, but on a CPU without AVX-512 those kernels die of an illegal
# instruction. So: a core type is only ever forced after /proc/cpuinfo shows avx512f, and one the
# caller set that needs AVX-512 on a CPU without it is dropped (with a warning) rather than obeyed.

PYTHON=/usr/bin/python3
if [ ! -x "$PYTHON" ]; then
  echo "$(basename "$0"): $PYTHON is missing: run scripts/setup.sh first (it installs Debian's python3 and packages)" >&2
  exit 1
fi

littlebit_cpu_has() { grep -qw "$1" /proc/cpuinfo 2>/dev/null; }

littlebit_openblas_env() {
  local want=${OPENBLAS_CORETYPE:-} chosen why
  case "$want" in
    SkylakeX|SKYLAKEX|Cooperlake|COOPERLAKE|SapphireRapids|SAPPHIRERAPIDS)
      if ! littlebit_cpu_has avx512f; then
        echo "$(basename "$0"): OPENBLAS_CORETYPE=$want needs AVX-512, which this CPU lacks: ignored" >&2
        want=""
      fi;;
  esac
  if [ -n "$want" ]; then
    chosen=$want why="set by the caller"
  elif littlebit_cpu_has avx512f && littlebit_cpu_has avx512_bf16; then
    chosen=Cooperlake why="CPU reports avx512f and avx512_bf16"
  elif littlebit_cpu_has avx512f; then
    chosen=SkylakeX why="CPU reports avx512f"
  else
    chosen="" why="no avx512f: OpenBLAS's own detection"
  fi
  if [ -n "$chosen" ]; then export OPENBLAS_CORETYPE=$chosen; else unset OPENBLAS_CORETYPE; fi
  echo "$(basename "$0"): OpenBLAS core type ${chosen:-auto} ($why)" >&2
}
