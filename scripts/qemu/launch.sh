#!/usr/bin/env bash
# Commas inside QEMU option words are intended; A && B || die is intended.
# shellcheck disable=SC2054,SC2015,SC2317
# Boots an ivsh test VM: the ivshmem region as a PCI BAR, a restricted user-mode NIC whose
# 10.0.2.100:7777 reaches the host's `ivsh bridge`, and either a console or one command (--run).
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
REPO=$(cd "$HERE/../.." && pwd)
OUT="$REPO/build/qemu"

NAME=vm0
MEM=1G
SMP=1
REGION=/dev/shm/ivsh
SOCKET=/tmp/ivsh.sock
IVSH_CMD="${IVSH_BIN:-}"
RUN=
RUN_SET=0
SHARE=
ACCEL="${IVSH_ACCEL:-auto}"
TIMEOUT=0
BINARY="${IVSH_GUEST_BINARY:-$REPO/dist/ivsh}"
BUILD=1
SPLIT_STDERR=0
CONSOLE_LOG=
QUIET=0
DRY_RUN=0
EXTRA=()
FORWARDS=()
GUEST_PORT=7777

usage() {
  cat <<'EOF'
Usage: scripts/qemu/launch.sh [options]

Boots an ivsh test VM (kernel and initramfs from scripts/qemu/build-image.sh, which this runs
first; it does nothing when the image is current) with:
  - the region file as an ivshmem-plain PCI device (1af4:1110, BAR 2 = the whole file),
  - a restricted user-mode NIC (guest 10.0.2.15/24, gateway 10.0.2.2) on which a connection to
    10.0.2.100:7777 runs `IVSH bridge --vm NAME --socket SOCKET` on the host, stdin/stdout = the
    connection, stderr = this script's stderr (prefixed "[bridge NAME] "; a line the same as the
    one before is counted, not repeated).

Options:
  --name NAME        VM name, 1-64 of [A-Za-z0-9_.-], not 'host' (default vm0); one VM per name at a time
  --mem SIZE         guest RAM, QEMU syntax (default 1G)
  --smp N            vCPUs (default 1)
  --region PATH      region file (default /dev/shm/ivsh); must exist, size a power of two;
                     'none' boots without the ivshmem device
  --socket PATH      arbiter socket handed to the bridge (default /tmp/ivsh.sock)
  --ivsh CMD         host ivsh command for the bridge, shell words (default: IVSH_BIN, else
                     REPO/dist/ivsh); e.g. --ivsh 'bun /work/main/src/cli.ts'
  --run CMD          run CMD under /bin/sh in the guest, then power off (see below)
  --separate-stderr  with --run: CMD's stderr to this script's stderr (default: both to stdout)
  --timeout SECS     with --run: stop the VM after SECS seconds, exit 124 (default: none)
  --share DIR        expose host DIR at /mnt/share in the guest (virtiofs, read-write)
  --accel MODE       auto | kvm | tcg (default auto, env IVSH_ACCEL): auto probes KVM once per
                     host boot and caches the verdict in build/qemu/accel
  --binary PATH      ivsh binary to put in the image (default dist/ivsh, env IVSH_GUEST_BINARY)
  --no-build         use the image in build/qemu as it is
  --console-log FILE with --run: keep the guest console (boot messages, markers) in FILE
  --forward PORT=CMD guest connections to 10.0.2.100:PORT run CMD (/bin/sh -c) on the host with the
                     connection on stdin/stdout, stderr to this script's (repeatable; e.g. a TCP
                     sink to compare with: --forward '7778=wc -c >/tmp/count')
  --qemu-arg ARG     append ARG to QEMU's command line (repeatable)
  --dry-run          print the QEMU command line and exit 0 (installs, builds, probes nothing)
  -q, --quiet        print neither the QEMU command line nor the summary
  -h, --help         this help

