#!/usr/bin/env bash
# Measures, in one VM boot, guest->host and host->guest throughput through ivsh and through the guest's
# TCP to the host (the VM's user-mode NIC: launch.sh --forward), plus the guest's mapping probe
# (resource2 vs resource2_wc). Prints one line per run and direction; figures, not pass/fail, but a transfer
# that fails makes the script fail.
set -euo pipefail

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
REPO=$(cd "$HERE/../.." && pwd)
SIZE=64M
RUNS=3
IVSH="${IVSH_BIN:-$REPO/dist/ivsh}"
# How long the guest's ivsh waits for its host end to show up (--timeout): a host end that failed before it
# connected left the guest's run, and the script, waiting for ever. The host's ends wait from before the
# boot, and the next run's within a process start: a minute is a liveness bound, not a measure.
PEER_WAIT=60s

usage() {
  cat <<'EOF'
Usage: scripts/qemu/throughput.sh [--size SIZE] [--runs N] [--ivsh CMD] [-- launch.sh options]

Starts a private arbiter, boots one VM (scripts/qemu/launch.sh) and in it, RUNS times each:
  ivsh g2h   ivsh guest send FILE        -> host `ivsh guest recv --out -`
  tcp g2h    nc 10.0.2.100 7778 < FILE   -> host `head -c SIZE >/dev/null`   (launch.sh --forward)
  ivsh h2g   ivsh guest recv --out FILE  <- host `ivsh guest send FILE`
  tcp h2g    nc 10.0.2.100 7779 > FILE   <- host `cat FILE`                  (launch.sh --forward)
FILE is SIZE random bytes in the guest's /tmp (tmpfs). ivsh lines give the transfer as ivsh times it
(connected, first chunk to verified digest) and the command's wall time (process start, mapping
probe and connect included); tcp lines give wall time (nc start included, which is negligible).
Wall times come from the guest's /proc/uptime (10 ms resolution). A transfer that fails, or brings
fewer than SIZE bytes, gets a FAILED line instead of figures, and the script exits 1. A host end
that fails has its log shown (whether the guest's side failed with it or not) and fails the script (1,
or launch.sh's status if that is not 0); otherwise its exit status is launch.sh's. A guest ivsh
command whose host end does not show up within 60 s fails (its host end failed before it connected).
EOF
}

die() {
  echo "throughput.sh: error: $*" >&2
  exit 2
}
need_arg() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }

LAUNCH_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --size) need_arg "$1" $#; SIZE=$2; shift 2 ;;
    --runs) need_arg "$1" $#; RUNS=$2; shift 2 ;;
    --ivsh) need_arg "$1" $#; IVSH=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; LAUNCH_ARGS=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
# Checked before the arbiter starts and the VM boots: found in the guest, a bad value cost a boot and
# then measured nothing (a --runs that is no number) or divided by zero (--size 0).
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs '$RUNS' is not a whole number of 1 or more"
[[ "$SIZE" =~ ^[1-9][0-9]*([KMGT](iB)?)?$ ]] ||
  die "--size '$SIZE' is not a byte count of 1 or more, like 65536, 64M or 1GiB"

D=$(mktemp -d /tmp/ivsh-throughput.XXXXXX)
S=$(mktemp -d /dev/shm/ivsh-throughput.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$D" "$S"
}
trap cleanup EXIT

head -c "$SIZE" /dev/urandom >"$S/h2g.bin"
BYTES=$(stat -c %s "$S/h2g.bin")
read -r -a ivsh <<<"$IVSH"
client=(--socket "$D/arbiter.sock" --region "$S/region")

# Without NOTIFY_SOCKET: run by a systemd unit, with the caller's, this private arbiter would tell that
# unit READY=1 and STOPPING=1 as if it were the unit's own. The subshell execs it: $! is the arbiter's pid.
(
  unset NOTIFY_SOCKET
  exec "${ivsh[@]}" host --region "$S/region" --socket "$D/arbiter.sock" --state "$D/state" --size 256MiB
) 2>"$D/arbiter.log" &
PIDS+=($!)
# An arbiter that exited (a --ivsh that does not run) ends the wait; its log says why.
for _ in $(seq 100); do [ -S "$D/arbiter.sock" ] && break; kill -0 "${PIDS[0]}" 2>/dev/null || break; sleep 0.1; done
if ! [ -S "$D/arbiter.sock" ]; then
  echo "throughput.sh: error: the arbiter ('$IVSH host') did not start (check --ivsh or IVSH_BIN); its log:" >&2
  sed 's/^/  | /' "$D/arbiter.log" >&2
  exit 1
fi

