#!/usr/bin/env bash
# Fuzz smoke run (issue 10): builds the fuzz targets, seeds their corpora (fuzz/seed.sh), then
# runs each target for FUZZ_SECONDS (default 60), one fuzzer at a time. Exits 1 if any target
# crashed, hung or ran out of memory; the input that did it is kept in fuzz/artifacts/<target>/
# and its log is printed.
#
#   scripts/fuzz-smoke.sh                        # every target, 60 s each
#   FUZZ_SECONDS=600 FUZZ_TARGETS="ntlm http" scripts/fuzz-smoke.sh
#
# Needs cargo-fuzz (installed here if missing), and python3 for the seeds (without it the
# targets start from whatever fuzz/corpus holds). The stable toolchain runs libFuzzer with
# RUSTC_BOOTSTRAP=1. Built without a sanitizer: authscope forbids unsafe code, so panics,
# overflows, hangs and memory growth are what we look for, and the fuzzer runs faster without
# ASan's checks. Set FUZZ_SANITIZER=address for ASan.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-ntlm spnego kerberos auth_header digest token_mask http http2 tcp tls tls_streams net pcap_reader pipeline shards files server_log kdc}
sanitizer=${FUZZ_SANITIZER:-none}
export RUSTC_BOOTSTRAP=1

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
target_dir=${CARGO_TARGET_DIR:-$root/fuzz/target}
(cd fuzz && cargo fuzz build -s "$sanitizer" --target-dir "$target_dir")
bin_dir=$target_dir/$triple/release

if command -v python3 >/dev/null 2>&1; then
  sh fuzz/seed.sh >/dev/null
else
  echo "fuzz: python3 not found, no new seeds (fuzzing from fuzz/corpus as it is)" >&2
fi

# Per-target inputs larger than libFuzzer's default (taken from the seeds) are worth trying
# where a record or a message head can be long.
max_len() {
  case $1 in
    pipeline | shards | files) echo 65536 ;;
    pcap_reader) echo 16384 ;;
    http | net) echo 8192 ;;
    tls) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()
for t in $targets; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  printf '=== fuzz %s (%ss)\n' "$t" "$seconds"
  # -jobs=1 -workers=1: one fuzzing process, its log in $work/fuzz-0.log.
  if (cd "$work" && "$bin_dir/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
      -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 -jobs=1 -workers=1 \
      -artifact_prefix="$root/fuzz/artifacts/$t/" "$root/fuzz/corpus/$t" >/dev/null 2>&1); then
    grep -E '^(Done|stat::number_of_executed_runs|stat::peak_rss_mb)' "$work/fuzz-0.log" | tr '\n' ' '
    echo
  else
    failed+=("$t")
    tail -n 40 "$work/fuzz-0.log" || true
    ls -l "fuzz/artifacts/$t/" || true
  fi
  rm -f "$work"/fuzz-*.log
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no crash in $(echo "$targets" | wc -w) targets x ${seconds}s"
