#!/usr/bin/env bash
# Runs contrib/systemd/ivsh-host.service under a real, booted systemd, installed as the README's "Running
# the arbiter as a service" says, and checks what its comments claim. Not for CI (it needs root, a Debian
# mirror the first time and a booted systemd); run it after changing the unit, its environment file or
# src/host/systemd.ts:
#
#   npm run build && sudo scripts/systemd-unit-check.sh [ROOTFS]   # default /var/tmp/ivsh-systemd-root
#
# Needs debootstrap, systemd-nspawn (systemd-container) and nsenter. The first run makes a minimal Debian
# bookworm under ROOTFS (about a minute); each run boots it with `systemd-nspawn -b`, copies dist/ivsh,
# docs/ivsh.1 and contrib/systemd in, installs them, checks, and powers the container off. Exit 0 when
# every check passed; each prints "ok" or "FAIL".
#
# Checked: the unit reaches active (Type=notify READY=1, STATUS=); socket 0660 and its directory 0750,
# region 0660, all group kvm; a client in group kvm connects (`ivsh status`, `ivsh guest send/recv`), one
# outside it is refused naming the group; `systemctl restart` and kill -9 of the main pid (Restart=) keep
# a transfer in progress going to its end; kill -HUP (exit 0) is started again (Restart=always);
# `systemctl stop` well within TimeoutStopSec; the native helper
# extracted into $TMPDIR (/run/ivsh) and loaded; the journal's priorities (an error is at err); a bad
# option fails once (RestartPreventExitStatus=2) with a line naming it, on the Status: line too; a region
# or a --state outside the unit's directories and /dev/shm, and a socket left at /tmp/ivsh.sock
# (ProtectSystem=strict), fail saying the file system is read-only.
# Functions run through check() look unreachable to shellcheck.
# shellcheck disable=SC2317
set -uo pipefail

