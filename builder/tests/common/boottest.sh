#!/bin/sh
# Test-only checker baked into boot-test images (never into real images):
# waits for boot to finish, prints `BOOTTEST key=value` lines on its report
# channel (a virtio serial port nothing else writes to; copied to the serial
# console for people) for the Rust boot tests to parse, then powers off.
# Usage: boottest.sh SERIAL_DEVICE WAIT_CAP
#   WAIT_CAP: seconds since kernel start to wait for the boot to settle (the
#   host's VM timeout minus the time reporting and power-off need).
TTY=${1:-/dev/ttyS0}
CAP=${2:-420}
REPORT=/dev/virtio-ports/kubebake.report
for i in $(seq 1 60); do [ -e "$REPORT" ] && break; sleep 1; done
if [ -e "$REPORT" ]; then exec 3>"$REPORT"; else exec 3>/dev/null; echo "BOOTTEST-NOTE no $REPORT" > "$TTY"; fi
out() { printf 'BOOTTEST %s\n' "$*" >&3; printf 'BOOTTEST %s\n' "$*" > "$TTY"; }
one() { tr '\n' ' ' | sed 's/ *$//'; }

out "begin=1"
up=$(cut -d. -f1 /proc/uptime)
left=$((CAP - up))
[ "$left" -ge 30 ] || left=30
out "wait_cap=$CAP"
state=$(timeout "$left" systemctl is-system-running --wait 2>&1 | one)
out "system_state=$state"
out "failed_units=$(systemctl list-units --failed --plain --no-legend 2>&1 | awk '{print $1}' | paste -sd, -)"
for u in $(systemctl list-units --failed --plain --no-legend | awk '{print $1}'); do
  systemctl status --no-pager -l "$u" 2>&1 | tail -n 15 | sed "s/^/BOOTTEST-LOG $u: /" >&3
done
if [ -e /var/lib/kubebake/firstboot.done ]; then out "firstboot_done=yes"; else out "firstboot_done=no"; fi
out "root_options=$(findmnt -no OPTIONS /)"
if touch /usr/.boottest-rw 2>/dev/null; then out "root_writable=yes"; else out "root_writable=no"; fi
out "var_source=$(findmnt -no SOURCE /var)"
out "var_fstype=$(findmnt -no FSTYPE /var)"
out "var_size_bytes=$(df -B1 --output=size /var | tail -n 1 | tr -d ' ')"
state_dev=$(readlink -f /dev/disk/by-partlabel/STATE 2>/dev/null)
out "state_dev=$state_dev"
if [ -n "$state_dev" ]; then
  part=$(basename "$state_dev")
  disk=$(lsblk -no PKNAME "$state_dev" | head -n 1)
  out "state_part_start=$(cat /sys/class/block/$part/start)"
  out "state_part_sectors=$(cat /sys/class/block/$part/size)"
  out "disk_sectors=$(cat /sys/class/block/$disk/size)"
fi
out "partitions=$(lsblk -rno NAME,PARTLABEL,SIZE | tr ' ' ':' | paste -sd, -)"
out "cmdline=$(cat /proc/cmdline)"
out "cgroup_fs=$(stat -fc %T /sys/fs/cgroup)"
out "cgroup_controllers=$(cat /sys/fs/cgroup/cgroup.controllers)"
for m in br_netfilter overlay; do
  if grep -q "^$m " /proc/modules; then out "module_$m=loaded"; else out "module_$m=missing"; fi
done
for k in net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.ip_forward; do
  out "sysctl_$k=$(sysctl -n $k 2>&1)"
done
out "swaps=$(($(wc -l < /proc/swaps) - 1))"
out "containerd_active=$(systemctl is-active containerd)"
# `crictl info`: the real crictl when one was baked, else kubebake-cri-info
# (the same CRI v1 Version + verbose Status calls over containerd's socket;
# no crictl can be downloaded here). Retried: the CRI service may still be
# initialising right after boot.
if crictl --version 2>&1 | grep -q -- -double; then
  cri_tool=kubebake-cri-info
  cri_info() { /usr/local/libexec/kubebake-test/kubebake-cri-info; }
else
  cri_tool=crictl
  cri_info() { crictl info; }
fi
out "cri_info_tool=$cri_tool"
rc=1
for i in $(seq 1 30); do
  if cri_info > /tmp/cri-info 2> /tmp/cri-info.err; then rc=0; break; fi
  sleep 2
