#!/usr/bin/env bash
# Builds libdeflate.wasm, next to this script, from Debian bookworm's libdeflate source package
# (1.14, MIT licensed: COPYING here) with Debian's clang, lld and wasi-libc:
#   apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 curl
# `build.sh --check` builds into a temporary file and fails unless it is byte for byte the
# committed one (CI runs it), so the .wasm in the repository is always what this script makes.
#
# Only the raw-deflate compressor and decompressor are built; the module imports nothing (no
# WASI calls: malloc grows the module's own memory) and exports the functions libdeflate.ts
# calls. Debian's one patch to the source (armhf.patch) touches only ARM code, not built here.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
check=false
[ "${1:-}" = --check ] && check=true

tarball=libdeflate_1.14.orig.tar.gz
sha256=89e7df898c37c3427b0f39aadcf733731321a278771d20fc553f92da8d4808ac  # from libdeflate_1.14-1.dsc
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsS -o "$work/$tarball" "http://deb.debian.org/debian/pool/main/libd/libdeflate/$tarball"
echo "$sha256  $work/$tarball" | sha256sum -c --quiet
tar xzf "$work/$tarball" -C "$work"
src="$work/libdeflate-1.14"

exports=(malloc free
  libdeflate_alloc_compressor libdeflate_deflate_compress libdeflate_deflate_compress_bound
  libdeflate_alloc_decompressor libdeflate_deflate_decompress)
link=(-Wl,--no-entry -Wl,--strip-all -Wl,-z,stack-size=1048576)
for e in "${exports[@]}"; do link+=("-Wl,--export=$e"); done

out="$here/libdeflate.wasm"
$check && out="$work/libdeflate.wasm"
# -O2 with SIMD and bulk memory (both in Node since 16.4): on Debian minbase's files, one-shot
# level-6 deflate in 0.73-0.77 of node:zlib's time; -O3 was no faster.
(cd "$src" && clang --target=wasm32-wasi -O2 -msimd128 -mbulk-memory -DNDEBUG -mexec-model=reactor -nostartfiles \
  -I. lib/deflate_compress.c lib/deflate_decompress.c lib/utils.c "${link[@]}" -o "$out")

if $check; then
  if ! cmp -s "$out" "$here/libdeflate.wasm"; then
    echo "libdeflate.wasm differs from what build.sh makes: run src/format/libdeflate/build.sh and commit it" >&2
    exit 1
  fi
  echo "libdeflate.wasm is what build.sh makes"
fi