--run contract:
  stdout     exactly the bytes CMD wrote to stdout (and to stderr, unless --separate-stderr),
             streamed as they come: no boot messages, no markers, no CR/LF changes
  stdin      CMD's stdin is /dev/null
  exit code  CMD's exit status (0-255); 124 --timeout expired; 125 launcher failure (bad option,
             region, image build, QEMU error, guest died without a result); 130/143/129 if this
             script got SIGINT/SIGTERM/SIGHUP (QEMU is stopped and temp files removed)
  stderr     the QEMU command line (one line), then "launch.sh: NAME: exit N (boot B s, total T s)"
  guest      CMD runs as root in /root with IVSH_VM=NAME, PATH including /usr/local/bin (ivsh),
             /tmp a tmpfs (90% of RAM), /mnt/share when --share is given
Without --run: an interactive shell on the serial console (leave with poweroff or Ctrl-A X).
EOF
}

die() {
  echo "launch.sh: error: $*" >&2
  exit 125
}
say() { [ "$QUIET" = 1 ] || echo "launch.sh: $*" >&2; }
need_arg() { [ "$2" -ge 2 ] || die "$1 needs a value (see --help)"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --name) need_arg "$1" $#; NAME=$2; shift 2 ;;
    --mem) need_arg "$1" $#; MEM=$2; shift 2 ;;
    --smp) need_arg "$1" $#; SMP=$2; shift 2 ;;
    --region) need_arg "$1" $#; REGION=$2; shift 2 ;;
    --socket) need_arg "$1" $#; SOCKET=$2; shift 2 ;;
    --ivsh) need_arg "$1" $#; IVSH_CMD=$2; shift 2 ;;
    --run) need_arg "$1" $#; RUN=$2; RUN_SET=1; shift 2 ;;
    --separate-stderr) SPLIT_STDERR=1; shift ;;
    --timeout) need_arg "$1" $#; TIMEOUT=$2; shift 2 ;;
    --share) need_arg "$1" $#; SHARE=$2; shift 2 ;;
    --accel) need_arg "$1" $#; ACCEL=$2; shift 2 ;;
    --binary) need_arg "$1" $#; BINARY=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --console-log) need_arg "$1" $#; CONSOLE_LOG=$2; shift 2 ;;
    --qemu-arg) need_arg "$1" $#; EXTRA+=("$2"); shift 2 ;;
    --forward) need_arg "$1" $#; FORWARDS+=("$2"); shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -q | --quiet) QUIET=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

[[ "$NAME" =~ ^[A-Za-z0-9_.-]+$ ]] || die "--name '$NAME': use letters, digits, '_', '.', '-'"
# The bridge refuses any other name (isVmName): every guest connection would fail, seen only at its end.
[[ "$NAME" =~ ^[A-Za-z0-9_.-]{1,64}$ ]] && [ "$NAME" != host ] ||
  die "--name '$NAME' is no VM name the arbiter takes: 1 to 64 letters, digits, '.', '_' or '-', other than 'host' (the name the host's own processes go by); pick another --name"
[[ "$SMP" =~ ^[1-9][0-9]*$ ]] || die "--smp '$SMP' is not a positive integer"
[[ "$TIMEOUT" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--timeout '$TIMEOUT' is not a number of seconds"
case "$ACCEL" in auto | kvm | tcg) ;; *) die "--accel '$ACCEL': use auto, kvm or tcg" ;; esac
for f in "${FORWARDS[@]}"; do
  [[ "$f" =~ ^([0-9]{1,5})=(.+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 65535 ] ||
    die "--forward '$f': use PORT=COMMAND with PORT 1-65535"
  [ "${BASH_REMATCH[1]}" != "$GUEST_PORT" ] || die "--forward '$f': port $GUEST_PORT is the bridge's"
done
[ -z "$IVSH_CMD" ] && IVSH_CMD="$REPO/dist/ivsh"

# Shell-quotes one word for a copy-pastable command line: bare if safe, else in single quotes.
shq() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}

# QEMU option values use ',' as separator; a literal comma is written ',,'.
q() { printf '%s' "${1//,/,,}"; }

# ---- host tools ----
# A dry run changes nothing: it installs nothing, builds no image, probes no KVM; it says what a run would do.
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  if [ "$DRY_RUN" = 1 ]; then
    say "note: qemu-system-x86_64 is not installed: a run without --dry-run installs it (apt-get install qemu-system-x86)"
  else
    echo "launch.sh: installing qemu-system-x86 (apt-get install -y qemu-system-x86)" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86; } >&2 ||
      die "could not install qemu-system-x86"
  fi
