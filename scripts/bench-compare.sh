#!/usr/bin/env bash
# Side by side, on the standard benchmark captures (scripts/make-bench-capture.sh): wall time,
# MB/s, packets/s and peak RSS of authscope (report json and text, export json) against `cat`
# (the floor: reading the file) and against tshark showing the frames of HTTP authentication
# (`-Y 'ntlmssp or http.authorization or http.www_authenticate' -T fields`), with the ratios. Then a second table for the terminal UI (`authscope open`, measured from
# outside with tmux by scripts/ui_latency.py --load): time to the first frame, time until the
# status line says "read in full", and the UI process's peak RSS.
#
#   sudo scripts/bench-compare.sh [SIZE...]      SIZE: 100m 1g https100m https1g (default: all)
#   BASELINE_BIN=/path/to/old/authscope scripts/bench-compare.sh 1g   # adds "before" rows
#   REPEAT=5 scripts/bench-compare.sh                                  # best of 5 (default 3)
#
# With BASELINE_BIN every authscope row has a "before:" row, run with the same arguments. A
# binary whose `export` (or `report`) has no --threads, as `BIN SUBCOMMAND --help` shows, gets
# its rows of that subcommand without it instead (export read with one thread before it had
# the option). Export writes to a temporary file under $BENCH_DIR, deleted at the end.
# Captures are made once under $BENCH_DIR (default /tmp/authscope-bench) and reused.
#
# HTTPS rows: the same traffic over TLS 1.2 and 1.3 (scripts/make-bench-capture.sh --https, made as
# $BENCH_DIR/https$SIZE.pcap with its key log https$SIZE.keylog beside it), read with the key
# log by authscope (report json and text, `--keylog`) and by tshark (`-o tls.keylog_file:`,
# the same filter), with "before:" rows for BASELINE_BIN when it has --keylog.
#
#   sudo scripts/bench-compare.sh https1g                 # only the HTTPS 1 GB capture
#
# Warm cache: each file is read once before it is timed. The UI table (plain captures only)
# needs tmux and python3; without them it is left out.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/authscope-bench}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100m 1g https100m https1g)
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml"
BIN="${CARGO_TARGET_DIR:-$HERE/target}/release/authscope"
command -v tshark >/dev/null || { echo "bench-compare: tshark is missing (apt-get install tshark)" >&2; exit 2; }
UI=1
command -v tmux >/dev/null && command -v python3 >/dev/null || UI=0

bytes_of() { case "${1#https}" in 100m) echo 100000000 ;; 1g) echo 1000000000 ;; *) echo "unknown size $1" >&2; exit 2 ;; esac; }

# takes_threads BIN SUBCOMMAND: whether the subcommand has --threads. The help is read whole
# (grep -q would end the pipe early and pipefail fail it).
takes_threads() {
  local help
  help=$("$1" "$2" --help 2>/dev/null) || return 1
  [[ $help == *--threads* ]]
}

# run NAME CMD...: appends "NAME|wall_s|rss_kb" to results, the fastest of $REPEAT runs
# (default 3; a shared VM's timings vary by 10 to 20 % from run to run). tshark runs once: it
# takes minutes. A command that fails stops the benchmark (its row would be a wrong time).
REPEAT=${REPEAT:-3}
TIMES=$(mktemp)
ERRS=$(mktemp)
EXPORT_OUT=$(mktemp --suffix=.json "$BENCH_DIR/export-XXXXXX")
trap 'rm -f "$TIMES" "$ERRS" "$EXPORT_OUT"' EXIT
run() {
  local name=$1; shift
  local n=$REPEAT best="" r
  [ "$1" = tshark ] && n=1
  for _ in $(seq "$n"); do
    if ! /usr/bin/time -o "$TIMES" -f '%e|%M' "$@" > /dev/null 2> "$ERRS"; then
      echo "bench-compare: $name failed: $*" >&2
      tail -5 "$ERRS" >&2
      exit 1
    fi
    r=$(tail -1 "$TIMES")
    if [ -z "$best" ] || awk -v a="${r%%|*}" -v b="${best%%|*}" 'BEGIN { exit !(a < b) }'; then
      best=$r
    fi
  done
  results+=("$name|$best")
}

