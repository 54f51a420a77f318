#!/usr/bin/env bash
# A disk with slow cache flushes, mounted as ext4, for `BENCH_DIR=... npm run bench` (issue 16):
#   bench/slow-flush/disk.sh up DIR [DELAY_MS [SIZE]]   mounts it on DIR/mnt (default 10 ms, 8G)
#   bench/slow-flush/disk.sh down DIR
# The layers: a sparse file DIR/backing.img, served by nbdkit with slowflush.so (each flush or
# FUA write sleeps DELAY_MS), exposed as a file by nbdfuse (4 connections), a loop device on it
# with direct I/O, ext4 on that. Writes reach the backing file's page cache at once, so bandwidth
# stays that of the layers (about 300 MB/s here) and only flushes are slow. Needs root, /dev/fuse,
# loop devices, gcc and Debian's nbdkit, nbdkit-plugin-dev and libnbd-bin (nbdfuse).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
op="${1:?up or down}"
dir="$(mkdir -p "${2:?a work directory}" && cd "$2" && pwd)"

down() {
  if mountpoint -q "$dir/mnt"; then umount "$dir/mnt"; fi
  if [ -f "$dir/loop" ]; then losetup -d "$(cat "$dir/loop")" 2>/dev/null || true; rm -f "$dir/loop"; fi
  if mountpoint -q "$dir/fuse"; then fusermount3 -u "$dir/fuse" 2>/dev/null || umount "$dir/fuse"; fi
  if [ -f "$dir/nbdkit.pid" ]; then kill "$(cat "$dir/nbdkit.pid")" 2>/dev/null || true; rm -f "$dir/nbdkit.pid"; fi
  rm -f "$dir/sock" "$dir/backing.img"
}

case "$op" in
up)
  delay="${3:-10}"
  size="${4:-8G}"
  for tool in nbdkit nbdfuse gcc losetup mkfs.ext4; do
    command -v "$tool" >/dev/null || { echo "disk.sh: $tool is missing (apt-get install -y nbdkit nbdkit-plugin-dev libnbd-bin gcc e2fsprogs)" >&2; exit 1; }
  done
  gcc -shared -fPIC -O2 -Wall -o "$dir/slowflush.so" "$here/slowflush.c"
  mkdir -p "$dir/fuse" "$dir/mnt"
  truncate -s "$size" "$dir/backing.img"
  nbdkit -U "$dir/sock" -P "$dir/nbdkit.pid" "$dir/slowflush.so" file="$dir/backing.img" delay="$delay"
  for _ in $(seq 50); do [ -S "$dir/sock" ] && break; sleep 0.1; done
  nbdfuse -C 4 "$dir/fuse" --unix "$dir/sock" &
  for _ in $(seq 50); do [ -e "$dir/fuse/nbd" ] && break; sleep 0.1; done
  losetup -f --show --direct-io=on "$dir/fuse/nbd" >"$dir/loop"
  mkfs.ext4 -q -F -E nodiscard "$(cat "$dir/loop")"
  mount "$(cat "$dir/loop")" "$dir/mnt"
  echo "$dir/mnt: ext4 whose flushes take ${delay} ms (BENCH_DIR=$dir/mnt npm run bench)"
  ;;
down) down ;;
*) echo "disk.sh: up or down, not $op" >&2; exit 1 ;;
esac
