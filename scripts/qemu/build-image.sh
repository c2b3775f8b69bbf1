#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2012
# Builds the ivsh test VM image into build/qemu/: a Debian cloud kernel and a busybox initramfs
# holding the ivsh binary and its glibc libraries. A no-op when nothing it depends on changed.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")
REPO=$(cd "$HERE/../.." && pwd)
OUT="$REPO/build/qemu"
INIT="$HERE/guest-init.sh"

BINARY="${IVSH_GUEST_BINARY:-$REPO/dist/ivsh}"
FORCE=0
REFRESH_KERNEL=0
QUIET=0

usage() {
  cat <<EOF
Usage: scripts/qemu/build-image.sh [--binary PATH] [--force] [--refresh-kernel] [--quiet]

Builds the ivsh test VM image into build/qemu/ (relative to the repository root):
  build/qemu/vmlinuz          Debian cloud kernel (apt-get download + dpkg -x, not installed)
  build/qemu/base.cpio        busybox-static, /init (scripts/qemu/guest-init.sh), virtio modules
  build/qemu/initramfs.cpio   base.cpio + /usr/local/bin/ivsh and its glibc libraries (uncompressed)

The image is rebuilt only when the binary (path, size, mtime), guest-init.sh or this script
changed; the kernel and busybox are fetched once and kept until --refresh-kernel.
Missing host tools (cpio) are installed with apt-get.

Options:
  --binary PATH      ivsh binary to put in the guest (default: dist/ivsh, from 'npm run build';
                     env IVSH_GUEST_BINARY)
  --force            rebuild the initramfs even if it looks up to date
  --refresh-kernel   fetch the current kernel and busybox packages again
  --quiet            say nothing unless something is rebuilt or fails
  -h, --help         this help

Exit status: 0 built or up to date, 1 failure, 2 bad usage.
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) [ $# -ge 2 ] || { echo "build-image.sh: --binary needs a path" >&2; exit 2; }; BINARY=$2; shift 2 ;;
    --binary=*) BINARY=${1#*=}; shift ;;
    --force) FORCE=1; shift ;;
    --refresh-kernel) REFRESH_KERNEL=1; FORCE=1; shift ;;
    --quiet | -q) QUIET=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "build-image.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

say() { [ "$QUIET" = 1 ] || echo "build-image.sh: $*" >&2; }
loud() { echo "build-image.sh: $*" >&2; }
die() { echo "build-image.sh: error: $*" >&2; exit 1; }

APT_UPDATED=0
apt_update_once() {
  if [ "$APT_UPDATED" = 0 ]; then
    loud "running apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
}

# The candidate version of a package, updating the package lists once if apt knows none.
apt_candidate() {
  local c
  c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$c" ] || [ "$c" = "(none)" ]; then
    apt_update_once
    c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
  fi
  [ -n "$c" ] && [ "$c" != "(none)" ] || return 1
  echo "$c"
}

need_tool() { # need_tool COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  apt_candidate "$2" >/dev/null || die "'$1' is missing and apt knows no package '$2'"
  loud "installing $2 for '$1' (apt-get install -y $2)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$2" >&2 ||
    die "apt-get install $2 failed"
}

# apt-get download PACKAGE into DIR; prints the .deb's path.
apt_download() {
  local pkg=$1 dir=$2
  apt_candidate "$pkg" >/dev/null || die "apt knows no package '$pkg'"
  loud "fetching $pkg (apt-get download)"
  (cd "$dir" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >&2) || die "apt-get download $pkg failed"
  ls "$dir"/"${pkg}"_*.deb | head -n1
}

# The versioned cloud kernel package the metapackage currently points at.
kernel_package() {
  local p
  apt_candidate linux-image-cloud-amd64 >/dev/null || die "apt knows no linux-image-cloud-amd64"
  p=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-image-.*-cloud-amd64$/ {print $2; exit}')
  if [ -z "$p" ]; then
    p=$(apt-cache search --names-only '^linux-image-[0-9].*-cloud-amd64$' | awk '{print $1}' |
      grep -v -e '-dbg$' -e '-unsigned$' | sort -V | tail -n1)
  fi
  [ -n "$p" ] || die "found no linux-image-<version>-cloud-amd64 package"
  echo "$p"
}