fi
QEMU=$(command -v qemu-system-x86_64 || echo qemu-system-x86_64)
# bash's `command -v` names a file of that name that this user may not run (mode 0644, a broken install)
# when it finds none it may: QEMU then failed to start, said as "the guest gave no result (QEMU exit 126)".
if [ -e "$QEMU" ] && ! [ -x "$QEMU" ]; then
  if [ "$DRY_RUN" = 1 ]; then say "note: $QEMU is not executable by this user: a run fails until it is (chmod +x)"
  else die "$QEMU is not executable by this user: make it so (chmod +x)"; fi
fi
VIRTIOFSD=/usr/lib/qemu/virtiofsd

# ---- region ----
REGION_SIZE=0
if [ "$REGION" != none ]; then
  [ -e "$REGION" ] || die "region $REGION does not exist: start the arbiter ('ivsh host') or create it, e.g. truncate -s 64M $REGION"
  REGION=$(readlink -f "$REGION")
  [ -f "$REGION" ] || die "region $REGION is not a regular file"
  [ -r "$REGION" ] && [ -w "$REGION" ] || die "region $REGION is not readable and writable by $(id -un)"
  REGION_SIZE=$(stat -L -c %s "$REGION")
  if [ "$REGION_SIZE" -lt 4096 ] || [ $((REGION_SIZE & (REGION_SIZE - 1))) -ne 0 ]; then
    # An arbiter's region (its header starts with "IVSH"): resized, its arbiter's next start refuses it.
    # NULs dropped before bash sees them (a file of zeros made it warn "ignored null byte").
    if [ "$(head -c 4 "$REGION" 2>/dev/null | tr -d '\0')" = IVSH ]; then
      fit=4096
      while [ "$fit" -lt "$REGION_SIZE" ]; do fit=$((fit * 2)); done
      if [ $((fit % 1048576)) -eq 0 ]; then fit="$((fit / 1048576))MiB"; else fit="$((fit / 1024))KiB"; fi
      die "region $REGION is $REGION_SIZE bytes; ivshmem needs a power-of-two size of at least 4096 (a PCI BAR), and it is an ivsh arbiter's region: stop that arbiter and serve a new region of a power-of-two size (\`ivsh host --region NEW --size $fit\`), then pass --region NEW (do not resize this one: its arbiter would refuse it at its next start)"
    fi
    die "region $REGION is $REGION_SIZE bytes; ivshmem needs a power-of-two size of at least 4096 (a PCI BAR): resize it, e.g. truncate -s 64M $REGION, or recreate it with a power-of-two size"
  fi
fi

# ---- share ----
if [ -n "$SHARE" ]; then
  [ -d "$SHARE" ] || die "--share $SHARE is not a directory"
  SHARE=$(readlink -f "$SHARE")
  [ -x "$VIRTIOFSD" ] || die "--share needs $VIRTIOFSD (Debian package qemu-system-common)"
fi

# ---- image ----
if [ "$BUILD" = 1 ] && [ "$DRY_RUN" = 1 ]; then
  say "note: a run without --dry-run first brings the image in $OUT up to date (scripts/qemu/build-image.sh)"
