#!/usr/bin/env bash
# Same bytes on both targets (issue #15): quantize MODEL with the arm64 mq-quantize (under the
# emulator) and with the x86-64 mq-quantize built from the same source, under every option set of
# the weight-parity test (ort_parity_case.sh), and optionally the default, and require identical
# output models byte for byte, and the same exit status.
# usage: same_bytes_case.sh HOST_MQ_QUANTIZE TARGET_MQ_QUANTIZE MODEL.onnx OUT_DIR [auto]
#   MQ_TEST_EMULATOR (environment, as for every test): the program that runs TARGET_MQ_QUANTIZE
#   (qemu-aarch64), unset or empty when it runs natively.
#   auto: also the default options (auto, whose accuracy guard runs the model on the float executor
#         of each target: minutes per model under qemu for the larger ones).
set -euo pipefail
host=$1 target=$2 model=$3 out_dir=$4 with_auto=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_model "$model"
if [ ! -x "$host" ]; then
  echo "same_bytes_case.sh: no host mq-quantize at '$host' (configure with MQ_HOST_MQ_QUANTIZE empty to build it)" >&2
  exit 1
fi
run_target=("$target")
[ -z "${MQ_TEST_EMULATOR:-}" ] || run_target=("$MQ_TEST_EMULATOR" "$target")

key=$(basename "$model" .onnx)
mkdir -p "$out_dir"
# The option sets: the parity test's five (see ort_parity_case.sh), then with "auto" the default
# (its accuracy guard on seeded inputs, run by the float executor on each target).
names=(ort_default qdq_per_channel uint8_asymmetric qoperator_per_channel uint8_symmetric)
sets=("--format qoperator" "--format qdq --per-channel" "--format qoperator --weight-type uint8 --asymmetric"
      "--format qoperator --per-channel" "--weight-type uint8 --symmetric --target-snr 0")
case "$with_auto" in
  auto) names+=(auto); sets+=("") ;;
  "") ;;
  *) echo "same_bytes_case.sh: the 6th argument is 'auto' or nothing, not '$with_auto'" >&2; exit 2 ;;
esac
failed=0
for i in "${!names[@]}"; do
  read -r -a opts <<< "${sets[$i]}"
  base="$out_dir/${key}_${names[$i]}"
  rm -f "$base.host.onnx" "$base.target.onnx"
  host_rc=0 target_rc=0
  "$host" "$model" "$base.host.onnx" "${opts[@]}" -q 2> "$base.host.err" || host_rc=$?
  "${run_target[@]}" "$model" "$base.target.onnx" "${opts[@]}" -q 2> "$base.target.err" || target_rc=$?
  if [ "$host_rc" != "$target_rc" ]; then
    echo "FAIL $key ${names[$i]}: exit status $host_rc on x86-64, $target_rc on the target"
    sed 's/^/  x86-64: /' "$base.host.err"; sed 's/^/  target: /' "$base.target.err"
    failed=1; continue
  fi
  if [ "$host_rc" != 0 ]; then
    # Both refused the model the same way (e.g. nothing to quantize): the messages must agree too.
    if cmp -s "$base.host.err" "$base.target.err"; then
      echo "ok   $key ${names[$i]}: both exit $host_rc with the same message"
    else
      echo "FAIL $key ${names[$i]}: both exit $host_rc, with different messages"; failed=1
    fi
    continue
  fi
  if cmp -s "$base.host.onnx" "$base.target.onnx"; then
    echo "ok   $key ${names[$i]}: identical, $(wc -c < "$base.host.onnx") bytes, sha256 $(sha256sum "$base.host.onnx" | cut -c1-16)"
    rm -f "$base.target.onnx"
  else
    echo "FAIL $key ${names[$i]}: the outputs differ ($(cmp "$base.host.onnx" "$base.target.onnx" 2>&1 | head -1))"
    failed=1
  fi
done
exit "$failed"
