#!/bin/sh
# Test-only checker for the first-boot VM test (never in real images). Runs
# after kubebake-firstboot.service has finished (or was skipped), prints
# `BOOTTEST key=value` lines, the doubles' records (`BOOTTEST-REC`) and the
# agent's lines of this boot from the journal (`BOOTTEST-AGENT`) on its report
# channel (a virtio serial port nothing else writes to, so no kernel message
# splits a line), copies the BOOTTEST lines to the console, then powers off.
# It never prints the seed: only redacted agent status and hashes.
# Usage: check.sh SERIAL_DEVICE
TTY=${1:-/dev/ttyS0}
REPORT=/dev/virtio-ports/kubebake.report
for i in $(seq 1 60); do [ -e "$REPORT" ] && break; sleep 1; done
if [ -e "$REPORT" ]; then exec 3>"$REPORT"; else exec 3>/dev/null; echo "BOOTTEST-NOTE no $REPORT" > "$TTY"; fi
out() { printf 'BOOTTEST %s\n' "$*" >&3; printf 'BOOTTEST %s\n' "$*" > "$TTY"; }
prop() { systemctl show -p "$1" --value kubebake-firstboot.service; }

out "begin=1"
out "firstboot_active=$(prop ActiveState)"
out "firstboot_result=$(prop Result)"
out "firstboot_condition=$(prop ConditionResult)"
out "firstboot_exit_status=$(prop ExecMainStatus)"
out "firstboot_inactive_exit_us=$(prop InactiveExitTimestampMonotonic)"
out "firstboot_exec_start_us=$(prop ExecMainStartTimestampMonotonic)"
out "firstboot_active_enter_us=$(prop ActiveEnterTimestampMonotonic)"
out "hostname=$(cat /proc/sys/kernel/hostname)"
out "etc_hostname=$(head -n 1 /etc/hostname 2>/dev/null)"
out "done_marker=$(test -e /var/lib/kubebake/firstboot.done && echo present || echo absent)"
out "status_json=$(kubebake-firstboot status --json 2>&1 | tr -d '\n')"
out "kubeadm_calls=$(cat /var/lib/kubeadm-double/count 2>/dev/null || echo 0)"
out "kubectl_calls=$(cat /var/lib/kubeadm-double/kubectl-count 2>/dev/null || echo 0)"
out "addresses=$(ip -o -4 addr show 2>/dev/null | awk '{print $2 "=" $4}' | paste -sd, -)"
out "seed_copy_mode=$(stat -c %a /var/lib/kubebake/seed/user-data 2>&1)"
out "kubeadm_yaml_mode=$(stat -c %a /var/lib/kubebake/kubeadm.yaml 2>&1)"
# The cluster CA kubeadm uses (public; the keys are only checked for mode).
out "pki_ca_b64=$(base64 -w0 /etc/kubernetes/pki/ca.crt 2>/dev/null)"
out "pki_ca_key_mode=$(stat -c %a /etc/kubernetes/pki/ca.key 2>&1)"
out "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
sed 's/^/BOOTTEST-REC /' /var/lib/kubeadm-double/records.log >&3 2>/dev/null
# The agent's lines of this boot, whole, from the log it keeps on STATE
# (the lines after this boot's header; the journal is checked on its own
# below, and kernel messages can split console lines).
agent_lines() {
  tr -d '\000' < /var/log/kubebake-firstboot.log 2>/dev/null |
    awk -v h="# kubebake-firstboot boot_id=$(cat /proc/sys/kernel/random/boot_id)" \
      '$0 == h { keep = 1; next } /^# kubebake-firstboot / { keep = 0 } keep'
}
out "agent_log_runs=$(grep -ac '^# kubebake-firstboot ' /var/log/kubebake-firstboot.log 2>&1)"
agent_lines | sed 's/^/BOOTTEST-AGENT /' >&3
# The journal of this boot: filed under the kept machine-id from its first
# entry (kubebake-init gives it to PID 1 and journald), in one directory.
out "machine_id=$(cat /etc/machine-id)"
out "journal_dirs=$(ls /var/log/journal 2>/dev/null | paste -sd, -)"
out "journal_boot_machine_ids=$(journalctl -b -o export --no-pager 2>/dev/null | sed -n 's/^_MACHINE_ID=//p' | sort -u | paste -sd, -)"
out "journal_boot_lines=$(journalctl -b -o cat --no-pager 2>/dev/null | wc -l)"
out "journal_agent_lines=$(journalctl -b -u kubebake-firstboot.service -o cat --no-pager 2>/dev/null | grep -c '^kubebake: ')"
out "done=1"
sync
systemctl poweroff