# https_rows BIN PREFIX FILE KEYLOG: the HTTPS rows of one binary (a binary without --keylog,
# as its report --help shows, has none).
https_rows() {
  local bin=$1 pre=$2 f=$3 k=$4 help
  help=$("$bin" report --help 2>/dev/null) || return 0
  [[ $help == *--keylog* ]] || return 0
  run "${pre}json --threads 1 --keylog" "$bin" report --threads 1 --format json --keylog "$k" "$f"
  run "${pre}text --threads 1 --keylog" "$bin" report --threads 1 --keylog "$k" "$f"
  run "${pre}json --threads 2 --keylog" "$bin" report --threads 2 --format json --keylog "$k" "$f"
}

# authscope_rows BIN PREFIX FILE: the rows of one binary, named PREFIX...; the baseline's are
# the same with the prefix "before: ".
authscope_rows() {
  local bin=$1 pre=$2 f=$3
  if takes_threads "$bin" report; then
    run "${pre}json --threads 1" "$bin" report --threads 1 --format json "$f"
    run "${pre}json --threads 2" "$bin" report --threads 2 --format json "$f"
    # Two flow shards and the merge: three threads, more than this 2-core machine has.
    run "${pre}json --threads 3 (2 shards)" "$bin" report --threads 3 --format json "$f"
    run "${pre}text --threads 1" "$bin" report --threads 1 "$f"
    run "${pre}text --threads 2" "$bin" report --threads 2 "$f"
  else
    run "${pre}json" "$bin" report --format json "$f"
    run "${pre}text" "$bin" report "$f"
  fi
  if takes_threads "$bin" export; then
    run "${pre}export json --threads 1" "$bin" export --threads 1 --format json -o "$EXPORT_OUT" "$f"
    run "${pre}export json --threads 2" "$bin" export --threads 2 --format json -o "$EXPORT_OUT" "$f"
  else
    run "${pre}export json" "$bin" export --format json -o "$EXPORT_OUT" "$f"
  fi
}

