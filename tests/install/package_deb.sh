#!/usr/bin/env bash
# cpack -G DEB makes a .deb of the tools, the library, the headers and the CMake and pkg-config
# files (issue #13), installed under /usr, with the tools' run-time libraries as Depends.
# usage: package_deb.sh BUILD_DIR WORK_DIR ARCH
#   ARCH: the Debian architecture the package must say (amd64; arm64 for the arm64 cross build,
#   whose packaged tool then runs under MQ_TEST_EMULATOR, with MQ_TEST_LIBRARY_PATH for the arm64
#   libraries that are unpacked rather than installed)
set -euo pipefail
build=$1 work=$2 arch=$3
rm -rf "$work" && mkdir -p "$work"
(cd "$build" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log" >&2; exit 1; }
deb=$(ls "$work"/modelquant_*.deb)
contents=$(dpkg-deb -c "$deb")
missing=0
for f in ./usr/bin/mq-quantize ./usr/bin/mq-pull ./usr/include/mq/quantize.h ./usr/include/mq/modelquant.h \
         ./usr/include/mq/version.h ./usr/lib/cmake/modelquant/modelquantConfig.cmake ./usr/lib/pkgconfig/modelquant.pc \
         ./usr/lib/pkgconfig/modelquant-fetch.pc; do
  grep -q " $f\$" <<<"$contents" || { echo "FAIL: $deb has no $f" >&2; missing=1; }
done
grep -Eq " \./usr/lib/libmodelquant\.(a|so)" <<<"$contents" || { echo "FAIL: $deb has no libmodelquant" >&2; missing=1; }
[ "$(dpkg-deb -f "$deb" Package)" = modelquant ] || { echo "FAIL: package name" >&2; missing=1; }
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || { echo "FAIL: Architecture $(dpkg-deb -f "$deb" Architecture), not $arch" >&2; missing=1; }
case "$deb" in *_"$arch".deb) ;; *) echo "FAIL: $deb is not named for $arch" >&2; missing=1 ;; esac
depends=$(dpkg-deb -f "$deb" Depends)
grep -q "libprotobuf" <<<"$depends" || { echo "FAIL: Depends has no protobuf: '$depends'" >&2; missing=1; }
# The packaged tool runs from a plain extraction (system libraries, and a shared build's own).
dpkg-deb -x "$deb" "$work/root"
run=("$work/root/usr/bin/mq-quantize")
[ -z "${MQ_TEST_EMULATOR:-}" ] || run=("$MQ_TEST_EMULATOR" "${run[@]}")
LD_LIBRARY_PATH="$work/root/usr/lib${MQ_TEST_LIBRARY_PATH:+:$MQ_TEST_LIBRARY_PATH}" "${run[@]}" --version | grep -q "^mq-quantize " || { echo "FAIL: packaged mq-quantize does not run" >&2; missing=1; }
exit $missing