elif [ "$BUILD" = 1 ]; then
  bflags=(--binary "$BINARY")
  [ "$QUIET" = 1 ] && bflags+=(--quiet)
  "$HERE/build-image.sh" "${bflags[@]}" >&2 || die "building the VM image failed (scripts/qemu/build-image.sh)"
fi
KERNEL="$OUT/vmlinuz"
INITRD="$OUT/initramfs.cpio"
if [ ! -s "$KERNEL" ] || [ ! -s "$INITRD" ]; then
  [ "$DRY_RUN" = 1 ] || die "no VM image in $OUT: run scripts/qemu/build-image.sh"
  [ "$BUILD" = 1 ] || say "note: no VM image in $OUT: run scripts/qemu/build-image.sh"
fi

# ---- accelerator ----
APPEND="console=ttyS0 quiet loglevel=0 panic=-1 i8042.noaux"
COMMON=(-nodefaults -no-user-config -display none -no-reboot -M q35 -kernel "$KERNEL" -append "$APPEND")

# Accelerator choice and its arguments (accel_args, smp_args, resolve_accel).
# shellcheck source=scripts/qemu/accel.sh
. "$HERE/accel.sh"
# What runs killed with their whole process group left behind (sweep_stale, own_temp_dir).
# shellcheck source=scripts/qemu/stale.sh
. "$HERE/stale.sh"

if [ "$ACCEL" = auto ] && [ "$DRY_RUN" = 1 ]; then
  ACCEL=$(awk -v boot="$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" '$1 == boot {print $2}' "$OUT/accel" 2>/dev/null || true)
  [ -n "$ACCEL" ] || { ACCEL=tcg && say "note: showing tcg: a run without --dry-run probes KVM first (--accel auto)"; }
elif [ "$ACCEL" = auto ]; then ACCEL=$(resolve_accel); fi

# ---- one VM per name ----
# (temp dir base: see "per-VM temp dir" below)
tbase="${TMPDIR:-/tmp}"
[[ "$tbase" =~ ^[A-Za-z0-9_./-]+$ ]] || tbase=/tmp
LOCK=
if [ "$DRY_RUN" = 0 ]; then
  # Unwritable (a checkout on a read-only mount), `exec 3>>` below ended this script with bash's own words, exit 1.
  mkdir -p "$OUT/run" 2>/dev/null && [ -w "$OUT/run" ] ||
    die "$OUT/run is not writable by $(id -un): it holds the name locks of this checkout's VMs; make it writable (or a link to a writable directory)"
  # What runs killed with their process group left (sweep_stale, scripts/qemu/stale.sh) goes first, under
  # the sweep lock, which is held until this script has its name: a few ms, unless it is stopped there.
  exec 3>>"$OUT/run/.sweep"
  flock -w 60 3 || die "the launch.sh holding $OUT/run/.sweep has not let go of it for 60 s (stopped?): continue or end it"
  sweep_stale "$OUT/run" "$tbase"
  # The lock file goes at exit (else one stays per name ever used: every test run adds its own). One
  # opened before that and locked after is no longer at LOCK: then it is taken again, on the new file.
  while :; do
    exec 7>>"$OUT/run/$NAME.lock"
    flock -n 7 || die "a VM named '$NAME' is already running (lock $OUT/run/$NAME.lock): pick another --name"
    if [ "$(stat -c %d:%i "$OUT/run/$NAME.lock" 2>/dev/null)" = "$(stat -L -c %d:%i /proc/self/fd/7)" ]; then
      LOCK="$OUT/run/$NAME.lock"
      break
    fi
  done
  exec 3>&-
fi

# ---- per-VM temp dir (its path goes into guestfwd's cmd, which libslirp splits on spaces) ----
T=$(mktemp -d "$tbase/ivsh-vm.$NAME.XXXXXX")
own_temp_dir "$T" # what tells a later launch.sh that it is stale once this script is gone

