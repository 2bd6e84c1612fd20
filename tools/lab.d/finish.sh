#!/bin/bash
# Stage 2 of the lab image: turn the package-installed base into the lab rootfs.
# Usage: finish.sh ROOTFS_DIR RECIPE_DIR   (runs on the host as root)
# Cheap to rerun: the fence agent and unit settings live here, not in stage 1.
set -euo pipefail
root=$1 recipe=$2

install -m 0755 "$recipe/fence_halab" "$root/usr/sbin/fence_halab"
install -d -m 0700 "$root/etc/halab"

# Services the stacks start themselves: installed, disabled, stopped.
stack_units="pacemaker corosync pcsd pcsd-ruby mariadb rabbitmq-server haproxy memcached apache2 apache-htcacheclean keystone glance-api
  placement-api nova-api nova-api-metadata nova-scheduler nova-conductor neutron-api neutron-rpc-server
  neutron-linuxbridge-agent neutron-dhcp-agent neutron-l3-agent neutron-metadata-agent
  cinder-api cinder-scheduler heat-api heat-engine ceilometer-agent-central keepalived radvd"
for u in $stack_units; do
  if [ -e "$root/lib/systemd/system/$u.service" ]; then
    systemctl --root="$root" disable "$u.service" 2>/dev/null || true
  fi
done
systemctl --root="$root" enable ssh.service networking.service

# Units that cannot work in a container without a kernel of its own.
while read -r u; do
  case $u in ''|'#'*) continue ;; esac
  systemctl --root="$root" mask "$u"
done < "$recipe/masked-units"

# Per-machine identity is written at `tools/lab up`: no shared host keys or machine-id.
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Let services start once the machine boots.
rm -f "$root/usr/sbin/policy-rc.d"

# Root logs in with the lab key only.
install -d -m 0700 "$root/root/.ssh"
cat > "$root/etc/ssh/sshd_config.d/halab.conf" <<'S'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
S

# A non-root operator (issue 15): `deploy` logs in with the lab key (written at every boot by
# tools/lab, like root's) and runs commands as root through non-interactive sudo, as stacks
# with `hosts[].ssh.user: deploy` and `become: sudo` do. Locked password: key login only.
chroot "$root" id deploy >/dev/null 2>&1 || chroot "$root" useradd --create-home --shell /bin/bash deploy
chroot "$root" passwd --lock deploy >/dev/null
install -d -m 0700 -o "$(chroot "$root" id -u deploy)" -g "$(chroot "$root" id -g deploy)" "$root/home/deploy/.ssh"
printf 'deploy ALL=(root) NOPASSWD: ALL\n' > "$root/etc/sudoers.d/halab-deploy"
chmod 0440 "$root/etc/sudoers.d/halab-deploy"
chroot "$root" visudo -c -q -f /etc/sudoers.d/halab-deploy
