# shellcheck shell=bash
# A && B || C is intended.
# shellcheck disable=SC2015
# Sourced by launch.sh: what launch.sh runs SIGKILLed with their whole process group left behind (a cancelled
# CI job's `kill -9 -PGID`: their watchdog died with them, their QEMU ended by its parent-death signal) goes
# at the next launch: name locks nobody holds, and temp dirs whose launch.sh is gone.

# The start time of process PID (clock ticks since boot, field 22 of /proc/PID/stat), empty if there is none:
# with the pid it names one process, not a later one given the same pid.
start_time() {
  local stat fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  read -r -a fields <<<"${stat##*) }" # after the command name, which may hold spaces and ')': field 3 on
  echo "${fields[19]:-}"
}

# This process's pid namespace: a pid read from an owner file means something only in the one it was written in
# (a container sharing TEMP_BASE sees other pids).
pid_namespace() { readlink /proc/self/ns/pid 2>/dev/null || echo unknown; }

# Records this launch.sh as the owner of its temp dir DIR.
own_temp_dir() {
  echo "$$ $(start_time $$) $(pid_namespace)" >"$1/owner"
}

# Removes the name locks in RUN_DIR that no launch.sh holds (nor its QEMU, which keeps the lock's fd), and the
# temp dirs ivsh-vm.* in TEMP_BASE whose owner is gone. Called under RUN_DIR's sweep lock, which every
# launch.sh holds while it takes its name: a lock tried here meanwhile would make that `flock -n` fail, as if
# the name were taken. A lock file is removed only while held and still at its path, as launch.sh's own exit
# removes it (see "one VM per name"). A temp dir of another checkout (other run dir, same TEMP_BASE) is told
# apart by its owner, not by a lock; one without an owner file (a launch.sh from before it was written, or
# one killed between mktemp and writing it), or from another pid namespace, is left, unless a file in it is
# immutable or append-only (see remove_stale_dir).
sweep_stale() {
  local run_dir=$1 temp_base=$2 lock dir pid start namespace ours
  ours=$(pid_namespace)
  for lock in "$run_dir"/*.lock; do
    [ -f "$lock" ] || continue
    # shellcheck disable=SC2094 # fd 9 reads the lock; stat compares it with what is at the path now
    (
      exec 9<"$lock" && flock -n 9 || exit 0
      [ "$(stat -c %d:%i "$lock" 2>/dev/null)" = "$(stat -L -c %d:%i /proc/self/fd/9)" ] && rm -f "$lock"
    ) 2>/dev/null || true
  done
  for dir in "$temp_base"/ivsh-vm.*; do
    # Not through a link: its target is no temp dir of a launch.sh, and removing would follow it.
    [ -d "$dir" ] && [ ! -L "$dir" ] && [ -O "$dir" ] || continue
    if [ ! -f "$dir/owner" ]; then
      ! holds_stuck_file "$dir" || remove_stale_dir "$dir"
      continue
    fi
    read -r pid start namespace <"$dir/owner" 2>/dev/null || continue
    [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$start" =~ ^[0-9]+$ ]] && [ "$namespace" = "$ours" ] || continue
    [ "$(start_time "$pid")" = "$start" ] || remove_stale_dir "$dir"
  done
}

# Removes the stale temp dir DIR. Refused (a file in it made immutable or append-only, as root: chattr), a
# warning, and the launch goes on: before, `set -e` ended launch.sh here, under the sweep lock, in rm's
# words only, and every later launch.sh in this checkout failed the same way until someone found DIR.
# Its owner file goes last, so that each later launch.sh finds DIR stale again and warns too: removed with
# the rest (rm -rf), DIR was one without an owner, passed over in silence from the second launch on.
# DIR gone meanwhile is no failure: another checkout's launch.sh (its own run dir, so its own sweep lock;
# the same TEMP_BASE) removed it at the same moment, and find and rmdir, unlike rm -rf, say so.
remove_stale_dir() {
  local why
  why=$({ find "$1" -mindepth 1 -maxdepth 1 ! -name owner -exec rm -rf -- {} + && rm -f -- "$1/owner" &&
    rmdir -- "$1"; } 2>&1) && return 0
  [ -e "$1" ] || return 0
  echo "launch.sh: warning: could not remove $1, the temp dir of a launch.sh that is gone (${why%%$'\n'*}): remove it yourself (chattr -i -a what is in it first, as root, if it is immutable or append-only)" >&2
}

# True if a file in DIR is immutable or append-only (lsattr's flags 'i', 'a'): no launch.sh makes one, so a
# DIR without an owner file that holds one is no live launch.sh's, but one whose removal failed on it after
# rm -rf had taken its owner (before remove_stale_dir kept the owner for last).
holds_stuck_file() {
  local flags _
  while read -r flags _; do
    [[ "$flags" == *[ia]* ]] && return 0
  done < <(lsattr -- "$1" 2>/dev/null || true)
  return 1
}
