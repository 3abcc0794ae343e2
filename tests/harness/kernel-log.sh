# shellcheck shell=sh
# kernel_log_mark: the kernel log's length now, for kernel_log_clean.
# kernel_log_clean NAME SINCE: one result NAME: PASS if the kernel logged
# no BUG, WARNING, Oops, lockup or RCU stall after the first SINCE lines
# (the Debian kernels here have no lockdep), else FAIL with the first
# such lines and the log's tail. Returns 1 on FAIL. Needs result.sh.
kernel_log_mark() {
	dmesg | wc -l
}

kernel_log_clean() {
	bad='BUG:|WARNING:|Oops|general protection|soft lockup|hung_task|blocked for more than|rcu_sched detected|rcu: INFO'
	new=$(dmesg | tail -n +"$(($2 + 1))")
	if printf '%s\n' "$new" | grep -q -E "$bad"; then
		ooh_fail "$1" "$(printf '%s\n' "$new" | grep -E "$bad" | head -3)"
		printf '%s\n' "$new" | tail -60
		return 1
	fi
	ooh_pass "$1" "no BUG/WARNING/Oops/lockup in the kernel log since the module loaded"
}
