#!/usr/bin/env bash
# Builds hive-fixtures/demo-disk.img.gz: a GPT disk image with one NTFS
# partition at 1 MiB holding the demo tree (Windows/System32/config with the
# generated SYSTEM and SOFTWARE hives and their logs). Needs root, /dev/fuse,
# mkntfs + ntfs-3g (ntfs-3g package) and sfdisk (fdisk package).
#   hive-fixtures/make-demo-disk.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
pid=""
cleanup() {
  if mountpoint -q "$tmp/mnt" 2>/dev/null; then umount "$tmp/mnt" || true; fi
  if [ -n "$pid" ]; then wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

vol="$tmp/vol.img"
truncate -s 16M "$vol"
mkntfs -F -Q -q -c 4096 -s 512 -p 2048 -H 255 -S 63 -L Windows "$vol"
mkdir "$tmp/mnt"
# no_detach: the daemon stays our child so that we can wait for its flush.
ntfs-3g -o no_detach "$vol" "$tmp/mnt" &
pid=$!
for _ in $(seq 100); do mountpoint -q "$tmp/mnt" && break; sleep 0.1; done
mountpoint -q "$tmp/mnt"
mkdir -p "$tmp/mnt/Windows/System32/config"
cp --sparse=never "$here"/demo-tree/Windows/System32/config/* "$tmp/mnt/Windows/System32/config/"
umount "$tmp/mnt"
wait "$pid"
pid=""

disk="$tmp/demo-disk.img"
truncate -s 18M "$disk"
printf 'label: gpt\nstart=2048, size=%d, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="Basic data partition"\n' \
  $((16 * 1024 * 1024 / 512)) | sfdisk -q "$disk"
dd if="$vol" of="$disk" bs=1M seek=1 conv=notrunc status=none
gzip -9n -c "$disk" > "$here/demo-disk.img.gz"
echo "$here/demo-disk.img.gz ($(stat -c %s "$here/demo-disk.img.gz") bytes)"
