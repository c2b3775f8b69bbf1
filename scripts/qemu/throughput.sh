#!/usr/bin/env bash
# Measures, in one VM boot, guest->host and host->guest throughput through ivsh and through the guest's
# TCP to the host (the VM's user-mode NIC: launch.sh --forward), plus the guest's mapping probe
# (resource2 vs resource2_wc). Prints one line per run and direction; figures, not pass/fail.
set -euo pipefail

HERE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
REPO=$(cd "$HERE/../.." && pwd)
SIZE=64M
RUNS=3
IVSH="${IVSH_BIN:-$REPO/dist/ivsh}"

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
Wall times come from the guest's /proc/uptime (10 ms resolution).
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

"${ivsh[@]}" host --region "$S/region" --socket "$D/arbiter.sock" --state "$D/state" --size 256MiB \
  2>"$D/arbiter.log" &
PIDS+=($!)
# An arbiter that exited (a --ivsh that does not run) ends the wait; its log says why.
for _ in $(seq 100); do [ -S "$D/arbiter.sock" ] && break; kill -0 "${PIDS[0]}" 2>/dev/null || break; sleep 0.1; done
if ! [ -S "$D/arbiter.sock" ]; then
  echo "throughput.sh: error: the arbiter ('$IVSH host') did not start (check --ivsh or IVSH_BIN); its log:" >&2
  sed 's/^/  | /' "$D/arbiter.log" >&2
  exit 1
fi

# The host's ends of the ivsh transfers, one per run, in the guest's order.
(for _ in $(seq "$RUNS"); do "${ivsh[@]}" guest recv --channel g2h --out - "${client[@]}" >/dev/null 2>>"$D/host.log"; done) &
PIDS+=($!)
(for _ in $(seq "$RUNS"); do "${ivsh[@]}" guest send "$S/h2g.bin" --channel h2g "${client[@]}" 2>>"$D/host.log"; done) &
PIDS+=($!)

GUEST=$(
  cat <<EOF
now() { read -r up _ </proc/uptime; echo "\$up"; }
wall() { awk -v a="\$1" -v b="\$2" -v n=$BYTES 'BEGIN { printf "wall %6.2f s %7.1f MB/s", b - a, n / (b - a) / 1e6 }'; }
ivsh_rate() { sed -n 's/.*"seconds":\([0-9.e-]*\).*/\1/p' | awk -v n=$BYTES '{ printf "ivsh-timed %6.3f s %7.1f MB/s", \$1, n / \$1 / 1e6 }'; }
ivsh example mapping-probe
head -c $BYTES /dev/urandom > /tmp/g2h.bin
for run in \$(seq $RUNS); do
  a=\$(now); r=\$(ivsh guest send /tmp/g2h.bin --channel g2h --json | ivsh_rate); b=\$(now)
  echo "run \$run ivsh g2h \$(wall \$a \$b)  \$r"
  a=\$(now); nc 10.0.2.100 7778 < /tmp/g2h.bin; b=\$(now)
  echo "run \$run tcp  g2h \$(wall \$a \$b)"
  a=\$(now); r=\$(ivsh guest recv --channel h2g --out /tmp/h2g.bin --force --json | ivsh_rate); b=\$(now)
  echo "run \$run ivsh h2g \$(wall \$a \$b)  \$r"
  a=\$(now); nc 10.0.2.100 7779 > /tmp/h2g.tcp; b=\$(now)
  echo "run \$run tcp  h2g \$(wall \$a \$b)  (\$(stat -c %s /tmp/h2g.tcp) bytes)"
done
EOF
)

# In the background, among PIDS: run in the foreground, a SIGTERM to this script (not its process group)
# ran the cleanup at once, which removed the region under a VM that ran on, launch.sh and QEMU orphaned.
# Now the cleanup stops launch.sh (which stops QEMU) and waits for it. Its exit status is this script's.
"$HERE/launch.sh" --name "tp$$" --region "$S/region" --socket "$D/arbiter.sock" --ivsh "$IVSH" \
  --forward "7778=head -c $BYTES >/dev/null" --forward "7779=cat $S/h2g.bin" \
  --separate-stderr "${LAUNCH_ARGS[@]}" --run "$GUEST" &
PIDS+=($!)
wait "$!"
