#!/usr/bin/env bash
# Side by side, on the standard benchmark captures (../shared/bench/make-capture.sh): wall time,
# MB/s, packets/s and peak RSS of authscope against `cat` (the floor: reading the file) and
# against tshark with the filter of ../shared/bench/README.md, with the ratios.
#
#   sudo scripts/bench-compare.sh [SIZE...]      SIZE: 100m 1g (default: both)
#   BASELINE_BIN=/path/to/old/authscope scripts/bench-compare.sh 1g   # adds "before" rows
#   REPEAT=5 scripts/bench-compare.sh                                  # best of 5 (default 3)
#
# Captures are made once under $BENCH_DIR (default /tmp/authscope-bench) and reused.
# Warm cache: each file is read once before it is timed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
BENCH_DIR=${BENCH_DIR:-/tmp/authscope-bench}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100m 1g)
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --manifest-path "$HERE/Cargo.toml"
BIN="$HERE/target/release/authscope"
command -v tshark >/dev/null || { echo "bench-compare: tshark is missing (apt-get install tshark)" >&2; exit 2; }

bytes_of() { case "$1" in 100m) echo 100000000 ;; 1g) echo 1000000000 ;; *) echo "unknown size $1" >&2; exit 2 ;; esac; }

# run NAME CMD...: prints "NAME|wall_s|rss_kb", the fastest of $REPEAT runs (default 3; a
# shared VM's timings vary by 10 to 20 % from run to run). tshark runs once: it takes minutes.
REPEAT=${REPEAT:-3}
TIMES=$(mktemp)
trap 'rm -f "$TIMES"' EXIT
run() {
  local name=$1; shift
  local n=$REPEAT best=""
  [ "$1" = tshark ] && n=1
  for _ in $(seq "$n"); do
    /usr/bin/time -o "$TIMES" -f '%e|%M' "$@" > /dev/null 2>&1
    local r; r=$(tail -1 "$TIMES")
    if [ -z "$best" ] || awk -v a="${r%%|*}" -v b="${best%%|*}" 'BEGIN { exit !(a < b) }'; then
      best=$r
    fi
  done
  echo "$name|$best"
}

printf '%s\n' "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r)"
printf '%-16s %-38s %9s %10s %12s %10s %9s %9s\n' capture tool wall_s MB/s packets/s rss_MB x_cat x_tshark
for size in "${SIZES[@]}"; do
  cap="$BENCH_DIR/cap$size.pcap"
  if [ ! -f "$cap" ]; then
    "$HERE/../shared/bench/make-capture.sh" "$cap" "$(bytes_of "$size")" 1 > "$BENCH_DIR/make-$size.log" 2>&1
  fi
  for f in "$cap" "${cap%.pcap}.pcapng"; do
    [ -f "$f" ] || continue
    cat "$f" > /dev/null
    mb=$(stat -c %s "$f")
    pkts=$(capinfos -c -M "$f" 2>/dev/null | awk -F: '/Number of packets/{gsub(/ /,"",$2); print $2}')
    results=()
    results+=("$(run cat cat "$f")")
    results+=("$(run "authscope json --threads 1" "$BIN" report --threads 1 --format json "$f")")
    results+=("$(run "authscope json --threads 2" "$BIN" report --threads 2 --format json "$f")")
    # Two flow shards and the merge: three threads, more than this 2-core machine has.
    results+=("$(run "authscope json --threads 3 (2 shards)" "$BIN" report --threads 3 --format json "$f")")
    results+=("$(run "authscope text --threads 1" "$BIN" report --threads 1 "$f")")
    results+=("$(run "authscope text --threads 2" "$BIN" report --threads 2 "$f")")
    if [ -n "${BASELINE_BIN:-}" ]; then
      results+=("$(run "before: json" "$BASELINE_BIN" report --format json "$f")")
      results+=("$(run "before: text" "$BASELINE_BIN" report "$f")")
    fi
    results+=("$(run "tshark -Y auth -T fields" tshark -n -r "$f" -Y 'ntlmssp or http.authorization or http.www_authenticate' -T fields -e frame.number)")
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
    one=$(echo "${results[1]}" | cut -d'|' -f2)
    two=$(echo "${results[2]}" | cut -d'|' -f2)
    awk -v c="$(basename "$f")" -v a="$one" -v b="$two" \
      'BEGIN { printf "%-16s %-38s %9.2fx\n", c, "json: 2 threads over 1", a/(b>0?b:0.001) }'
  done
done