# Modules the guest needs, all from the kernel package; guest-init.sh loads them in this order.
MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
  failover net_failover virtio_net virtio_console qemu_fw_cfg fuse virtiofs)

mkdir -p "$OUT"
exec 9>"$OUT/.build.lock"
flock 9

# ---- kernel + modules + busybox (fetched once) ----
KDIR="$OUT/kernel"
BBDIR="$OUT/busybox"
if [ "$REFRESH_KERNEL" = 1 ] || [ ! -s "$KDIR/PACKAGE" ] || [ ! -s "$OUT/vmlinuz" ] ||
  [ ! -s "$BBDIR/VERSION" ] || [ ! -x "$BBDIR/busybox" ]; then
  need_tool dpkg-deb dpkg
  tmp=$(mktemp -d "$OUT/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  kpkg=$(kernel_package)
  deb=$(apt_download "$kpkg" "$tmp")
  dpkg -x "$deb" "$tmp/k"
  kver=$(ls "$tmp/k/lib/modules" | head -n1)
  [ -n "$kver" ] && [ -f "$tmp/k/boot/vmlinuz-$kver" ] || die "$deb holds no kernel"
  rm -rf "$KDIR.new" && mkdir -p "$KDIR.new/modules"
  for m in "${MODULES[@]}"; do
    f=$(find "$tmp/k/lib/modules/$kver" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n1)
    [ -n "$f" ] || die "$kpkg has no module $m"
    case "$f" in
      *.ko.xz) need_tool xz xz-utils; xz -dc "$f" >"$KDIR.new/modules/$m.ko" ;;
      *.ko.zst) need_tool zstd zstd; zstd -qdc "$f" >"$KDIR.new/modules/$m.ko" ;;
      *) cp "$f" "$KDIR.new/modules/$m.ko" ;;
    esac
  done
  cp "$tmp/k/boot/vmlinuz-$kver" "$KDIR.new/vmlinuz"
  echo "$kver" >"$KDIR.new/VERSION"
  echo "$kpkg $(dpkg-deb -f "$deb" Version)" >"$KDIR.new/PACKAGE"

  bdeb=$(apt_download busybox-static "$tmp")
  dpkg -x "$bdeb" "$tmp/bb"
  rm -rf "$BBDIR.new" && mkdir -p "$BBDIR.new"
  cp "$tmp/bb/bin/busybox" "$BBDIR.new/busybox"
  echo "busybox-static $(dpkg-deb -f "$bdeb" Version)" >"$BBDIR.new/VERSION"

  rm -rf "$KDIR" "$BBDIR"
  mv "$KDIR.new" "$KDIR"
  mv "$BBDIR.new" "$BBDIR"
  cp "$KDIR/vmlinuz" "$OUT/vmlinuz.tmp" && mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
  rm -f "$OUT/base.cpio" "$OUT/image.key"
  rm -rf "$tmp"
  trap - EXIT
  say "kernel $(cat "$KDIR/PACKAGE"), $(cat "$BBDIR/VERSION")"
fi

# ---- initramfs ----
[ -e "$BINARY" ] || die "no ivsh binary at $BINARY: run 'npm run build' first, or pass --binary PATH"
BINARY=$(readlink -f "$BINARY")
[ -f "$BINARY" ] && [ -x "$BINARY" ] || die "$BINARY is not an executable file"

