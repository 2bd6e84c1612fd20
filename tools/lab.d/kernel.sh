#!/bin/bash
# Kernel tier image (docs/lab.md, tier 2): the lab base plus Debian's kernel and initramfs
# and the guest identity unit, as an ext4 disk image with the kernel and initrd beside it.
# Usage: kernel.sh TREE RECIPE_DIR OUT_DIR   (runs on the host as root)
# TREE is a scratch copy of the base stage; OUT_DIR gets disk.raw, vmlinuz and initrd.img.
set -euo pipefail
tree=$1 recipe=$2 out=$3

# The base keeps policy-rc.d (nothing starts while installing) and its apt lists.
echo force-unsafe-io > "$tree/etc/dpkg/dpkg.cfg.d/halab-build-unsafe-io"
in_tree() {
  systemd-nspawn -q -D "$tree" --register=no --keep-unit --resolv-conf=bind-host --timezone=off \
    -E DEBIAN_FRONTEND=noninteractive -E LC_ALL=C "$@"
}
in_tree apt-get -q update
in_tree apt-get -q -y --no-install-recommends install linux-image-amd64 initramfs-tools
in_tree apt-get clean
rm -f "$tree/etc/dpkg/dpkg.cfg.d/halab-build-unsafe-io"

bash "$recipe/finish.sh" "$tree" "$recipe"

# Identity comes from QEMU fw_cfg at every boot (tools/lab writes it per guest).
install -m 0755 "$recipe/halab-identity" "$tree/usr/sbin/halab-identity"
install -m 0644 "$recipe/halab-identity.service" "$tree/etc/systemd/system/halab-identity.service"
systemctl --root="$tree" enable halab-identity.service
# A fixed machine-id, so that no boot is a "first boot" (which would apply presets and enable
# the stack services); each guest gets its own from systemd.machine_id= on its command line.
echo 4a4c4142000000000000000000000001 > "$tree/etc/machine-id"

cp "$(ls "$tree"/boot/vmlinuz-* | sort -V | tail -1)" "$out/vmlinuz"
cp "$(ls "$tree"/boot/initrd.img-* | sort -V | tail -1)" "$out/initrd.img"
rm -f "$out/disk.raw"
truncate -s 8G "$out/disk.raw"
mkfs.ext4 -q -F -L halab-root -E lazy_itable_init=0 -d "$tree" "$out/disk.raw"