QPID=
QEMU_STARTING= # set from just before QEMU's `&` to QPID=$!: signals taken then wait for QPID (on_signal, on_stop)
PIDS=()    # helpers killed at exit
READERS=() # output readers: they end when QEMU closes its side
SIGNAL=
cleanup() {
  trap - EXIT INT TERM HUP
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
    kill -TERM "$QPID" 2>/dev/null || true
    wait "$QPID" 2>/dev/null || true
  fi
  local p
  for p in "${PIDS[@]}" "${READERS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}" "${READERS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
  if [ -n "$LOCK" ]; then rm -f "$LOCK"; fi # still held (fd 7): see "one VM per name"
}
trap cleanup EXIT
# One taken between QEMU's `&` and `QPID=$!` found no QPID: this script exited, QEMU ran on, orphaned
# (its parent-death signal, when setpriv gives one, may not be set yet). It is sent once QPID is known
# (QEMU_STARTING, see "go").
on_signal() {
  SIGNAL=$1
  if [ -n "$QPID" ]; then
    kill -TERM "$QPID" 2>/dev/null || true
  elif [ -z "$QEMU_STARTING" ]; then
    exit $((128 + $2))
  fi
}
trap 'on_signal INT 2' INT
trap 'on_signal TERM 15' TERM
trap 'on_signal HUP 1' HUP
# Ctrl-Z (the terminal's SIGTSTP to this script's process group): with --run, QEMU runs in a process group
# of its own (QGROUP, see "go"), so it ran on, stopped only once its output pipe filled. Its group (QEMU,
# timeout(1), the bridges) is stopped too, with SIGSTOP: the kernel drops a SIGTSTP to a group without a
# parent in its session, as QEMU's is. Then this script stops as it would have (the signal's default, which
# the kernel drops in the same case), and once continued (`fg`: SIGCONT), it continues QEMU's group.
# A stop taken between QEMU's `&` and `QGROUP=$!` (bash runs a trap between two commands) found no QGROUP:
# this script stopped, QEMU ran on. Now it waits for QGROUP (QEMU_STARTING, see "go"). QEMU's group is
# signalled by its leader's pid too: just forked, that process may not have made its group yet (setsid,
# timeout(1)'s setpgid), and it makes it before QEMU runs.
QGROUP=
STOP_PENDING=
on_stop() {
  if [ -n "$QEMU_STARTING" ]; then
    STOP_PENDING=1
    return
  fi
  local group=$QGROUP
  if [ -n "$group" ]; then kill -STOP -- "-$group" "$group" 2>/dev/null || true; fi
  trap - TSTP
  kill -TSTP $$
  trap on_stop TSTP
  if [ -n "$group" ]; then kill -CONT -- "-$group" "$group" 2>/dev/null || true; fi
}
trap on_stop TSTP

