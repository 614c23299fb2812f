#!/usr/bin/env bash
# End-to-end benchmark of mq-quantize against `cp` of the same file (issue 6).
#
#   bench/e2e_quantize.sh [BUILD_DIR] [--large] [--runs N] [--work DIR] [--out DIR]
#
# Generates the models with mq-gen-model (MLPs of 17/34/50/100/200 MB, a BERT-like encoder with
# 4 layers; with --large also an MLP of ~2.1 GB whose weights are in external data), then for each
# model: warms the page cache, and runs `cp IN OUT` and `mq-quantize IN OUT -q` alternately,
# N times each (default 5), under /usr/bin/time -f "%e %M". Reports medians.
#
#  * Wall time is taken by bash ($EPOCHREALTIME, microseconds) around the whole
#    `/usr/bin/time CMD` process; /usr/bin/time's %e (10 ms resolution) is kept in the raw TSV.
#    Both commands pay the same fork/exec of /usr/bin/time (measured once, printed).
#  * Before every timed run the previous output is deleted and `sync` flushes dirty pages, so
#    no run pays for the writeback or unlink of an earlier one (outside the timing).
#  * Peak RSS is /usr/bin/time's %M (max resident set, KiB).
#  * `cp` is GNU coreutils cp: on ext4 it uses copy_file_range (an in-kernel copy of the page
#    cache, no fsync); mq-quantize writes a temporary file, fsyncs it and renames it.
#
# Output (in --out, default bench/results): e2e_quantize.md (markdown table), e2e_quantize.tsv
# (one line per model: medians), e2e_quantize_runs.tsv (every run).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${here}/../build-bench"
large=0
runs=5
work="${TMPDIR:-/tmp}/mq-bench"
out="${here}/results"
positional_done=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --large) large=1 ;;
    --runs) runs="$2"; shift ;;
    --work) work="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "e2e_quantize.sh: unknown option $1" >&2; exit 2 ;;
    *) if [[ $positional_done == 1 ]]; then echo "e2e_quantize.sh: unexpected argument $1" >&2; exit 2; fi
       build="$1"; positional_done=1 ;;
  esac
  shift
done
build="$(cd "$build" && pwd)"
quantize="${build}/tools/mq-quantize"
gen="${build}/bench/mq-gen-model"
for exe in "$quantize" "$gen"; do
  [[ -x "$exe" ]] || { echo "e2e_quantize.sh: $exe not found; build targets mq-quantize and mq-gen-model in $build" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "e2e_quantize.sh: /usr/bin/time is missing (apt-get install -y time)" >&2; exit 1; }
mkdir -p "$work" "$out"
work="$(cd "$work" && pwd)"

# Disk space: inputs + one output + one cp copy of the biggest model, plus a margin.
avail_mb=$(( $(df -Pk "$work" | awk 'NR==2 {print $4}') / 1024 ))
need_mb=$(( 385 * 2 + 600 ))             # all regular models + copies of the 200 MB one
(( large )) && need_mb=$(( need_mb + 2150 * 2 + 600 ))
if (( avail_mb < need_mb )); then
  echo "e2e_quantize.sh: $work has ${avail_mb} MB free, need ~${need_mb} MB" >&2
  exit 1
fi

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ---- models ----
# The MLP generator works in whole 2048x2048 layers (16.8 MB each), so a sweep of 10/25/50/100/200
# MB gives 1, 1, 3, 6 and 12 layers; the sweep asks for 17/34/50/100/200 MB instead: 1, 2, 3, 6, 12
# layers (16.8, 33.6, 50.4, 100.7, 201.4 MB), five distinct sizes.
# name|generator arguments
models=(
  "mlp17|mlp --size-mb 17"
  "mlp34|mlp --size-mb 34"
  "mlp50|mlp --size-mb 50"
  "mlp100|mlp --size-mb 100"
  "mlp200|mlp --size-mb 200"
  "bert4|bert --layers 4"
)
# mq-gen-model computes size_mb * 1000 * 1000 in an int: 2138 is the largest size that does not
# overflow; it rounds to 127 layers of 2048x2048 floats = 2.13 GB of weights (1.98 GiB).
(( large )) && models+=("mlp2138ext|mlp --size-mb 2138 --external")