# Shared libraries the binary loads, as ldd resolves them on this host.
LIBS=()
if ldd_out=$(ldd "$BINARY" 2>/dev/null); then
  while read -r lib; do [ -n "$lib" ] && LIBS+=("$lib"); done < <(
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out" | sort -u)
fi

key() {
  sha256sum "$SELF" "$INIT" | awk '{print $1}'
  cat "$KDIR/PACKAGE" "$BBDIR/VERSION"
  stat -L -c '%n %s %Y' "$BINARY"
  for l in "${LIBS[@]}"; do stat -L -c '%n %s %Y' "$l"; done
}
KEY=$(key)

if [ "$FORCE" = 0 ] && [ -s "$OUT/initramfs.cpio" ] && [ -s "$OUT/base.cpio" ] &&
  [ "$KEY" = "$(cat "$OUT/image.key" 2>/dev/null)" ]; then
  say "image up to date ($OUT)"
  exit 0
fi

need_tool cpio cpio
say "building initramfs with $BINARY ($(stat -L -c %s "$BINARY") bytes)"
stage=$(mktemp -d "$OUT/.stage.XXXXXX")
trap 'rm -rf "$stage" "$OUT"/base.cpio.tmp "$OUT"/initramfs.cpio.tmp' EXIT

# A newc cpio entry built by hand, so device nodes need no mknod (and no root).
newc_entry() { # newc_entry NAME MODE RDEVMAJOR RDEVMINOR INODE
  local name=$1 mode=$2 namesize=$((${#1} + 1)) pad
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    "$5" "$mode" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0
  printf '%s\0' "$name"
  pad=$(((4 - (110 + namesize) % 4) % 4))
  head -c "$pad" /dev/zero
}
cpio_dir() { # cpio_dir DIR: a newc archive of DIR's contents, owned by root, on stdout
  (cd "$1" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc -R 0:0 --reproducible --quiet)
}

# base: busybox, init, modules, a few /etc files.
b="$stage/base"
mkdir -p "$b"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib/modules/ivsh,etc,proc,sys,dev,tmp,run,root,mnt/share}
chmod 1777 "$b/tmp"
chmod 700 "$b/root"
cp "$BBDIR/busybox" "$b/bin/busybox"
while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$b/$(dirname "$applet")"
  ln -sf /bin/busybox "$b/$applet"
done < <("$BBDIR/busybox" --list-full)
cp "$INIT" "$b/init"
chmod 755 "$b/init"
for m in "${MODULES[@]}"; do cp "$KDIR/modules/$m.ko" "$b/lib/modules/ivsh/"; done
cat >"$b/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$b/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
cat >"$b/etc/hosts" <<'EOF'
127.0.0.1 localhost
10.0.2.2 host
10.0.2.100 ivsh-bridge
EOF
# What the README's first VM example sends: a file every real distribution has.
cat >"$b/etc/os-release" <<'EOF'
PRETTY_NAME="ivsh test VM (busybox)"
NAME="ivsh test VM"
ID=ivsh-test
EOF
echo 'export PS1="\h:\w# "' >"$b/etc/profile"
{
  newc_entry dev $((0040755)) 0 0 900001
  newc_entry dev/console $((0020600)) 5 1 900002
  cpio_dir "$b"
} >"$OUT/base.cpio.tmp"

# the binary and the libraries it loads.
x="$stage/bin"
mkdir -p "$x/usr/local/bin"
cp "$BINARY" "$x/usr/local/bin/ivsh"
chmod 755 "$x/usr/local/bin/ivsh"
for l in "${LIBS[@]}"; do
  mkdir -p "$x$(dirname "$l")"
  cp -L "$l" "$x$l"
done
{
  cat "$OUT/base.cpio.tmp"
  cpio_dir "$x"
} >"$OUT/initramfs.cpio.tmp"

mv "$OUT/base.cpio.tmp" "$OUT/base.cpio"
mv "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"
echo "$KEY" >"$OUT/image.key"
rm -rf "$stage"
trap - EXIT
say "built $OUT/initramfs.cpio ($(stat -c %s "$OUT/initramfs.cpio") bytes, kernel $(cat "$KDIR/VERSION"))"