# ---- bridge command for guestfwd ----
# Run through a wrapper so that IVSH may be any shell command (spaces, quotes) and so that its
# stderr (which libslirp would otherwise send into the guest connection) reaches our stderr.
# This script holds fd 6 open on the FIFO (so the reader never sees EOF between two bridges); the
# reader ends once this script and every bridge are gone. Helpers get neither fd 6 nor the name lock.
mkfifo "$T/bridge.err"
exec 6<>"$T/bridge.err"
# A bridge command that cannot run (--ivsh naming no program) fails alike at every guest connection, and a
# guest retries once a second: a line the same as the one before is counted, not shown, and its count is said
# when another line comes, or when this reader ends (at EOF, or killed by cleanup's TERM).
bridge_lines() {
  local line last= more=0
  counted() {
    case $more in
      0) ;;
      1) echo "[bridge $NAME] (the line above came once more)" ;;
      *) echo "[bridge $NAME] (the line above came $more more times)" ;;
    esac
    more=0
  }
  trap 'counted; exit 0' TERM
  while IFS= read -r line || [ -n "$line" ]; do
    if [ "$line" = "$last" ]; then
      more=$((more + 1))
      continue
    fi
    counted
    echo "[bridge $NAME] $line"
    last=$line
  done
  counted
}
bridge_lines <"$T/bridge.err" >&2 6>&- 7>&- &
PIDS+=($!)
{
  echo '#!/bin/sh'
  printf 'exec 2>%q\n' "$T/bridge.err"
  printf 'exec %s bridge --vm=%q --socket=%q\n' "$IVSH_CMD" "$NAME" "$SOCKET"
} >"$T/bridge"
chmod 755 "$T/bridge"
# --forward commands: the same wrapper idea, one per port, run by /bin/sh.
FWD_OPTS=
for f in "${FORWARDS[@]}"; do
  port=${f%%=*}
  {
    echo '#!/bin/sh'
    printf 'exec 2>%q\n' "$T/bridge.err"
    printf 'exec /bin/sh -c %q\n' "${f#*=}"
  } >"$T/forward.$port"
  chmod 755 "$T/forward.$port"
  FWD_OPTS+=",guestfwd=tcp:10.0.2.100:$port-cmd:$(q "$T/forward.$port")"
done
# A bridge command that cannot run shows in the guest only as connections closing at once: say it now.
read -r -a ivsh_words <<<"$IVSH_CMD"
command -v "${ivsh_words[0]:-}" >/dev/null 2>&1 ||
  say "note: the bridge command '${ivsh_words[0]:-}' (--ivsh, IVSH_BIN, else dist/ivsh: npm run build) is not found; guest connections to 10.0.2.100:$GUEST_PORT will fail"

# ---- QEMU command line ----
args=("$QEMU" -name "$NAME" "${COMMON[@]}" -initrd "$INITRD")
read -r -a acc <<<"$(accel_args "$ACCEL")"
args+=("${acc[@]}" -smp "$(smp_args "$ACCEL")")
if [ -n "$SHARE" ]; then
  # virtiofs needs the guest RAM shared with virtiofsd.
  args+=(-m "$MEM" -object memory-backend-memfd,id=ram,size="$MEM",share=on -numa node,memdev=ram)
else
  args+=(-m "$MEM")
fi
if [ "$REGION" != none ]; then
  args+=(-object memory-backend-file,id=ivshmem,share=on,mem-path="$(q "$REGION")",size="$REGION_SIZE"
    -device ivshmem-plain,memdev=ivshmem)
fi
args+=(-netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:$GUEST_PORT-cmd:$(q "$T/bridge")$FWD_OPTS"
  -device virtio-net-pci,netdev=n0)
args+=(-fw_cfg name=opt/ivsh/name,string="$NAME")
if [ -n "$SHARE" ]; then
  args+=(-chardev socket,id=vfs,path="$(q "$T/virtiofs.sock")" -device vhost-user-fs-pci,chardev=vfs,tag=ivsh-share
    -fw_cfg name=opt/ivsh/share,string=ivsh-share)
fi
if [ "$RUN_SET" = 1 ]; then
  printf '%s' "$RUN" >"$T/cmd"
  mkfifo "$T/out"
  : >"$T/status"
  CONSOLE="${CONSOLE_LOG:-$T/console.log}"
  args+=(-serial file:"$(q "$CONSOLE")" -monitor none
    -device virtio-serial-pci,id=vser
    -chardev file,id=out,path="$(q "$T/out")" -device virtserialport,bus=vser.0,nr=1,chardev=out,name=ivsh.out
    -chardev file,id=status,path="$(q "$T/status")" -device virtserialport,bus=vser.0,nr=2,chardev=status,name=ivsh.status
    -fw_cfg name=opt/ivsh/cmd,file="$(q "$T/cmd")")
  if [ "$SPLIT_STDERR" = 1 ]; then
    mkfifo "$T/err"
    args+=(-chardev file,id=err,path="$(q "$T/err")" -device virtserialport,bus=vser.0,nr=3,chardev=err,name=ivsh.err
      -fw_cfg name=opt/ivsh/stderr,string=1)
  fi