# wall_of NAME: the wall time of the row NAME in results.
wall_of() {
  local r
  for r in "${results[@]}"; do
    if [ "${r%%|*}" = "$1" ]; then r=${r#*|}; echo "${r%%|*}"; return; fi
  done
  echo 0
}

# ui_run NAME BIN FILE PACKETS: appends "capture|NAME|first_frame_ms|loaded_ms|rss_kb|bytes|
# packets" to ui_results, the run of $REPEAT that was loaded soonest.
ui_results=()
ui_run() {
  local name=$1 bin=$2 f=$3 pkts=$4 out best="" best_ms=0
  for _ in $(seq "$REPEAT"); do
    out=$(python3 "$HERE/scripts/ui_latency.py" --load "$bin" "$f") \
      || { echo "bench-compare: $name failed on $f" >&2; exit 1; }
    if [[ ! $out =~ first_frame_ms=([0-9]+)\ loaded_ms=([0-9]+)\ peak_rss_kb=([0-9]+|na) ]]; then
      echo "bench-compare: $name: unexpected output from ui_latency.py: $out" >&2
      exit 1
    fi
    if [ -z "$best" ] || [ "${BASH_REMATCH[2]}" -lt "$best_ms" ]; then
      best_ms=${BASH_REMATCH[2]}
      best="${BASH_REMATCH[1]}|${BASH_REMATCH[2]}|${BASH_REMATCH[3]}"
    fi
  done
  ui_results+=("$(basename "$f")|$name|$best|$(stat -L -c %s "$f")|$pkts")
}

printf '%s\n' "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
printf '%-16s %-38s %9s %10s %12s %10s %9s %9s\n' capture tool wall_s MB/s packets/s rss_MB x_cat x_tshark
for size in "${SIZES[@]}"; do
  keylog=""
  if [[ $size == https* ]]; then
    cap="$BENCH_DIR/$size.pcap"
    keylog="${cap%.pcap}.keylog"
    if [ ! -f "$cap" ] || [ ! -f "$keylog" ]; then
      "$HERE/scripts/make-bench-capture.sh" --https "$cap" "$(bytes_of "$size")" 1 > "$BENCH_DIR/make-$size.log" 2>&1 \
        || { echo "bench-compare: making $cap failed (see $BENCH_DIR/make-$size.log)" >&2; exit 1; }
    fi
  else
    cap="$BENCH_DIR/cap$size.pcap"
    if [ ! -f "$cap" ]; then
      "$HERE/scripts/make-bench-capture.sh" "$cap" "$(bytes_of "$size")" 1 > "$BENCH_DIR/make-$size.log" 2>&1 \
        || { echo "bench-compare: making $cap failed (see $BENCH_DIR/make-$size.log)" >&2; exit 1; }
    fi
  fi
  for f in "$cap" "${cap%.pcap}.pcapng"; do
    [ -f "$f" ] || continue
    cat "$f" > /dev/null
    mb=$(stat -L -c %s "$f")
    pkts=$(capinfos -c -M "$f" 2>/dev/null | awk -F: '/Number of packets/{gsub(/ /,"",$2); print $2}')
    results=()
    run cat cat "$f"
    if [ -n "$keylog" ]; then
      cat "$keylog" > /dev/null
      https_rows "$BIN" "authscope " "$f" "$keylog"
      if [ -n "${BASELINE_BIN:-}" ]; then
        https_rows "$BASELINE_BIN" "before: " "$f" "$keylog"
      fi
      run "tshark --keylog -Y auth -T fields" tshark -n -r "$f" -o "tls.keylog_file:$keylog" \
        -Y 'ntlmssp or http.authorization or http.www_authenticate' -T fields -e frame.number
    else
      authscope_rows "$BIN" "authscope " "$f"
      if [ -n "${BASELINE_BIN:-}" ]; then
        authscope_rows "$BASELINE_BIN" "before: " "$f"
      fi
      run "tshark -Y auth -T fields" tshark -n -r "$f" -Y 'ntlmssp or http.authorization or http.www_authenticate' -T fields -e frame.number
    fi
    cat_s=$(echo "${results[0]}" | cut -d'|' -f2)
    tshark_s=$(echo "${results[-1]}" | cut -d'|' -f2)
    for r in "${results[@]}"; do
      name=$(echo "$r" | cut -d'|' -f1)
      wall=$(echo "$r" | cut -d'|' -f2)
      rss=$(echo "$r" | cut -d'|' -f3)
      awk -v c="$(basename "$f")" -v n="$name" -v w="$wall" -v r="$rss" -v b="$mb" -v p="$pkts" \
          -v cs="$cat_s" -v ts="$tshark_s" 'BEGIN {
        w2 = (w > 0 ? w : 0.001);
        printf "%-16s %-38s %9.2f %10.0f %12.0f %10.1f %9.1f %9.2f\n", c, n, w, b/1e6/w2, p/w2, r/1024, w2/(cs>0?cs:0.001), w2/(ts>0?ts:0.001)
      }'
    done
    [ -n "$keylog" ] && continue
    awk -v c="$(basename "$f")" -v a="$(wall_of "authscope json --threads 1")" -v b="$(wall_of "authscope json --threads 2")" \
      'BEGIN { printf "%-16s %-38s %9.2fx\n", c, "json: 2 threads over 1", a/(b>0?b:0.001) }'
    if [ "$UI" = 1 ]; then
      ui_run "authscope open" "$BIN" "$f" "$pkts"
      if [ -n "${BASELINE_BIN:-}" ]; then
        ui_run "before: open" "$BASELINE_BIN" "$f" "$pkts"
      fi
    fi
  done
done

# The UI: from exec to the first frame and to "read in full" on the status line, as tmux shows
# the pane (120x40, polled every 2 ms: upper bounds); MB/s and packets/s over the loading time;
# peak RSS (VmHWM) of the UI once loaded.
echo
if [ "$UI" = 1 ] && [ ${#ui_results[@]} -gt 0 ]; then
  printf '%-16s %-38s %9s %10s %12s %10s %9s\n' capture "UI (tmux 120x40)" loaded_s MB/s packets/s rss_MB first_ms
  for r in "${ui_results[@]}"; do
    IFS='|' read -r c name first loaded rss b p <<< "$r"
    awk -v c="$c" -v n="$name" -v f="$first" -v l="$loaded" -v r="$rss" -v b="$b" -v p="$p" 'BEGIN {
      s = l / 1000; s2 = (s > 0 ? s : 0.001);
      rs = (r == "na" ? sprintf("%10s", "na") : sprintf("%10.1f", r/1024));
      printf "%-16s %-38s %9.2f %10.0f %12.0f %s %9d\n", c, n, s, b/1e6/s2, p/s2, rs, f
    }'
  done
elif [ "$UI" = 0 ]; then
  echo "UI rows left out: tmux or python3 is missing"
fi