for entry in "${models[@]}"; do
  name="${entry%%|*}"
  args="${entry#*|}"
  file="${work}/${name}.onnx"
  stamp="${work}/${name}.args"
  if [[ -f "$file" && -f "$stamp" && "$(cat "$stamp")" == "$args" && "$file" -nt "$gen" ]]; then continue; fi
  echo "generating ${name}.onnx ($args)" >&2
  rm -f "$file" "${file}.data"
  # shellcheck disable=SC2086
  "$gen" ${args%% *} "$file" ${args#* }
  echo "$args" > "$stamp"
done

# ---- helpers ----
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.6f\n", (a[NR/2]+a[NR/2+1])/2}'; }

files_of() {  # the model file and its external data, if any
  local f="$1"
  if [[ -f "${f}.data" ]]; then echo "$f ${f}.data"; else echo "$f"; fi
}

bytes_of() { local total=0 f; for f in $(files_of "$1"); do total=$(( total + $(stat -c %s "$f") )); done; echo "$total"; }

# Runs one command under /usr/bin/time; prints "wall_s time_e_s maxrss_kib cpu_s" (cpu = user + sys).
timed() {
  local tf t0 t1
  tf="$(mktemp)"
  t0=$EPOCHREALTIME
  /usr/bin/time -o "$tf" -f "%e %M %U %S" "$@" > /dev/null
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" '{printf "%.6f %s %s %.2f\n", b - a, $1, $2, $3 + $4}' "$tf"
  rm -f "$tf"
}


# Runs "$@" once in the background and polls /proc/PID/status every ~2 ms; prints the largest
# RssAnon and RssFile seen (KiB). /usr/bin/time's %M is the exact peak of their sum; this split
# tells heap (anonymous) memory from pages of the mapped input file (page cache, reclaimable).
mem_sample() {
  local pid anon=0 file=0 state k v rest
  "$@" > /dev/null &
  pid=$!
  while :; do
    state=""
    while read -r k v rest; do
      case "$k" in
        State:) state="$v" ;;
        RssAnon:) anon=$(( v > anon ? v : anon )) ;;
        RssFile:) file=$(( v > file ? v : file )) ;;
      esac
    done 2> /dev/null < "/proc/${pid}/status" || break
    [[ -z "$state" || "$state" == Z ]] && break
    sleep 0.002
  done
  wait "$pid"
  echo "$anon $file"
}

# fork/exec cost of /usr/bin/time itself (the same for every command)
overhead=$(for _ in 1 2 3 4 5 6 7; do timed true; done | awk '{print $1}' | median)

dst="${work}/out"
rm -rf "$dst"
mkdir -p "$dst"
runs_tsv="${out}/e2e_quantize_runs.tsv"
sum_tsv="${out}/e2e_quantize.tsv"
md="${out}/e2e_quantize.md"
printf "model\trun\ttool\twall_s\ttime_e_s\tmaxrss_kib\tloadavg1\tcpu_s\n" > "$runs_tsv"
printf "model\tfile_bytes\tout_bytes\tcp_s\tquantize_s\tratio\tquantize_rss_kib\trss_over_file\tcp_rss_kib\tloadavg_start\tloadavg_end\tpeak_anon_kib\tpeak_file_kib\tcp_cpu_s\tquantize_cpu_s\tcpu_ratio\n" > "$sum_tsv"

