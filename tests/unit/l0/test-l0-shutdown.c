// SPDX-License-Identifier: MIT
/* Every way a VM stops, each with its reason and exit code. */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "exit-codes.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

START_TEST(exit_port_real_mode)
{
	struct l0_vm *vm = l0t_vm(false, -1);

	l0t_load_real(vm, "rm-exit-port");
	ck_assert_int_eq(l0t_run(vm, 10000), 42);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_EXIT_PORT);
	l0_vm_destroy(vm);
}
END_TEST

START_TEST(exit_port_long_mode_with_irqchip)
{
	struct l0_vm *vm = l0t_vm(true, -1);

	l0t_load_long(vm, "lm-cpuid");
	ck_assert_int_eq(l0t_run(vm, 10000), 42);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_EXIT_PORT);
	l0_vm_destroy(vm);
}
END_TEST

START_TEST(hlt_for_good_without_irqchip)
{
	struct l0_vm *vm = l0t_vm(false, -1);

	l0t_load_real(vm, "rm-hlt");
	ck_assert_int_eq(l0t_run(vm, 10000), L0_EXIT_OK);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_HALT);
	l0_vm_destroy(vm);
}
END_TEST

START_TEST(hlt_for_good_with_irqchip)
{
	/* HLT stays in the kernel: found by the run loop's halt check. */
	struct l0_vm *vm = l0t_vm(true, -1);

	l0t_load_long(vm, "lm-hlt");
	ck_assert_int_eq(l0t_run(vm, 10000), L0_EXIT_OK);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_HALT);
	l0_vm_destroy(vm);
}
END_TEST

static void expect_reset(const char *guest, bool irqchip)
{
	struct l0_vm *vm = l0t_vm(irqchip, -1);

	if (guest[0] == 'l')
		l0t_load_long(vm, guest);
	else
		l0t_load_real(vm, guest);
	ck_assert_int_eq(l0t_run(vm, 10000), L0_EXIT_GUEST_RESET);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_RESET);
	l0_vm_destroy(vm);
}

START_TEST(triple_fault_is_reset)
{
	expect_reset("lm-triple-fault", false);
}
END_TEST

START_TEST(i8042_reset)
{
	expect_reset("rm-i8042-reset", true);
}
END_TEST

START_TEST(port_cf9_reset)
{
	expect_reset("rm-cf9-reset", false);
}
END_TEST

START_TEST(timeout)
{
	struct l0_vm *vm = l0t_vm(true, -1);

	l0t_load_real(vm, "rm-spin");
	ck_assert_int_eq(l0t_run(vm, 200), L0_EXIT_TIMEOUT);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_TIMEOUT);
	ck_assert_int_ge(l0_vm_uptime_ms(vm), 200);
	l0_vm_destroy(vm);
}
END_TEST

static void *send_signal_later(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	kill(getpid(), SIGUSR2);
	return NULL;
}

START_TEST(signal_stops_the_vm)
{
	struct l0_vm *vm;
	sigset_t set;
	pthread_t thread;
	struct l0_run_options opts = { .timeout_ms = 10000, .control = NULL };

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	opts.signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	ck_assert_int_ge(opts.signal_fd, 0);
	vm = l0t_vm(true, -1);
	l0t_load_real(vm, "rm-spin");
	pthread_create(&thread, NULL, send_signal_later, NULL);
	ck_assert_int_eq(l0_vm_run(vm, &opts), L0_EXIT_SIGNAL_BASE + SIGUSR2);
	ck_assert_int_eq(vm->stop_reason, L0_STOP_SIGNAL);
	pthread_join(thread, NULL);
	close(opts.signal_fd);
	l0_vm_destroy(vm);
}
END_TEST

struct vm_job {
	const char *guest;
	bool long_mode;
	int result;
};

static void *run_job(void *arg)
{
	struct vm_job *job = arg;
	struct l0_vm *vm = l0t_vm(true, -1);

	if (job->long_mode)
		l0t_load_long(vm, job->guest);
	else
		l0t_load_real(vm, job->guest);
	job->result = l0t_run(vm, 10000);
	l0_vm_destroy(vm);
	return NULL;
}

START_TEST(two_vms_in_one_process)
{
	struct vm_job jobs[2] = { { "rm-port-io", false, -1 }, { "lm-cpuid", true, -1 } };
	pthread_t threads[2];

	/* rm-port-io without its test device: INs read 0xff three times. */
	for (int i = 0; i < 2; i++)
		pthread_create(&threads[i], NULL, run_job, &jobs[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	ck_assert_int_eq(jobs[0].result, (3 * 0xff) & 0xff);
	ck_assert_int_eq(jobs[1].result, 42);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-shutdown");
	TCase *tc = tcase_create("shutdown");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, exit_port_real_mode);
	tcase_add_test(tc, exit_port_long_mode_with_irqchip);
	tcase_add_test(tc, hlt_for_good_without_irqchip);
	tcase_add_test(tc, hlt_for_good_with_irqchip);
	tcase_add_test(tc, triple_fault_is_reset);
	tcase_add_test(tc, i8042_reset);
	tcase_add_test(tc, port_cf9_reset);
	tcase_add_test(tc, timeout);
	tcase_add_test(tc, signal_stops_the_vm);
	tcase_add_test(tc, two_vms_in_one_process);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