if [ "${1:-}" = --inside ]; then
  failures=0
  ok() { echo "ok   $*"; }
  fail() {
    echo "FAIL $*"
    failures=$((failures + 1))
  }
  check() { # check DESCRIPTION COMMAND...: ok if the command succeeds
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
  }
  cd /root/ivsh || exit 1

  # A clean slate, so that a second run starts as the first did.
  systemctl disable --now ivsh-host >/dev/null 2>&1
  systemctl reset-failed ivsh-host >/dev/null 2>&1
  rm -rf /var/lib/ivsh /dev/shm/ivsh /dev/shm/ivsh.wake /etc/default/ivsh-host /etc/systemd/system/ivsh-host.service
  userdel ivsh >/dev/null 2>&1
  journalctl --rotate >/dev/null 2>&1 && journalctl --vacuum-time=1s >/dev/null 2>&1

  # The README's steps, to the letter (but `npm run build` and sudo: dist/ivsh was copied in).
  install -m 755 dist/ivsh /usr/local/bin/ivsh
  install -D -m 644 docs/ivsh.1 /usr/local/share/man/man1/ivsh.1
  getent group kvm >/dev/null || groupadd --system kvm
  useradd --system --no-create-home --gid kvm --shell /usr/sbin/nologin ivsh
  install -m 644 contrib/systemd/ivsh-host.service /etc/systemd/system/
  install -m 644 contrib/systemd/ivsh-host.env /etc/default/ivsh-host
  check "enable --now starts it" systemctl daemon-reload
  systemctl enable --now ivsh-host || fail "systemctl enable --now ivsh-host"

  check "active after start (READY=1)" test "$(systemctl is-active ivsh-host)" = active
  status=$(systemctl show -p StatusText --value ivsh-host)
  check "STATUS= says what it serves: $status" grep -q "^serving /dev/shm/ivsh on /run/ivsh/ivsh.sock" <<<"$status"
  mode() { stat -c '%a %U %G' "$1"; }
  check "socket 660 ivsh kvm" test "$(mode /run/ivsh/ivsh.sock)" = "660 ivsh kvm"
  check "/run/ivsh 750 ivsh kvm" test "$(mode /run/ivsh)" = "750 ivsh kvm"
  check "region 660 ivsh kvm" test "$(mode /dev/shm/ivsh)" = "660 ivsh kvm"
  check "/var/lib/ivsh 750 ivsh kvm" test "$(mode /var/lib/ivsh)" = "750 ivsh kvm"
  pid=$(systemctl show -p MainPID --value ivsh-host)
  check "native helper extracted into /run/ivsh and loaded" grep -q '/run/ivsh/\.bun-.*\.so' "/proc/$pid/maps"
  check "no capabilities" grep -q '^CapEff:\s*0*$' "/proc/$pid/status"

  # Clients: alice in group kvm, bob not, with the variables the environment file sets.
  id alice >/dev/null 2>&1 || useradd -m -G kvm alice
  id bob >/dev/null 2>&1 || useradd -m bob
  as() {
    local user=$1
    shift
    (
      set -a
      # shellcheck disable=SC1091
      . /etc/default/ivsh-host
      set +a
      cd /tmp && setpriv --reuid="$user" --regid="$user" --init-groups env HOME=/tmp "$@"
    )
  }
  quietly() { "$@" >/dev/null 2>&1; }
  check "alice (kvm) runs ivsh status" quietly as alice ivsh status
  refused=$(as bob ivsh status 2>&1)
  check "bob (not kvm) is refused, naming the group" grep -q "join that group" <<<"$refused"
  as alice ivsh guest recv --channel once --out /tmp/once --timeout 30s 2>/dev/null &
  check "alice sends /etc/os-release" as alice ivsh guest send --channel once --timeout 30s /etc/os-release 2>/dev/null
  wait
  check "alice receives it" cmp -s /tmp/once /etc/os-release

  logged() { # logged SINCE PRIORITY TEXT: how many of the unit's lines since then, at PRIORITY or above, hold TEXT
    journalctl -u ivsh-host --since="$1" -p "$2" -o cat --no-pager | grep -cF "$3"
  }

  # A slow stream in progress while the arbiter is restarted ($1: restart or kill).
  across() {
    rm -f "/tmp/across-$1"
    as alice ivsh guest recv --channel "$1" --out "/tmp/across-$1" --timeout 60s 2>/dev/null &
    local receiver=$!
    for i in $(seq 1 12); do
      echo "line $i"
      sleep 0.5
    done | as alice ivsh guest send --channel "$1" --timeout 60s - 2>/dev/null &
    local sender=$!
    sleep 2.5
    local before
    before=$(systemctl show -p MainPID --value ivsh-host)
    if [ "$1" = kill ]; then kill -9 "$before"; else systemctl restart ivsh-host; fi
    wait $receiver || fail "$1: the receiver failed"
    wait $sender || fail "$1: the sender failed"
    check "$1: the transfer went on to its end" cmp -s "/tmp/across-$1" <(seq 1 12 | sed 's/^/line /')
    check "$1: a new main pid, active" test "$(systemctl show -p MainPID --value ivsh-host)" != "$before" -a \
      "$(systemctl is-active ivsh-host)" = active
    check "$1: sessions resumed" test "$(logged "-15s" info "resumed its session")" -ge 2
  }
  across restart
  across kill
  check "kill -9: Restart= counted it" test "$(systemctl show -p NRestarts --value ivsh-host)" -ge 1

  # A stop signal not sent by systemctl (kill -HUP, a reload to other daemons) ends it with exit 0:
  # Restart=always starts it again.
  hupped=$(systemctl show -p MainPID --value ivsh-host)
  hup_since=$(date '+%F %T')
  kill -HUP "$hupped"
  for _ in $(seq 1 30); do
    now=$(systemctl show -p MainPID --value ivsh-host)
    [ "$now" != "$hupped" ] && [ "$now" != 0 ] && [ "$(systemctl is-active ivsh-host)" = active ] && break
    sleep 0.5
  done
  check "kill -HUP: started again, active" test "$(systemctl show -p MainPID --value ivsh-host)" != "$hupped" -a \
    "$(systemctl is-active ivsh-host)" = active
  check "kill -HUP: it had stopped cleanly" test "$(logged "$hup_since" info "stopped on SIGHUP")" -ge 1

  start=$(date +%s%N)
  systemctl stop ivsh-host
  took=$((($(date +%s%N) - start) / 1000000))
  check "stop in $took ms (TimeoutStopSec=10s), Result=success" test "$took" -lt 5000 -a \
    "$(systemctl show -p Result --value ivsh-host)" = success
  check "state kept for the next start" test -s /var/lib/ivsh/ivsh.state
  # Restart=always: a stop systemctl asked for is not restarted, past RestartSec=1s.
  sleep 3
  check "stopped for good: inactive 3 s after systemctl stop" test "$(systemctl is-active ivsh-host)" = inactive
  systemctl start ivsh-host

  # An edited environment file: the line naming what is wrong, once, at priority err.
  # A usage error (exit 2) is not restarted; any other failure (exit 1) is, until StartLimitBurst.
  with_env() { # with_env SED-EXPRESSION EXPECTED-TEXT DESCRIPTION 1|retried
    cp /etc/default/ivsh-host /root/ivsh-host.good
    sed -i "$1" /etc/default/ivsh-host
    local since
    since=$(date '+%F %T')
    sleep 1
    systemctl restart ivsh-host 2>/dev/null
    for _ in $(seq 1 30); do
      [ "$(systemctl is-active ivsh-host)" = failed ] && break
      sleep 0.5
    done
    check "$3: failed" test "$(systemctl is-active ivsh-host)" = failed
    local tries
    tries=$(logged "$since" info "$2")
    if [ "$4" = 1 ]; then check "$3: tried once" test "$tries" = 1; else check "$3: retried ($tries)" test "$tries" -ge 2; fi
    check "$3: the journal says, at err: $2" test "$(logged "$since" err "$2")" -ge 1
    # After retries the journal lines it shows are systemd's: its Status: line (STATUS=) says why.
    check "$3: systemctl status shows it" grep -qF "$2" <(systemctl status ivsh-host --no-pager -l)
    # On its Status: line (STATUS=), not only in the journal lines it shows: those scroll out.
    check "$3: its Status: line says it" grep -qF "$2" <(systemctl show -p StatusText --value ivsh-host)
    cp /root/ivsh-host.good /etc/default/ivsh-host
    systemctl reset-failed ivsh-host
    systemctl start ivsh-host
  }
  with_env 's/--lease 5s/--lease 5/' "Failed to parse --lease '5' since it has no unit" "a bad option" 1
  with_env 's/--lease 5s/--lease 5s --bogus/' "Unknown option --bogus" "an unknown option" 1
  mkdir -p /srv/ivsh
  with_env 's|^IVSH_REGION=.*|IVSH_REGION=/srv/ivsh/region|; s|ivsh.state|srv.state|' \
    "/srv/ivsh is on a read-only file system (EROFS)" "a region outside /dev/shm" retried
  with_env 's|/var/lib/ivsh/ivsh.state|/srv/ivsh/ivsh.state|' \
    "/srv/ivsh is on a read-only file system (EROFS); pass --state on a writable file system with room, or, under a systemd unit with ProtectSystem=, add /srv/ivsh to its ReadWritePaths=" \
    "a --state outside StateDirectory=" retried
  with_env '/^IVSH_SOCKET=/d' "/tmp is on a read-only file system (EROFS)" "the socket left at /tmp/ivsh.sock" retried
  check "back to active" test "$(systemctl is-active ivsh-host)" = active

  # Its journal taken by another arbiter (the file removed, a second arbiter started on the same --state):
  # a stop not from systemctl ends it with exit 0 and Restart=always starts it again; that start is
  # refused (the journal is held) until StartLimitBurst, not a fight between the two for ever.
  unit_pid=$(systemctl show -p MainPID --value ivsh-host)
  kill -STOP "$unit_pid" # its keeper would write the journal again before the other starts
  rm -f /var/lib/ivsh/ivsh.state
  setpriv --reuid=ivsh --regid=kvm --init-groups setsid ivsh host --region /dev/shm/other-ivsh \
    --socket /run/ivsh/other.sock --state /var/lib/ivsh/ivsh.state >/tmp/other.log 2>&1 </dev/null &
  other=$!
  for _ in $(seq 1 60); do
    grep -q "arbiter serving" /tmp/other.log && break
    sleep 0.5
  done
  kill -CONT "$unit_pid"
  sleep 2
  taken_since=$(date '+%F %T')
  sleep 1
  kill -HUP "$unit_pid"
  for _ in $(seq 1 60); do
    [ "$(systemctl is-active ivsh-host)" = failed ] && break
    sleep 0.5
  done
  check "journal taken over: it said so at err" test "$(logged "$taken_since" err "another arbiter took")" -ge 1
  check "journal taken over: restarts refused, then failed" test "$(systemctl is-active ivsh-host)" = failed
  check "journal taken over: the other arbiter serves on" kill -0 "$other"
  check "journal taken over: the other has the journal open" grep -q /var/lib/ivsh/ivsh.state <(ls -l "/proc/$other/fd")
  kill -TERM "$other"
  wait "$other"
  rm -f /dev/shm/other-ivsh /dev/shm/other-ivsh.wake /var/lib/ivsh/ivsh.state
  systemctl reset-failed ivsh-host
  systemctl start ivsh-host
  check "back to active after the other arbiter" test "$(systemctl is-active ivsh-host)" = active

  echo "--- journalctl -u ivsh-host (the last lines)"
  journalctl -u ivsh-host --no-pager -n 12
  echo "$failures check(s) failed"
  exit $((failures > 0))
