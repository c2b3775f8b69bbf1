# Sourced by launch.sh: which accelerator a VM boots with, and the QEMU arguments each one needs.
# Uses launch.sh's QEMU, OUT, SMP, COMMON and its q / say helpers.
# shellcheck shell=bash

# Under TCG the guest's atomic instructions (lock cmpxchg, lock xadd) are atomic against the host's
# processes only in parallel mode: QEMU turns it on (CF_PARALLEL) for multi-threaded TCG with more than
# one *possible* vCPU, and otherwise emits a plain load and store, since no other vCPU could interleave.
# A host process can, through the shared region: with `-smp 1` a guest's lock and a host's lock were
# both taken at once (seen as a cross-VM condvar loop that never ended). So TCG always runs
# thread=multi with room for a second vCPU (maxcpus=2; the guest still starts --smp vCPUs).
accel_args() { # accel_args kvm|tcg
  if [ "$1" = kvm ]; then echo "-accel kvm -cpu host"; else echo "-accel tcg,thread=multi -cpu max"; fi
}

smp_args() { # smp_args kvm|tcg
  if [ "$1" = kvm ] || [ "$SMP" -gt 1 ]; then echo "$SMP"; else echo "$SMP,maxcpus=2"; fi
}

# Boots base.cpio (no ivsh binary) under KVM with `true` as the command: KVM works if the guest
# reports a result within a few seconds.
probe_kvm() {
  [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
  [ -s "$OUT/base.cpio" ] || return 1
  local d rc=1
  d=$(mktemp -d "${TMPDIR:-/tmp}/ivsh-kvm-probe.XXXXXX")
  printf 'true' >"$d/cmd"
  timeout -s KILL 6 "$QEMU" "${COMMON[@]}" -initrd "$OUT/base.cpio" -accel kvm -cpu host -m 256M \
    -serial none -monitor none \
    -device virtio-serial-pci,id=vser \
    -chardev file,id=out,path="$(q "$d/out")" -device virtserialport,bus=vser.0,nr=1,chardev=out,name=ivsh.out \
    -chardev file,id=status,path="$(q "$d/status")" -device virtserialport,bus=vser.0,nr=2,chardev=status,name=ivsh.status \
    -fw_cfg name=opt/ivsh/cmd,file="$(q "$d/cmd")" </dev/null >/dev/null 2>&1 || true
  grep -q '^rc=0' "$d/status" 2>/dev/null && rc=0
  rm -rf "$d"
  return $rc
}

resolve_accel() {
  local boot cache="$OUT/accel" verdict
  boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  exec 8>"$OUT/.accel.lock"
  flock 8
  if [ -s "$cache" ] && [ "$(awk '{print $1}' "$cache")" = "$boot" ]; then
    verdict=$(awk '{print $2}' "$cache")
  else
    if probe_kvm; then verdict=kvm; else verdict=tcg; fi
    echo "$boot $verdict" >"$cache"
    say "KVM probe: using $verdict (cached in $cache for this host boot)"
  fi
  exec 8>&-
  echo "$verdict"
}