# The host's ends of the ivsh transfers, one per run, in the guest's order. Each command runs in the
# background of its loop, which stops it when the cleanup stops the loop: a loop killed while its command
# ran left that command behind (SIGTERM to this script), waiting on a region and an arbiter gone.
# A run whose command fails does not end the loop (the guest's later runs would wait for their peer for
# ever); it leaves $D/host-failed, read once launch.sh has ended: a loop then may still wait for a guest
# run that never comes (the guest's side failed too), so its exit status cannot be waited for.
HOST_ENDS=()
host_end() {
  (
    c=
    # Waited for, not only signalled: the script's cleanup waits for this loop, and an end still exiting
    # outlived the script (a whole-run failure of test/vm/throughput-stop.test.ts).
    trap '[ -z "$c" ] || { kill "$c" 2>/dev/null; wait "$c" 2>/dev/null; }; exit 143' TERM
    for _ in $(seq "$RUNS"); do
      "${ivsh[@]}" "$@" 2>>"$D/host.log" &
      c=$!
      wait "$c" || : >"$D/host-failed"
    done
  ) &
  PIDS+=($!)
  HOST_ENDS+=($!)
}
host_end guest recv --channel g2h --out - "${client[@]}" >/dev/null
host_end guest send "$S/h2g.bin" --channel h2g "${client[@]}"

GUEST=$(
  cat <<EOF
now() { read -r up _ </proc/uptime; echo "\$up"; }
wall() { awk -v a="\$1" -v b="\$2" -v n=$BYTES 'BEGIN { printf "wall %6.2f s %7.1f MB/s", b - a, n / (b - a) / 1e6 }'; }
ivsh_rate() { sed -n 's/.*"seconds":\([0-9.e-]*\).*/\1/p' | awk -v n=$BYTES '{ printf "ivsh-timed %6.3f s %7.1f MB/s", \$1, n / \$1 / 1e6 }'; }
ivsh example mapping-probe
head -c $BYTES /dev/urandom > /tmp/g2h.bin
# A transfer that failed, or brought fewer bytes than sent, has no figure: its line says FAILED, and the
# script exits 1 (its status is launch.sh's, and so throughput.sh's).
failed=0
line() {
  if [ -z "\$2" ]; then echo "run \$run \$1 \$(wall \$3 \$4)\${5:+  \$5}"; else echo "run \$run \$1 FAILED (\$2)"; failed=1; fi
}
why() { if [ "\$1" != 0 ]; then echo "exit \$1"; elif [ -n "\$2" ] && [ "\$(stat -c %s "\$2")" != $BYTES ]; then echo "\$(stat -c %s "\$2") of $BYTES bytes"; fi; }
for run in \$(seq $RUNS); do
  a=\$(now); j=\$(ivsh guest send /tmp/g2h.bin --channel g2h --timeout $PEER_WAIT --json); rc=\$?; b=\$(now)
  line "ivsh g2h" "\$(why \$rc)" \$a \$b "\$(echo "\$j" | ivsh_rate)"
  a=\$(now); nc 10.0.2.100 7778 < /tmp/g2h.bin; rc=\$?; b=\$(now)
  line "tcp  g2h" "\$(why \$rc)" \$a \$b
  a=\$(now); j=\$(ivsh guest recv --channel h2g --out /tmp/h2g.bin --force --timeout $PEER_WAIT --json); rc=\$?; b=\$(now)
  line "ivsh h2g" "\$(why \$rc /tmp/h2g.bin)" \$a \$b "\$(echo "\$j" | ivsh_rate)"
  a=\$(now); nc 10.0.2.100 7779 > /tmp/h2g.tcp; rc=\$?; b=\$(now)
  line "tcp  h2g" "\$(why \$rc /tmp/h2g.tcp)" \$a \$b "(\$(stat -c %s /tmp/h2g.tcp) bytes)"
done
exit \$failed
EOF
)

# In the background, among PIDS: run in the foreground, a SIGTERM to this script (not its process group)
# ran the cleanup at once, which removed the region under a VM that ran on, launch.sh and QEMU orphaned.
# Now the cleanup stops launch.sh (which stops QEMU) and waits for it. Its exit status is this script's.
"$HERE/launch.sh" --name "tp$$" --region "$S/region" --socket "$D/arbiter.sock" --ivsh "$IVSH" \
  --forward "7778=head -c $BYTES >/dev/null" --forward "7779=cat $S/h2g.bin" \
  --separate-stderr "${LAUNCH_ARGS[@]}" --run "$GUEST" &
PIDS+=($!)
rc=0
wait "$!" || rc=$?
# The guest's transfers passed: the host's ends, paired with them, have ended or are ending. A host end that
# failed (its log in $D, removed at exit) had left the script's exit 0 and the figures standing; one that
# failed with the guest's side (a receiver that died mid-transfer) had its reason removed unread.
if [ "$rc" = 0 ]; then for p in "${HOST_ENDS[@]}"; do wait "$p" || : >"$D/host-failed"; done; fi
if [ -e "$D/host-failed" ]; then
  echo "throughput.sh: error: a host end of the ivsh transfers (ivsh guest send/recv) failed; its log:" >&2
  sed 's/^/  | /' "$D/host.log" >&2
  [ "$rc" = 0 ] && rc=1
fi
exit "$rc"