fi

ROOT=${1:-/var/tmp/ivsh-systemd-root}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
[ "$(id -u)" = 0 ] || {
  echo "run as root (debootstrap, systemd-nspawn)" >&2
  exit 2
}
[ -x "$REPO/dist/ivsh" ] || {
  echo "no $REPO/dist/ivsh: npm run build first" >&2
  exit 2
}
for tool in debootstrap systemd-nspawn nsenter; do
  command -v $tool >/dev/null || {
    echo "$tool is missing (apt-get install debootstrap systemd-container util-linux)" >&2
    exit 2
  }
done

if [ ! -x "$ROOT/usr/lib/systemd/systemd" ]; then
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,util-linux,procps,passwd \
    bookworm "$ROOT" http://deb.debian.org/debian || exit 1
fi
rm -rf "$ROOT/root/ivsh" && mkdir -p "$ROOT/root/ivsh/dist" || exit 1
cp "$REPO/dist/ivsh" "$ROOT/root/ivsh/dist/" && cp -r "$REPO/docs" "$REPO/contrib" "$ROOT/root/ivsh/" &&
  cp "$REPO/scripts/systemd-unit-check.sh" "$ROOT/root/" || exit 1

# --register=no --keep-unit: the host needs no systemd of its own (a container's PID 1 may be anything).
systemd-nspawn -b -D "$ROOT" --machine=ivsh-unit-check --register=no --keep-unit \
  >"$ROOT/root/console.log" 2>&1 </dev/null &
nspawn=$!
init=
for _ in $(seq 1 120); do
  init=$(pgrep -P $nspawn -x systemd) && break
  sleep 0.5
done
inside() {
  # env -C /: nsenter's --wd is opened before it enters the mount namespace.
  nsenter -t "$init" -m -u -i -p -n --root -- \
    env -i -C / PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root TERM=dumb "$@"
}
state=
for _ in $(seq 1 120); do
  [ -n "$init" ] && state=$(inside systemctl is-system-running 2>/dev/null)
  case $state in running | degraded) break ;; esac
  sleep 0.5
done
if [ -z "$init" ] || [ -z "$state" ]; then
  echo "the container did not boot: see $ROOT/root/console.log" >&2
  kill $nspawn
  exit 1
fi
inside bash /root/systemd-unit-check.sh --inside
result=$?
inside systemctl poweroff
wait $nspawn
exit $result