else
  args+=(-serial mon:stdio)
fi
args+=("${EXTRA[@]}")

if [ "$QUIET" = 0 ] || [ "$DRY_RUN" = 1 ]; then
  line=
  for a in "${args[@]}"; do line+="${line:+ }$(shq "$a")"; done
  echo "$line" >&2
fi
[ "$DRY_RUN" = 1 ] && exit 0

# ---- go ----
if [ -n "$SHARE" ]; then
  "$VIRTIOFSD" --socket-path="$T/virtiofs.sock" -o source="$SHARE" -o cache=auto -o sandbox=chroot \
    -o log_level=err </dev/null >"$T/virtiofsd.log" 2>&1 6>&- 7>&- &
  PIDS+=($!)
  for _ in $(seq 200); do [ -S "$T/virtiofs.sock" ] && break; sleep 0.025; done
  [ -S "$T/virtiofs.sock" ] || die "virtiofsd did not start for --share $SHARE: $(cat "$T/virtiofsd.log")"
fi

t0=$(date +%s.%N)
if [ "$RUN_SET" = 1 ]; then
  # QEMU opens the FIFOs for writing; these readers pass the bytes on untouched. Their ends are opened
  # here, before QEMU starts, and this script holds a writer on each (fds 4, 5) until QEMU is gone: a reader
  # that opened a FIFO itself stayed blocked in open() for ever when QEMU never opened it (QEMU refused an
  # option before this script released the FIFO, or the reader started after that; this script SIGKILLed),
  # holding this script's stdout. O_RDWR first: neither open below then blocks.
  # shellcheck disable=SC2094
  exec 8<>"$T/out" 9<"$T/out" 4>"$T/out" 8<&-
  cat <&9 4>&- 6>&- 7>&- 9<&- &
  READERS+=($!)
  exec 9<&-
  if [ "$SPLIT_STDERR" = 1 ]; then
    # shellcheck disable=SC2094
    exec 8<>"$T/err" 9<"$T/err" 5>"$T/err" 8<&-
    cat <&9 >&2 4>&- 5>&- 6>&- 7>&- 9<&- &
    READERS+=($!)
    exec 9<&-
  fi
  # Out of this script's process group, QEMU (or timeout(1) running it) outlived a SIGKILL of that group
  # (a cancelled CI job, kill -9 -PGID: the watchdog below dies with it), its VM running on with nobody to
  # stop it; the parent-death signal (kept across exec) ends it with this script, however that ends.
  # A setpriv from before util-linux 2.33 (RHEL 8, Ubuntu 18.04) refuses --pdeathsig, and QEMU never ran
  # ("the guest gave no result (QEMU exit 1)"): tried once, it is left out then, as a missing one is.
  guard=(setpriv --pdeathsig TERM)
  "${guard[@]}" true >/dev/null 2>&1 || guard=()
  QEMU_STARTING=1
  if [ "$TIMEOUT" != 0 ]; then
    "${guard[@]}" timeout -s TERM -k 5 "$TIMEOUT" "${args[@]}" </dev/null 4>&- 5>&- 6>&- &
  else
    # In a process group of its own (as timeout(1) above puts it in its own): QEMU catches SIGINT even when
    # this script started with it ignored (a script's `throughput.sh &`), so a Ctrl-C meant for the
    # terminal's foreground job ended the VM ("the guest gave no result"). A Ctrl-C for this script reaches
    # QEMU through on_signal. setsid execs QEMU (no fork: a background job here leads no process group).
    # Its parent-death signal is SIGKILL: QEMU stopped by a Ctrl-Z (on_stop) keeps a SIGTERM pending until
    # continued, and once this script is SIGKILLed while stopped (`kill -9 %1`) nobody continues it, in its
    # own session (timeout(1) above leads a group in this one, which the kernel continues once orphaned).
    [ ${#guard[@]} -eq 0 ] || guard=(setpriv --pdeathsig KILL)
    "${guard[@]}" setsid "${args[@]}" </dev/null 4>&- 5>&- 6>&- &
  fi
  QGROUP=$! # timeout(1) leads a group of its own (it runs QEMU in it); setsid's QEMU leads its own session
else
  exec 3<&0
  QEMU_STARTING=1
  "${args[@]}" <&3 3<&- 6>&- &
fi
QPID=$!
QEMU_STARTING=
# What was signalled while QEMU was being started (on_signal, on_stop) is done now that QEMU's pid is known.
if [ -n "$SIGNAL" ]; then kill -TERM "$QPID" 2>/dev/null || true; fi
if [ -n "$STOP_PENDING" ]; then
  STOP_PENDING=
  on_stop
fi
# If this script is killed outright (SIGKILL), stop QEMU and remove the temp dir anyway.
(
  while kill -0 $$ 2>/dev/null; do sleep 1; done
  # QEMU may have exited already (launch.sh killed while it drained QEMU's output): its files go all the same.
  if kill -TERM "$QPID" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -rf "$T"
) </dev/null >/dev/null 2>&1 4>&- 5>&- 6>&- 7>&- &
PIDS+=($!)
QRC=0
while :; do
  QRC=0
  # 2>/dev/null: bash's job notice ("launch.sh: line N: PID Killed timeout ...") for a QEMU killed by
  # a signal; the summary below says it in launch.sh's words.
  wait "$QPID" 2>/dev/null || QRC=$?
  kill -0 "$QPID" 2>/dev/null || break
done
QPID=
QGROUP=
t1=$(date +%s.%N)

# virtiofsd's complaints, less the one it always makes when QEMU goes away.
if [ -s "$T/virtiofsd.log" ]; then grep -v 'Unexpected poll revents' "$T/virtiofsd.log" | sed 's/^/virtiofsd: /' >&2 || true; fi

case "$SIGNAL" in
  INT) exit 130 ;;
  TERM) exit 143 ;;
  HUP) exit 129 ;;