for entry in "${models[@]}"; do
  name="${entry%%|*}"
  in="${work}/${name}.onnx"
  in_files=( $(files_of "$in") )
  size=$(bytes_of "$in")
  # warm the page cache (twice: the second pass proves it is resident)
  cat "${in_files[@]}" > /dev/null
  cat "${in_files[@]}" > /dev/null
  load_start="$(loadavg)"
  echo "== ${name}: $(( size / 1000000 )) MB; load ${load_start}" >&2
  for (( r = 1; r <= runs; r++ )); do
    # cp: the model file (and its data file) into an empty folder
    rm -f "$dst"/*; sync
    read -r wall e rss cpu < <(timed cp "${in_files[@]}" "$dst/")
    printf "%s\t%d\tcp\t%s\t%s\t%s\t%s\t%s\n" "$name" "$r" "$wall" "$e" "$rss" "$(cut -d' ' -f1 /proc/loadavg)" "$cpu" >> "$runs_tsv"
    # mq-quantize
    rm -f "$dst"/*; sync
    read -r wall e rss cpu < <(timed "$quantize" "$in" "$dst/${name}.q.onnx" -q)
    printf "%s\t%d\tmq-quantize\t%s\t%s\t%s\t%s\t%s\n" "$name" "$r" "$wall" "$e" "$rss" "$(cut -d' ' -f1 /proc/loadavg)" "$cpu" >> "$runs_tsv"
  done
  out_size=$(bytes_of "$dst/${name}.q.onnx")
  rm -f "$dst"/*
  # one more, untimed run: peak anonymous vs file-backed resident memory
  sync
  read -r anon_kib file_kib < <(mem_sample "$quantize" "$in" "$dst/${name}.q.onnx" -q)
  rm -f "$dst"/*
  load_end="$(loadavg)"
  col() { awk -F'\t' -v m="$name" -v t="$1" -v c="$2" '$1==m && $3==t {print $c}' "$runs_tsv" | median; }
  cp_s=$(col cp 4); q_s=$(col mq-quantize 4); q_rss=$(col mq-quantize 6); cp_rss=$(col cp 6)
  cp_cpu=$(col cp 8); q_cpu=$(col mq-quantize 8)
  awk -v n="$name" -v fb="$size" -v ob="$out_size" -v c="$cp_s" -v q="$q_s" -v qr="$q_rss" -v cr="$cp_rss" \
      -v l0="$load_start" -v l1="$load_end" -v an="$anon_kib" -v fi="$file_kib" -v cc="$cp_cpu" -v qc="$q_cpu" \
      'BEGIN {printf "%s\t%d\t%d\t%.4f\t%.4f\t%.2f\t%d\t%.2f\t%d\t%s\t%s\t%d\t%d\t%.3f\t%.3f\t%s\n", n, fb, ob, c, q, q / c, qr, qr * 1024 / fb, cr, l0, l1, an, fi, cc, qc, (cc > 0 ? sprintf("%.2f", qc / cc) : "nan")}' >> "$sum_tsv"
done

# ---- markdown ----
{
  echo "mq-quantize vs cp, whole process, warm page cache, median of ${runs} runs each (alternating)."
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs; mq-quantize $("$quantize" --version 2>/dev/null | head -n 1 || true);"
  echo "Source tree at measurement time: commit $(git -C "${here}/.." describe --always --dirty 2>/dev/null || echo unknown) (-dirty: uncommitted changes; run_all.sh builds before it measures)."
  echo "fork/exec of /usr/bin/time alone: $(awk -v o="$overhead" 'BEGIN {printf "%.1f", o * 1000}') ms (included in both columns)."
  echo
  echo "| model | file MB | cp s | mq-quantize s | ratio (goal <= 1.5) | CPU s (user+sys): cp, mq-quantize | peak RSS MB | RSS / file (goal <= 2) | of it: heap (anon) MB + mapped file MB | output MB | load avg (start -> end) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|"
  awk -F'\t' 'NR > 1 {
      split($10, s, " "); split($11, e, " ");
      printf "| %s | %.1f | %.3f | %.3f | %.2fx | %.2f, %.2f | %.0f | %.2fx | %.0f + %.0f | %.1f | %s -> %s |\n", $1, $2 / 1e6, $4, $5, $6, $14, $15, $7 * 1024 / 1e6, $8, $12 * 1024 / 1e6, $13 * 1024 / 1e6, $3 / 1e6, s[1], e[1] }' "$sum_tsv"
  echo
  echo "Peak RSS is /usr/bin/time's maximum resident set (median of the runs). The split is the largest RssAnon and RssFile"
  echo "seen by polling /proc/PID/status every ~2 ms during one extra run (the two peaks need not coincide)."
  echo "CPU time is /usr/bin/time's user + sys (10 ms resolution), median of the runs: less sensitive to other jobs than wall time."
} > "$md"
cat "$md"
echo "wrote $md, $sum_tsv, $runs_tsv" >&2
