#!/usr/bin/env bash
# Where does mq-quantize spend its time on the 100 MB MLP? (issue 6: "what dominates, measured")
#
#   bench/profile_quantize.sh [BUILD_DIR] [--model FILE] [--runs N] [--out DIR]
#
# Model: the 100 MB MLP that e2e_quantize.sh generated (default ${TMPDIR:-/tmp}/mq-bench/mlp100.onnx;
# generated here if missing). Warm page cache. Writes --out/profile_quantize.txt with:
#  1. wall time, median of N: the full run, `cp` of the same file, and process startup
#     (`mq-quantize --version`). (`--dry-run` is no "without save" baseline: it quantizes a copy
#     of the whole ModelProto, so it is slower than a full run.)
#  2. `perf stat -r N`: task-clock, page faults, user / sys time;
#  3. `strace --seccomp-bpf -w -c` on a few syscalls only (low overhead): wall time inside fsync,
#     munmap, rename; the number of write() calls;
#  4. `perf record --call-graph dwarf` over N runs: on-CPU share of each phase (inclusive, by the
#     phase's function, and in ms: share x median task-clock) and the top functions by self time,
#     kernel included. perf samples on-CPU time only; waiting in fsync shows in 3.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${here}/../build-bench"
model=""
runs=5
out="${here}/results"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift ;;
    --runs) runs="$2"; shift ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "profile_quantize.sh: unknown option $1" >&2; exit 2 ;;
    *) build="$1" ;;
  esac
  shift
done
build="$(cd "$build" && pwd)"
quantize="${build}/tools/mq-quantize"
[[ -x "$quantize" ]] || { echo "profile_quantize.sh: $quantize not found" >&2; exit 1; }
for tool in perf strace; do
  command -v "$tool" > /dev/null || { echo "profile_quantize.sh: needs $tool (apt-get install -y linux-perf strace)" >&2; exit 1; }
done
work="${TMPDIR:-/tmp}/mq-bench"
mkdir -p "$work" "$out"
if [[ -z "$model" ]]; then
  model="${work}/mlp100.onnx"
  [[ -f "$model" ]] || "${build}/bench/mq-gen-model" mlp "$model" --size-mb 100
fi
dst="${work}/profile"
rm -rf "$dst"; mkdir -p "$dst"
report="${out}/profile_quantize.txt"
for f in "$model" "${model}.data"; do [[ -f "$f" ]] && cat "$f" > /dev/null && cat "$f" > /dev/null; done

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.6f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# Wall time per phase: uprobes (entry and return) on the functions below, plus the exec and exit
# tracepoints of the process, recorded with perf; nested rows are parts of the row above them.
# The probes are removed again on exit. Prints one table row per phase (median of the runs).
phase_fns=(
  "main|main"
  "load|mq::model::load("
  "quantize|mq::quantize("
  "plan_weight|mq::passes::plan_weight"
  "store_weight|mq::passes::store_weight("
  "finish_weights|mq::passes::finish_weights("
  "quantize_job|mq::passes::(anonymous namespace)::quantize_job("
  "quantize_weight|mq::quant::detail::quantize_weight_with("
  "quantize_bytes|mq::quant::quantize_weight_bytes("
  "release|mq::util::mapped_file::release("
  "save|mq::model::save("
  "write_inline|mq::(anonymous namespace)::write_inline("
  "serialize_to|mq::(anonymous namespace)::serialize_to("
  "commit|mq::util::atomic_file::commit("
  "model_dtor|mq::model::~model("
)
phase_rows=(
  "whole process (exec -> exit)|total"
  "  startup: exec -> main (dynamic loading, static init)|startup"
  "  mq::model::load (mmap + parse)|load"
  "  mq::quantize|quantize"
  "    plan_weight (finds weights; float copy only for non-float32 weights)|plan_weight"
  "    passes::store_weight (declares the quantized initializers and queues the job; runs a job itself when the other cores are busy)|store_weight"
  "    passes::finish_weights (waits for the jobs, moves their results into the initializers)|finish_weights"
  "    quantize_job, summed over both threads (one per weight: min/max, quantize, release of the input pages)|quantize_job"
  "      quant::detail::quantize_weight_with (4-byte aligned weights)|quantize_weight"
  "      quant::quantize_weight_bytes (weights not 4-byte aligned: the byte kernels)|quantize_bytes"
  "      util::mapped_file::release (madvise MADV_DONTNEED of the weight's mapped input)|release"
  "  mq::model::save|save"
  "    write_inline (one-file output: framing + large payloads written by reference)|write_inline"
  "    serialize_to (protobuf serialization + write(); external-data output)|serialize_to"
  "    atomic_file::commit (fsync, rename, fsync of the folder)|commit"
  "  mq::model::~model (frees the proto; mq-quantize skips it, see exit)|model_dtor"
  "  exit: end of save -> process exit (_Exit: the kernel unmaps everything)|exit"
)
probes_added=0
remove_probes() { (( probes_added )) && perf probe -q -d 'mqbench:*' > /dev/null 2>&1; probes_added=0; }
trap remove_probes EXIT

