#!/usr/bin/env bash
# Where the time of `ivsh guest send FILE` → `ivsh guest recv --out ...` goes, as users run them (issue 12):
# whole processes from start to exit, next to socat over a Unix socket and one dd read of the same file,
# best of RUNS each, same run. Also process start alone, an empty and a 1 KiB file, and each side's own
# --json account of its phases.
#
#   npm run build && scripts/experiments/transfer-path.sh [SIZE=2G] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
SIZE=${1:-2G}
RUNS=${2:-3}
IVSH=${IVSH:-dist/ivsh}
work=$(mktemp -d /dev/shm/ivsh-path-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
sock=$work/arbiter.sock
# Without NOTIFY_SOCKET: run by a systemd unit, with the caller's, this private arbiter would tell that
# unit READY=1 and STOPPING=1 as if it were the unit's own. The subshell execs it: the trap's kill reaches it.
(
  unset NOTIFY_SOCKET
  exec "$IVSH" host --region "$work/region" --size 256MiB --socket "$sock" --state "$work/state"
) 2>/dev/null &
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
export IVSH_SOCKET=$sock IVSH_REGION=$work/region
head -c "$SIZE" /dev/urandom > "$work/file"
head -c 1024 /dev/urandom > "$work/small"
: > "$work/empty"

now() { date +%s.%N; }
best() { sort -n | head -n 1; }
# One transfer, both ends started together; prints the seconds until both exited.
ivsh_once() { # FILE OUT (a new file every run, for both tools)
  local start end
  [ "$2" = /dev/null ] || rm -f "$2"
  start=$(now)
  "$IVSH" guest recv --channel p --out "$2" --json > "$work/recv.json" 2>/dev/null &
  local receiver=$!
  "$IVSH" guest send "$1" --channel p --json > "$work/send.json" 2>/dev/null
  wait "$receiver"
  end=$(now)
  echo "$end - $start" | bc
}
socat_once() { # FILE OUT
  local start end
  rm -f "$work/s.sock"
  [ "$2" = /dev/null ] || rm -f "$2"
  start=$(now)
  socat -b1048576 -u UNIX-LISTEN:"$work/s.sock" CREATE:"$2" &
  local receiver=$!
  while [ ! -S "$work/s.sock" ]; do sleep 0.001; done
  socat -b1048576 -u OPEN:"$1" UNIX-CONNECT:"$work/s.sock"
  wait "$receiver"
  end=$(now)
  echo "$end - $start" | bc
}
dd_once() {
  local start end
  start=$(now)
  dd if="$1" of=/dev/null bs=1M status=none
  end=$(now)
  echo "$end - $start" | bc
}
# The floor for any copy into a new file: one process reading the file and writing the copy, no transport.
dd_copy_once() { # FILE OUT
  local start end
  rm -f "$2"
  start=$(now)
  dd if="$1" of="$2" bs=1M status=none
  end=$(now)
  echo "$end - $start" | bc
}
repeat() { for _ in $(seq 1 "$RUNS"); do "$@"; done | best; }

printf '%-44s %10s\n' "what (best of $RUNS, whole processes)" "seconds"
printf '%-44s %10s\n' "ivsh --version (process start)" "$(repeat bash -c "s=\$(date +%s.%N); $IVSH --version >/dev/null; e=\$(date +%s.%N); echo \"\$e - \$s\" | bc")"
printf '%-44s %10s\n' "dd of the $SIZE file" "$(repeat dd_once "$work/file")"
printf '%-44s %10s\n' "socat $SIZE → /dev/null" "$(repeat socat_once "$work/file" /dev/null)"
printf '%-44s %10s\n' "ivsh $SIZE → /dev/null" "$(repeat ivsh_once "$work/file" /dev/null)"
cp "$work/send.json" "$work/send-big.json"; cp "$work/recv.json" "$work/recv-big.json"
printf '%-44s %10s\n' "dd $SIZE → new file (no transport)" "$(repeat dd_copy_once "$work/file" "$work/out")"
printf '%-44s %10s\n' "socat $SIZE → file" "$(repeat socat_once "$work/file" "$work/out")"
printf '%-44s %10s\n' "ivsh $SIZE → file" "$(repeat ivsh_once "$work/file" "$work/out")"
printf '%-44s %10s\n' "socat 1 KiB → file" "$(repeat socat_once "$work/small" "$work/out")"
printf '%-44s %10s\n' "ivsh 1 KiB → file" "$(repeat ivsh_once "$work/small" "$work/out")"
printf '%-44s %10s\n' "ivsh empty file → file" "$(repeat ivsh_once "$work/empty" "$work/out")"
echo; echo "sender's own account of the last $SIZE → /dev/null transfer:"; cat "$work/send-big.json"
echo; echo "receiver's:"; cat "$work/recv-big.json"
