#!/bin/sh
# /init of the ivsh test VM: busybox, a Debian cloud kernel and the ivsh binary in one initramfs.
# scripts/qemu/build-image.sh copies this file into the image; scripts/qemu/launch.sh boots it.
#
# It reads its orders from QEMU fw_cfg files (loaded through the qemu_fw_cfg module):
#   opt/ivsh/name    the VM's name (hostname, and $IVSH_VM for the command)
#   opt/ivsh/cmd     if present: run this under /bin/sh, then power off; otherwise give a shell
#   opt/ivsh/stderr  if present: the command's stderr goes to its own port (nr=3), not stdout's
#   opt/ivsh/share   if present: the virtiofs tag to mount at /mnt/share
# The command's output goes to virtio-serial port nr=1 (ivsh.out) byte for byte, nothing else ever
# writes there; its result goes to port nr=2 (ivsh.status) as "boot=UPTIME" then "rc=N uptime=UPTIME".
# The console (ttyS0) only carries boot noise and the marker lines IVSH-RUN-BEGIN / IVSH-RUN-END rc=N.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777,size=90% tmpfs /tmp
mount -t tmpfs -o mode=1777,size=50% tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
ln -sf /proc/self/fd /dev/fd 2>/dev/null
ln -sf /proc/self/fd/0 /dev/stdin 2>/dev/null
ln -sf /proc/self/fd/1 /dev/stdout 2>/dev/null
ln -sf /proc/self/fd/2 /dev/stderr 2>/dev/null

log() { echo "ivsh-init: $*" >/dev/console; }

# Dependency order matters: busybox insmod does not resolve dependencies.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci \
  failover net_failover virtio_net virtio_console qemu_fw_cfg; do
  insmod "/lib/modules/ivsh/$m.ko" || log "insmod $m failed"
done

CFG=/sys/firmware/qemu_fw_cfg/by_name/opt/ivsh
cfg() { cat "$CFG/$1/raw" 2>/dev/null; }

IVSH_VM=$(cfg name)
export IVSH_VM="${IVSH_VM:-ivsh-vm}"
hostname "$IVSH_VM"

ip link set lo up
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up &&
    ip addr add 10.0.2.15/24 dev eth0 &&
    ip route add default via 10.0.2.2 ||
    log "network setup failed"
fi

if [ -e "$CFG/share/raw" ]; then
  mkdir -p /mnt/share
  insmod /lib/modules/ivsh/fuse.ko && insmod /lib/modules/ivsh/virtiofs.ko &&
    mount -t virtiofs "$(cfg share)" /mnt/share || log "mounting the shared directory failed"
fi

# /dev/vport<N>p<nr> for virtio-serial port number nr; devtmpfs may need a moment to create it.
port() {
  i=0
  while [ $i -lt 200 ]; do
    for d in /dev/vport*p"$1"; do
      if [ -c "$d" ]; then
        echo "$d"
        return 0
      fi
    done
    sleep 0.01
    i=$((i + 1))
  done
  return 1
}

off() {
  sync
  poweroff -f
  echo o >/proc/sysrq-trigger
}

cd /root || cd /
if [ -e "$CFG/cmd/raw" ]; then
  OUT=$(port 1) || { log "no output port, using the console"; OUT=/dev/console; }
  STATUS=$(port 2) || { log "no status port"; STATUS=/dev/console; }
  ERR=
  if [ -e "$CFG/stderr/raw" ]; then ERR=$(port 3) || log "no stderr port"; fi
  read -r up _ </proc/uptime
  echo "boot=$up" >"$STATUS"
  echo "IVSH-RUN-BEGIN" >/dev/console
  if [ -n "$ERR" ]; then
    /bin/sh -c "$(cfg cmd)" </dev/null >"$OUT" 2>"$ERR"
  else
    /bin/sh -c "$(cfg cmd)" </dev/null >"$OUT" 2>&1
  fi
  rc=$?
  read -r up _ </proc/uptime
  echo "rc=$rc uptime=$up" >"$STATUS"
  echo "IVSH-RUN-END rc=$rc" >/dev/console
  off
fi

echo "ivsh test VM '$IVSH_VM': /usr/local/bin/ivsh, region at /sys/bus/pci/devices/*/resource2 (1af4:1110)."
echo "Leave with 'poweroff' (or Ctrl-A X)."
# busybox poweroff/reboot/halt signal PID 1 (USR2/TERM/USR1): this script is PID 1, so it powers off
# for all three. The shell runs in the background so that `wait` can be interrupted by them. Not as
# `sh -l &`: a job started with & by this non-interactive shell ignores SIGINT for good (and so does
# everything it runs), so Ctrl-C interrupted no command and, at the prompt, ended the shell and the
# VM. start-stop-daemon, run in the foreground, puts it in the background with SIGINT at its default;
# it leaves it a child of PID 1, which a `wait` for the `sleep` reaps, so `kill -0` sees its end.
trap off USR1 USR2 TERM
start-stop-daemon -S -b -m -p /run/shell.pid -x /bin/sh -- -c 'setsid cttyhack /bin/sh -l'
while kill -0 "$(cat /run/shell.pid)" 2>/dev/null; do
  sleep 1 &
  wait $!
done
off
