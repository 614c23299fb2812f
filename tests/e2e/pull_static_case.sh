#!/usr/bin/env bash
# End to end for mq-pull with method = "static_int8" (issue #16): MODEL is served from a file://
# mirror laid out like the hub, and the 32 shared calibration photos from another repo of it
# (calibration_repo, calibration_files: downloaded, verified and cached like the model), with the
# model's preprocessing (tests/e2e/static_models.json). The real mq-pull --strict must publish an
# INT8 model that is what mq-quantize --calibration makes of the same photos: the same method
# (static INT8, or the fallback to auto that mq-quantize measured, or an already quantized model
# left alone), and in ONNX Runtime the same outputs, bit for bit, on a held-out photo. A second
# --strict pull reuses everything.
# usage: pull_static_case.sh MQ_PULL MQ_QUANTIZE MQ_RUN MODEL.onnx OUT_DIR
set -euo pipefail
mq_pull=$1 mq_quantize=$2 mq_run=$3 model=$4 out_dir=$5
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_model "$model"
skip_without_ort
photos="$(cd "$(dirname "$model")" && pwd)/../calibration/images"
[ -d "$photos" ] || { echo "SKIPPED: $photos not found (the shared calibration photos beside the models)"; exit 0; }
held_out=/usr/share/doc/opencv-doc/examples/data/messi5.jpg
[ -f "$held_out" ] || { echo "SKIPPED: $held_out is missing: install Debian's opencv-doc (scripts/install-deps.sh)"; exit 0; }
key=$(basename "$model" .onnx)
preprocess=$(node -e '
  const cfg = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]];
  if (!cfg) { console.error(`no entry for ${process.argv[2]}`); process.exit(1); }
  console.log(cfg.preprocess.endsWith(".toml") ? `${process.argv[3]}/preprocess/${cfg.preprocess}` : cfg.preprocess);
' "$here/static_models.json" "$key" "$here")

rm -rf "$out_dir"
mkdir -p "$out_dir/mirror/test/$key/resolve/main" "$out_dir/mirror/test/frames/resolve/v1/photos"
cp "$model" "$out_dir/mirror/test/$key/resolve/main/model.onnx"
files=""
for f in $(cd "$photos" && ls | LC_ALL=C sort); do
  cp "$photos/$f" "$out_dir/mirror/test/frames/resolve/v1/photos/$f"
  files="$files${files:+, }\"photos/$f\""
done
cat > "$out_dir/catalog.toml" <<TOML
[[models]]
name = "$key"
task = "test"
repo = "test/$key"
filename = "model.onnx"
sha256 = "$(sha256sum "$model" | cut -d' ' -f1)"
[models.quantize]
method = "static_int8"
calibration_repo = "test/frames"
calibration_revision = "v1"
calibration_files = [$files]
preprocess = "$preprocess"
TOML

pull() {
  "$mq_pull" "$key" --catalog "$out_dir/catalog.toml" --models-dir "$out_dir/models" \
    --endpoint "file://$out_dir/mirror" --strict -q
}
pull
dir="$out_dir/models/$key"
"$mq_quantize" "$model" "$out_dir/cli.onnx" --calibration "$photos" --preprocess "$preprocess" --json > "$out_dir/cli.json" 2> "$out_dir/cli.log"
node "$here/pull_static_check.mjs" --config "$dir/config.json" --report "$out_dir/cli.json" --pulled "$dir" \
  --cli "$out_dir/cli.onnx" --model "$model" --mq-run "$mq_run" --preprocess "$preprocess" --photo "$held_out" \
  --work "$out_dir/check"

# Again, --strict: nothing changed, so nothing is fetched or quantized, and config.json stays as it is.
before=$(stat -c '%i %Y' "$dir/config.json"; sha256sum < "$dir/config.json"; sha256sum < "$dir/model-int8.onnx")
pull
after=$(stat -c '%i %Y' "$dir/config.json"; sha256sum < "$dir/config.json"; sha256sum < "$dir/model-int8.onnx")
[ "$before" = "$after" ] || { echo "FAILED: a second --strict pull changed config.json or the INT8 model"; exit 1; }
echo "PASS $key: a second --strict pull reused the cache"
