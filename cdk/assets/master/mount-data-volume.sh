# mount_volume DEVICE LABEL MOUNTPOINT: the master's data volume on its mount point (sourced by the boot).
#
# A blank device gets an ext4 file system with the label; a device that already carries the label (the volume
# of a previous master, or one restored from a snapshot) is mounted as it is, its data kept; a device with any
# other file system is refused, never formatted. The fstab line mounts it by label at every later boot. A volume
# that EBS has grown (rabbitmqVolumeGiB, databaseVolumeGiB) gets its file system grown online to match.
# OQ_FSTAB (default /etc/fstab) lets the restore test run this on a loop device without touching the host's.
mount_volume() {
  local fstab=${OQ_FSTAB:-/etc/fstab} label
  label=$(blkid -s LABEL -o value "$1" || true)
  if [[ -z "$label" ]]; then
    if blkid "$1" >/dev/null; then
      echo "$1 has a file system without a label: refusing to format it (expected label $2)" >&2
      return 1
    fi
    mkfs.ext4 -q -L "$2" "$1"
  elif [[ "$label" != "$2" ]]; then
    echo "$1 has the label $label, not $2: refusing to mount or format it" >&2
    return 1
  fi
  grep -q "^LABEL=$2 " "$fstab" || echo "LABEL=$2 $3 ext4 defaults,nofail 0 2" >>"$fstab"
  mkdir -p "$3"
  mountpoint -q "$3" || mount -T "$fstab" "$3"
  resize2fs "$1" 2>&1 | grep -v 'Nothing to do' || true
}