esac

if [ "$RUN_SET" = 0 ]; then
  exit "$QRC"
fi

# QEMU is gone: this script's writers go too, so the readers end once they have drained what QEMU wrote
# (and at once if it never opened the FIFOs: it refused an option, or did not run at all).
exec 4>&- 5>&-
# Let the output readers drain what QEMU wrote before it exited.
for p in "${READERS[@]}"; do wait "$p" 2>/dev/null || true; done
READERS=()

total=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
boot=$(sed -n 's/^boot=\([0-9.]*\).*/\1/p' "$T/status" | head -n1)
rc=$(sed -n 's/^rc=\([0-9]*\).*/\1/p' "$T/status" | head -n1)
if [ -n "$rc" ]; then
  say "$NAME: exit $rc (boot ${boot:-?} s, total $total s, $ACCEL)"
  exit "$rc"
fi
if [ -n "$TIMEOUT" ] && [ "$TIMEOUT" != 0 ] && [ "$QRC" = 124 ]; then
  echo "launch.sh: $NAME: timed out after $TIMEOUT s (--timeout); guest console:" >&2
  tail -n 20 "$CONSOLE" 2>/dev/null | sed 's/^/  | /' >&2 || true
  exit 124
fi
how="QEMU exit $QRC"
if [ "$QRC" -gt 128 ] && [ "$QRC" -lt 160 ]; then how="QEMU killed by SIG$(kill -l $((QRC - 128)))"; fi
echo "launch.sh: $NAME: the guest gave no result ($how, after $total s); guest console:" >&2
tail -n 30 "$CONSOLE" 2>/dev/null | sed 's/^/  | /' >&2 || true
exit 125