phases_report() {
  local entry label name addr r
  perf probe -q -d 'mqbench:*' > /dev/null 2>&1 || true
  for entry in "${phase_fns[@]}"; do
    label="${entry%%|*}"; name="${entry#*|}"
    addr=$(nm -C "$quantize" | awk -v p="$name" 'index(substr($0, 20), p) == 1 && $0 !~ /\.cold/ && ($2 == "T" || $2 == "t") {print "0x" $1; exit}' || true)
    [[ -n "$addr" ]] || { echo "(no symbol for $name; phase not measured)"; continue; }
    perf probe -q -x "$quantize" --add "mqbench:${label}=${addr}" > /dev/null 2>&1 || return 1
    perf probe -q -x "$quantize" --add "mqbench:${label}_r=${addr}%return" > /dev/null 2>&1 || return 1
    probes_added=1
  done
  : > "$dst/phases.tsv"
  for (( r = 0; r < runs; r++ )); do
    rm -f "$dst/q.onnx"; sync
    perf record -q -e 'mqbench:*' -e sched:sched_process_exec -e sched:sched_process_exit -o "$dst/phases.data" -- \
      "$quantize" "$model" "$dst/q.onnx" -q 2> /dev/null
    # Calls pair up per thread (jobs run on both cores); a phase's time is summed over threads.
    perf script -i "$dst/phases.data" -F comm,tid,time,event 2> /dev/null | awk -v run="$r" '
      $1 != "mq-quantize" {next}
      { tid = $2; t = $3; sub(/:$/, "", t); ev = $4; sub(/:$/, "", ev); sub(/^[a-z_]+:/, "", ev); t *= 1000 }
      ev == "sched_process_exec" { exec_t = t; next }
      ev == "sched_process_exit" { if (tid == main_tid) exit_t = t; next }
      ev ~ /_r__return$/ { l = ev; sub(/_r__return$/, "", l); k = l SUBSEP tid
                          if (depth[k] > 0) { total[l] += t - start[k, depth[k]]; depth[k]-- }
                          if (tid == main_tid) last_ret = t
                          if (l == "main") main_ret = t; next }
      { k = ev SUBSEP tid; depth[k]++; start[k, depth[k]] = t; calls[ev]++
        if (ev == "main" && !main_t) { main_t = t; main_tid = tid } }
      END {
        printf "%d\ttotal\t%.3f\t1\n", run, exit_t - exec_t
        printf "%d\tstartup\t%.3f\t1\n", run, main_t - exec_t
        # mq-quantize leaves with _Exit once the output is committed: main does not return, so
        # "exit" runs from the last probed return on the main thread (save) to the process exit.
        printf "%d\texit\t%.3f\t1\n", run, exit_t - (main_ret ? main_ret : last_ret)
        for (l in total) printf "%d\t%s\t%.3f\t%d\n", run, l, total[l], calls[l]
      }' >> "$dst/phases.tsv"
  done
  remove_probes
  printf "| phase | ms (median of %d) | calls per run |\n|---|---:|---:|\n" "$runs"
  for entry in "${phase_rows[@]}"; do
    label="${entry#*|}"; name="${entry%%|*}"
    local m c
    m=$(awk -F'\t' -v l="$label" '$2 == l {print $3}' "$dst/phases.tsv" | median)
    c=$(awk -F'\t' -v l="$label" '$2 == l {c = $4} END {print c + 0}' "$dst/phases.tsv")
    [[ -z "$m" || "$c" == 0 ]] && continue
    printf "| %s | %.1f | %d |\n" "${name//  /"&nbsp;&nbsp;"}" "$m" "$c"
  done
}
wall() {  # median wall seconds of N runs of "$@", output removed and synced before each
  local r t0 t1
  for (( r = 0; r < runs; r++ )); do
    rm -f "$dst"/*; sync
    t0=$EPOCHREALTIME; "$@" > /dev/null; t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.6f\n", b - a}'
  done | median
}

{
  echo "# mq-quantize profile: $(basename "$model") ($(stat -c %s "$model" $([[ -f "${model}.data" ]] && echo "${model}.data") | awk "{s += \$1} END {print s}") bytes with its external data, if any), warm cache"
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# source: $(git -C "${here}/.." describe --always --dirty 2>/dev/null || echo unknown)"
  echo
  echo "## 1. wall time, median of ${runs} (s)"
  full=$(wall "$quantize" "$model" "$dst/q.onnx" -q)
  ver=$(wall "$quantize" --version)
  cp_files=("$model")
  [[ -f "${model}.data" ]] && cp_files+=("${model}.data")
  cpt=$(wall cp "${cp_files[@]}" "$dst/")
  printf "full run            %.4f\n" "$full"
  printf -- "--version (startup) %.4f\n" "$ver"
  printf "cp of the same file %.4f   => full / cp = %.2f\n" "$cpt" "$(awk -v a="$full" -v b="$cpt" 'BEGIN {print a / b}')"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
  echo "## 2. wall time per phase (uprobes on mq-quantize's functions + exec/exit tracepoints), median of ${runs} (ms)"
  phases_report || echo "(uprobes unavailable: needs root and perf probe; skipped)"
  echo
  echo "## 3. perf stat -r ${runs}"
  rm -f "$dst"/*
  perf stat -r "$runs" -e task-clock,page-faults,context-switches,cpu-migrations \
    "$quantize" "$model" "$dst/q.onnx" -q 2> "$dst/stat.txt"
  grep -v '^$' "$dst/stat.txt"
  task_ms=$(awk '/task-clock/ {print $1; exit}' "$dst/stat.txt")
  echo
  echo "## 4. strace --seccomp-bpf -w -c (wall time inside these syscalls, one run; only they are traced)"
  rm -f "$dst"/*; sync
  strace -f --seccomp-bpf -w -c -e trace=fsync,munmap,rename,exit_group -o "$dst/strace.txt" "$quantize" "$model" "$dst/q.onnx" -q
  cat "$dst/strace.txt"
  rm -f "$dst"/*
  strace -f -c -e trace=write -o "$dst/strace_write.txt" "$quantize" "$model" "$dst/q.onnx" -q
  echo "write() calls (counted in a separate traced run; their time under strace is not meaningful): $(awk '$NF == "write" {print $4}' "$dst/strace_write.txt")"
  echo
  echo "## 5. perf record --call-graph dwarf, ${runs} runs: on-CPU samples"
  rm -f "$dst"/*
  perf record -q -F 1000 --call-graph dwarf,65528 -o "$dst/perf.data" -- \
    sh -c "for i in \$(seq $runs); do rm -f '$dst/q.onnx'; '$quantize' '$model' '$dst/q.onnx' -q; done" 2> /dev/null
  perf report -i "$dst/perf.data" --comm mq-quantize --children --sort sym --stdio -g none 2> /dev/null > "$dst/children.txt"
  perf report -i "$dst/perf.data" --comm mq-quantize --no-children --sort dso,sym --stdio -g none 2> /dev/null > "$dst/self.txt"
  echo "### inclusive share of phases: children %, self %, function; then ms = children % x ${task_ms} ms task-clock"
  for sym in 'main' 'mq::model::load' 'mq::(anonymous namespace)::parse_into' 'mq::quantize' \
             'mq::passes::plan_weight' 'mq::tensor_view::to_float' 'mq::quant::quantize_weight' 'mq::quant::detail::quantize_weight_with' \
             'mq::kernels::(anonymous namespace)::minmax' 'mq::kernels::(anonymous namespace)::quantize_span' \
             'mq::passes::store_weight' 'mq::passes::finish_weights' 'mq::model::save' \
             'mq::(anonymous namespace)::serialize_to' '[k] asm_exc_page_fault' '[k] exc_page_fault' '[k] clear_page_erms' \
             '__memcpy_avx512_unaligned_erms' '__memmove_avx512_unaligned_erms' 'ksys_write' '__x64_sys_fsync' \
             '__x64_sys_munmap' '[k] do_exit' '[k] exit_mmap' 'cfree' '__GI___libc_free'; do
    line=$(grep -F "] ${sym#\[k\] }" "$dst/children.txt" | grep -vF "${sym#\[k\] }<" | head -n 1 || true)
    [[ -n "$line" ]] && awk -v t="$task_ms" '{p = $1; sub(/%/, "", p); printf "%s   ~%.1f ms\n", $0, p * t / 100}' <<< "$line"
  done
  echo
  echo "### top 25 by self time (dso, symbol)"
  grep '%' "$dst/self.txt" | head -n 25 || true
  echo
  echo "### hottest instructions of mq::quant::detail::quantize_weight_with (self samples; the inlined loops)"
  perf annotate -i "$dst/perf.data" --stdio -s 'mq::quant::detail::quantize_weight_with' 2> /dev/null |
    grep -E '^ +[0-9]+\.[0-9]+ :' | sort -rn | head -n 12 || true
} | tee "$report"
echo "wrote $report (perf data in $dst)" >&2