done
out "crictl_info_rc=$rc"
out "crictl_info_b64=$(base64 -w0 /tmp/cri-info)"
out "crictl_info_err=$(head -c 300 /tmp/cri-info.err | tr '\n' ' ')"
out "containerd_config_systemdcgroup=$(containerd config dump 2>/dev/null | grep -o 'SystemdCgroup = [a-z]*' | head -n 1 | tr -d ' ')"
out "kubelet_enabled=$(systemctl is-enabled kubelet 2>&1)"
out "kubelet_sha256=$(sha256sum /usr/bin/kubelet 2>/dev/null | cut -d' ' -f1)"
out "kubeadm_sha256=$(sha256sum /usr/bin/kubeadm 2>/dev/null | cut -d' ' -f1)"
out "machine_id=$(cat /etc/machine-id)"
out "hostname=$(cat /proc/sys/kernel/hostname)"
out "resolv_conf=$(test -s /run/systemd/resolve/resolv.conf && echo present || echo missing)"
for d in /etc /opt/cni/bin; do
  key=$(echo "$d" | tr '/.' '__')
  out "mount$key=$(findmnt -no FSTYPE --mountpoint $d)"
done
for d in /etc/kubernetes /etc/cni/net.d /etc/containerd/certs.d; do
  key=$(echo "$d" | tr '/.' '__')
  if touch "$d/.boottest-rw" 2>/dev/null && rm -f "$d/.boottest-rw"; then w=yes; else w=no; fi
  out "writable$key=$w"
done
out "etc_hostname=$(head -n 1 /etc/hostname 2>/dev/null)"
out "user_ops=$(getent passwd ops | cut -d: -f1,7)"
out "user_ops_groups=$(id -nG ops 2>&1)"
out "user_ops_keys=$(stat -c '%a %U' ~ops/.ssh/authorized_keys 2>&1) $(head -n 1 ~ops/.ssh/authorized_keys 2>/dev/null)"
out "timezone=$(readlink /etc/localtime)"
out "seed_file=$(stat -c '%a %U' /etc/kubebake-boottest.conf 2>&1) $(cat /etc/kubebake-boottest.conf 2>/dev/null)"
out "cni_bridge=$(test -x /opt/cni/bin/bridge && echo present || echo missing)"
out "repart_active=$(systemctl is-active systemd-repart)"

# kubelet as the unit's kubeadm drop-in starts it (the kubelet double's argv,
# one argument per line, after the kubeadm double's kubelet-start restart).
out "kubelet_argv=$(paste -sd' ' /var/lib/kubeadm-double/kubelet-argv 2>/dev/null)"
out "kubelet_config=$(test -s /var/lib/kubelet/config.yaml && echo present || echo missing)"
out "kubeadm_flags_env=$(cat /var/lib/kubelet/kubeadm-flags.env 2>/dev/null)"

# SSH: sshd runs with this node's own host keys (made at first boot on STATE
# through the /etc overlay), keys only; the seed's user logs in with its key.
out "ssh_active=$(systemctl is-active ssh.service 2>&1)"
out "ssh_host_key=$(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub 2>&1 | awk '{print $2}')"
out "ssh_host_key_on_state=$(test -s /var/lib/kubebake/overlay/etc/upper/ssh/ssh_host_ed25519_key && echo yes || echo no)"
out "ssh_host_key_mode=$(stat -c '%a %U' /etc/ssh/ssh_host_ed25519_key 2>&1)"
out "sshd_auth=$(sshd -T 2>/dev/null | grep -E '^(passwordauthentication|kbdinteractiveauthentication|pubkeyauthentication) ' | sort | tr ' ' '=' | paste -sd, -)"
key=/usr/local/libexec/kubebake-test/ssh-client-key
if [ -r "$key" ]; then
  out "ssh_login=$(timeout 120 ssh -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o ConnectTimeout=60 -o LogLevel=ERROR ops@127.0.0.1 'id -un' 2>&1 | one)"
  out "ssh_password_login=$(timeout 120 ssh -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive \
    -o ConnectTimeout=60 ops@127.0.0.1 true 2>&1 | grep -o 'Permission denied ([a-z,-]*)' | head -n 1)"
fi

# The doubles' records (every boot of this disk), whole lines.
sed 's/^/BOOTTEST-REC /' /var/lib/kubeadm-double/records.log >&3 2>/dev/null

# State across boots: a counter and the first boot's machine-id on /var; a
# file in /etc/kubernetes.
mkdir -p /var/lib/boottest
n=$(cat /var/lib/boottest/boots 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" > /var/lib/boottest/boots
out "boot_count=$n"
[ -s /var/lib/boottest/first-machine-id ] || cat /etc/machine-id > /var/lib/boottest/first-machine-id
out "first_machine_id=$(cat /var/lib/boottest/first-machine-id)"
out "etc_kubernetes_marker=$(cat /etc/kubernetes/boottest-marker 2>/dev/null || echo none)"
echo "written-on-boot-$n" > /etc/kubernetes/boottest-marker

out "analyze=$(systemd-analyze time 2>&1 | head -n 1)"
out "done=1"
sync
systemctl poweroff
