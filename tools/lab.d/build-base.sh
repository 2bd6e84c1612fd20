#!/bin/bash
# Stage 1 of the lab image: debootstrap Debian 12 and install the package list.
# Usage: build-base.sh TARGET_DIR MIRROR PACKAGES_FILE
# Runs on the host as root. Nothing may start inside the chroot (policy-rc.d).
set -euo pipefail
target=$1 mirror=$2 pkgfile=$3
suite=bookworm

mounted=()
cleanup() {
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,apt-utils "$suite" "$target" "$mirror"
# No fsync per file while building: the image is written once and checked by the .complete
# marker, and fsync storms slow the whole host (a lab running beside a build stalls).
echo force-unsafe-io > "$target/etc/dpkg/dpkg.cfg.d/halab-build-unsafe-io"

for m in proc sys dev dev/pts; do
  case $m in
    proc) mount -t proc proc "$target/proc" ;;
    sys) mount -t sysfs sysfs "$target/sys" ;;
    dev) mount --bind /dev "$target/dev" ;;
    dev/pts) mount -t devpts devpts "$target/dev/pts" -o newinstance,ptmxmode=0666 ;;
  esac
  mounted+=("$target/$m")
done

cat > "$target/usr/sbin/policy-rc.d" <<'P'
#!/bin/sh
# lab image build: never start services in the chroot
exit 101
P
chmod 755 "$target/usr/sbin/policy-rc.d"

# Same suites as the host: base, updates and security.
cat > "$target/etc/apt/sources.list" <<S
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian*}/debian-security $suite-security main
S

# Keystone's debconf: no database, no admin tenant, no endpoint registration at install.
cat > "$target/tmp/debconf.sel" <<'D'
keystone keystone/configure_db boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
keystone keystone/dbconfig-install boolean false
D
# The same for the other projects: the stacks write their configs, databases and endpoints.
for p in nova placement neutron cinder heat; do
  for q in configure_db configure_api-endpoint configure_rabbit configure_ksat; do
    echo "$p $p/$q boolean false"
  done
done >> "$target/tmp/debconf.sel"
cat >> "$target/tmp/debconf.sel" <<'D'
nova novaapi/configure_db boolean false
nova nova/configure_neutron boolean false
nova nova/configure_placement boolean false
neutron neutron/configure_nova boolean false
neutron-metadata neutron-metadata/configure boolean false
heat heat/configure_with_debconf boolean false
ceilometer ceilometer/configure_rabbit boolean false
D

mapfile -t pkgs < <(grep -v -e '^\s*#' -e '^\s*$' "$pkgfile")
failed=()
chroot "$target" /bin/bash -euo pipefail -c "
  export DEBIAN_FRONTEND=noninteractive LC_ALL=C
  debconf-set-selections /tmp/debconf.sel
  apt-get update -q
  apt-get -q -y upgrade
"
# One transaction for speed; if it fails, go package by package and report the failures.
if ! chroot "$target" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
    apt-get -q -y --no-install-recommends install "${pkgs[@]}"; then
  echo "build-base: bulk install failed, installing one by one" >&2
  for p in "${pkgs[@]}"; do
    chroot "$target" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
      apt-get -q -y --no-install-recommends install "$p" || failed+=("$p")
  done
fi
chroot "$target" apt-get clean
# Package lists stay: the machines have no uplink, but apt-cache and "already installed"
# checks of the stacks keep working.
rm -f "$target/tmp/debconf.sel" "$target/etc/dpkg/dpkg.cfg.d/halab-build-unsafe-io"
sync -f "$target"
printf '%s\n' "${failed[@]}" > "$target/etc/halab-failed-packages"
if ((${#failed[@]})); then
  echo "build-base: packages that failed to install: ${failed[*]}" >&2
fi
