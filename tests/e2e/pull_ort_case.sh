#!/usr/bin/env bash
# End to end for mq-pull: MODEL is served from a file:// mirror laid out like the hub
# ({mirror}/{repo}/resolve/{revision}/{filename}) and pulled by the real mq-pull binary with a
# catalog entry that uses the default quantize options (method dynamic_int8 = mq-quantize's
# default --format auto). Then the pulled INT8 model must run in ONNX Runtime and stay within
# the reviewed `auto` thresholds against the pulled FP32 model.
# With MQ_EXTERNALIZE (mq-externalize-model), the mirror holds the model with its weights in
# external data (model.onnx.data), named by the catalog's extra_files with a sha256 pin.
# usage: pull_ort_case.sh MQ_PULL MQ_QUANTIZE MODEL.onnx OUT_DIR [MQ_EXTERNALIZE]
set -euo pipefail
mq_pull=$1 mq_quantize=$2 model=$3 out_dir=$4 externalize=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/skip_checks.sh"
skip_without_model "$model"
skip_without_ort
key=$(basename "$model" .onnx)
rm -rf "$out_dir"
mirror="$out_dir/mirror/test/$key/resolve/main"
mkdir -p "$mirror"
extra=""
if [ -n "$externalize" ]; then
  "$externalize" "$model" "$mirror/model.onnx"
  [ -s "$mirror/model.onnx.data" ] || { echo "FAILED: no external data written"; exit 1; }
  extra="extra_files = [{ path = \"model.onnx.data\", sha256 = \"$(sha256sum "$mirror/model.onnx.data" | cut -d' ' -f1)\" }]"
else
  cp "$model" "$mirror/model.onnx"
fi
sha=$(sha256sum "$mirror/model.onnx" | cut -d' ' -f1)
cat > "$out_dir/catalog.toml" <<EOF
[[models]]
name = "$key"
description = "$key from the shared models folder (e2e test)"
task = "test"
repo = "test/$key"
filename = "model.onnx"
sha256 = "$sha"
$extra
preprocessing_preset = "none"
[models.quantize]
enabled = true
method = "dynamic_int8"
EOF

# Not a terminal: plain progress lines. --strict: a failed quantization fails the test.
"$mq_pull" "$key" --catalog "$out_dir/catalog.toml" --models-dir "$out_dir/models" \
  --endpoint "file://$out_dir/mirror" --strict
dir="$out_dir/models/$key"
for f in model.onnx model-int8.onnx config.json; do
  [ -f "$dir/$f" ] || { echo "FAILED: mq-pull did not publish $dir/$f"; exit 1; }
done
cmp "$mirror/model.onnx" "$dir/model.onnx"
if [ -n "$externalize" ]; then
  cmp "$mirror/model.onnx.data" "$dir/model.onnx.data"
  [ -s "$dir/model-int8.onnx.data" ] || { echo "FAILED: the INT8 model has no model-int8.onnx.data"; exit 1; }
fi

# config.json says use_int8, and the store quantized with exactly mq-quantize's default options
# (so the `auto` thresholds, measured on mq-quantize --format auto output, apply).
"$mq_quantize" "$model" "$out_dir/${key}_cli.onnx" --report "$out_dir/${key}_cli.json" -q
node --input-type=module - "$dir/config.json" "$out_dir/${key}_cli.json" <<'EOF'
import { readFileSync } from 'node:fs';
const [config, report] = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, 'utf8')));
const fail = (m) => { console.error(`FAILED: ${m}`); process.exit(1); };
if (config.use_int8 !== true) fail(`config.json: use_int8 is ${config.use_int8}`);
if (config.int8_model_path !== 'model-int8.onnx') fail(`config.json: int8_model_path is ${config.int8_model_path}`);
const q = config.quantization ?? {};
if (q.status !== 'quantized') fail(`config.json: quantization.status is ${q.status}`);
if (q.options !== report.options) {
  fail(`the store quantized with "${q.options}", mq-quantize's defaults are "${report.options}"`);
}
console.log(`config.json: use_int8 true, options "${q.options}" (= mq-quantize defaults)`);
EOF

bash "$here/run_node.sh" "$here/ort_compare.mjs" --reference "$dir/model.onnx" --candidate "$dir/model-int8.onnx" \
  --model-key "$key" --thresholds "$here/thresholds.json" --variant auto --runs 8
