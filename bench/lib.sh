# bench/lib.sh: shell functions shared by the benchmarks. Source it from a
# bench/<name>/run script (bash, `set -euo pipefail`):
#
#   source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
#
# It sets `repo` (the checkout), ZFS, ZPOOL, PKD, PK and LC_ALL=C, and defines
# the functions below. It starts nothing and installs no trap: each run script
# owns its cleanup (the `bench_stop_pid` helper is meant for it).

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LC_ALL=C

ZFS=/sbin/zfs
ZPOOL=/sbin/zpool
PKD="$repo/build/src/daemon/poolkeeperd"
PK="$repo/build/src/cli/poolkeeper"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }
now_ns() { date +%s%N; }

# seconds_between A_NS B_NS [DECIMALS=2] -> "12.34"
seconds_between() {
  awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { printf "%.*f", d, (b - a) / 1e9 }'
}
# ms_between A_NS B_NS -> "123.45"
ms_between() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'
}

# time_ms CMD... : runs CMD with stdout to /dev/null; prints the elapsed ms.
time_ms() {
  local a b
  a=$(now_ns)
  "$@" >/dev/null
  b=$(now_ns)
  ms_between "$a" "$b"
}

# stats VALUE... -> "median min max", one decimal.
stats() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'
}

# ratio A B [DECIMALS=1] -> A / B
ratio() {
  awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { if (b == 0) print "inf"; else printf "%.*f", d, a / b }'
}

# Builds the binaries when they are missing.
bench_ensure_built() {
  if [[ ! -x "$PKD" || ! -x "$PK" ]]; then
    log "binaries missing: running scripts/build"
    "$repo/scripts/build" >&2
  fi
}

# Sets ZFS_FLAVOUR ("OpenZFS zfs-2.x..." or "zfs-fuse") and ZFS_OPENZFS (1/0).
# `zfs version` exists only in OpenZFS.
bench_detect_zfs() {
  if "$ZFS" version >/dev/null 2>&1; then
    ZFS_FLAVOUR="OpenZFS $("$ZFS" version 2>/dev/null | head -n1)"
    ZFS_OPENZFS=1
  else
    ZFS_FLAVOUR="zfs-fuse"
    ZFS_OPENZFS=0
  fi
}

# bench_stop_pid PID [TENTHS=50]: SIGTERM to that one process, up to TENTHS
# tenths of a second for it to exit, then SIGKILL; reaps it when it is our
# child. Never signals anything but PID.
bench_stop_pid() {
  local pid="$1" tenths="${2:-50}"
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid"
  for _ in $(seq "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  return 0
}

# bench_wait_ready PID READY_FILE LOG_FILE LIMIT_S: waits until poolkeeperd
# (PID, stdout in READY_FILE) printed its readiness line; dies with the tail of
# LOG_FILE if it exits, or after LIMIT_S seconds.
bench_wait_ready() {
  local pid="$1" ready="$2" daemon_log="$3" limit="$4" started
  started=$(now_ns)
  until grep -q '^poolkeeperd ready' "$ready"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$daemon_log" >&2; die "poolkeeperd exited"; }
    (( ($(now_ns) - started) / 1000000000 < limit )) || die "poolkeeperd not ready after ${limit}s"
    sleep 0.1
  done
}
