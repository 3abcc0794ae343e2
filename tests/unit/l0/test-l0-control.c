// SPDX-License-Identifier: MIT
/* Control socket: request parsing, and status/pause/resume/quit on a live VM. */
#include "harness/ooh_check.h"
#include "l0-test.h"
#include "control.h"
#include "exit-codes.h"

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

START_TEST(requests_and_errors)
{
	struct l0_vm *vm = l0t_vm(false, -1);
	char reply[512];

	l0_control_execute(vm, "{\"cmd\":\"status\",\"id\":7}", reply, sizeof(reply));
	ck_assert_msg(strncmp(reply, "{\"id\":7,\"ok\":true,\"state\":\"running\"", 35) == 0, "%s", reply);
	ck_assert_ptr_nonnull(strstr(reply, "\"vcpus\":1"));
	ck_assert_ptr_nonnull(strstr(reply, "\"mem_bytes\":4194304"));
	l0_control_execute(vm, "{ \"cmd\" : \"nope\" }", reply, sizeof(reply));
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"unknown command\"}");
	l0_control_execute(vm, "not json", reply, sizeof(reply));
	ck_assert_ptr_nonnull(strstr(reply, "\"ok\":false"));
	l0_control_execute(vm, "{\"cmd\":\"st\\\"atus\"}", reply, sizeof(reply));
	ck_assert_ptr_nonnull(strstr(reply, "\"ok\":false"));
	l0_control_execute(vm, "{\"cmd\":42}", reply, sizeof(reply));
	ck_assert_ptr_nonnull(strstr(reply, "\"ok\":false"));
	/* a key that ends the line (found by tests/fuzz/l0-control: read past the NUL) */
	l0_control_execute(vm, "{\"cmd\"", reply, sizeof(reply));
	ck_assert_ptr_nonnull(strstr(reply, "\"ok\":false"));
	/* a tiny reply buffer truncates, never overflows */
	ck_assert_uint_lt(l0_control_execute(vm, "{\"cmd\":\"status\"}", reply, 8), 8);
	l0_vm_destroy(vm);
}
END_TEST

/* The devices command lists the VM's devices; device commands reach them. */
START_TEST(devices_answer_their_commands)
{
	static const char head[] = "{\"ok\":true,\"devices\":[{\"type\":\"ooh\",\"features\":";
	struct l0_vm *vm = l0t_vm(true, -1);
	struct l0_vm_config cfg;
	char reply[1024];
	int err = 0;

	l0_control_execute(vm, "{\"cmd\":\"devices\"}", reply, sizeof(reply));
	ck_assert_msg(strncmp(reply, head, strlen(head)) == 0, "%s", reply);
	ck_assert_msg(strstr(reply, "\"notify_irq\":10,\"hypercalls\":0,"), "%s", reply);
	l0_control_execute(vm, "{\"cmd\":\"dirty-stop\"}", reply, sizeof(reply));
	ck_assert_str_eq(reply, "{\"ok\":true}");
	l0_control_execute(vm, "{\"cmd\":\"dirty\"}", reply, sizeof(reply));
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"not monitoring: send dirty-start first\"}");
	l0_vm_destroy(vm);

	/* no device: the command has nobody to answer it */
	l0_vm_config_defaults(&cfg);
	cfg.mem_size = L0T_MEM;
	cfg.console_out_fd = -1;
	cfg.nr_devices = 0;
	vm = l0_vm_create(&cfg, &err);
	ck_assert_ptr_nonnull(vm);
	l0_control_execute(vm, "{\"cmd\":\"devices\",\"id\":3}", reply, sizeof(reply));
	ck_assert_str_eq(reply, "{\"id\":3,\"ok\":true,\"devices\":[]}");
	l0_control_execute(vm, "{\"cmd\":\"dirty-start\"}", reply, sizeof(reply));
	ck_assert_str_eq(reply, "{\"ok\":false,\"error\":\"no device of this VM answers dirty-start\"}");
	l0_vm_destroy(vm);
}
END_TEST

static void ask(int fd, const char *request, char *reply, size_t size)
{
	size_t used = 0;

	ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	while (used < size - 1) {
		ssize_t n = read(fd, reply + used, 1);
		ck_assert_int_eq(n, 1);
		if (reply[used] == '\n')
			break;
		used++;
	}
	reply[used] = '\0';
}

static bool has_thread_named(const char *name)
{
	char path[300], comm[32];
	bool found = false;
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");

	ck_assert_ptr_nonnull(d);
	while (!found && (de = readdir(d))) {
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f)) {
			comm[strcspn(comm, "\n")] = '\0';
			found = strcmp(comm, name) == 0;
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

START_TEST(socket_session)
{
	char path[64], reply[512];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct l0t_runner r = { .result = -1 };
	pthread_t thread;
	int err = 0, fd;

	snprintf(path, sizeof(path), "/tmp/ooh-l0-control-test-%d.sock", (int)getpid());
	r.vm = l0t_vm(true, -1);
	l0t_load_real(r.vm, "rm-spin");
	r.control = l0_control_open(path, &err);
	ck_assert_ptr_nonnull(r.control);
	pthread_create(&thread, NULL, l0t_run_thread, &r);

	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(addr.sun_path, path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ask(fd, "{\"cmd\":\"status\"}\n", reply, sizeof(reply));
	ck_assert_msg(strstr(reply, "\"state\":\"running\"") != NULL, "%s", reply);
	ask(fd, "{\"cmd\":\"pause\"}\n", reply, sizeof(reply));
	ck_assert_str_eq(reply, "{\"ok\":true,\"state\":\"paused\"}");
	ck_assert_int_eq(r.vm->nr_parked, 1);
	/* parked, so its thread has named itself as QEMU's vCPUs are named */
	ck_assert_msg(has_thread_named("CPU 0/KVM"), "no thread named \"CPU 0/KVM\"");
	ask(fd, "{\"cmd\":\"status\"}\n", reply, sizeof(reply));
	ck_assert_ptr_nonnull(strstr(reply, "\"state\":\"paused\""));
	ask(fd, "{\"cmd\":\"resume\"}\n", reply, sizeof(reply));
	ck_assert_str_eq(reply, "{\"ok\":true,\"state\":\"running\"}");
	/* two requests in one write, answered in order */
	ask(fd, "{\"cmd\":\"status\",\"id\":1}\n{\"cmd\":\"quit\",\"id\":2}\n", reply, sizeof(reply));
	ck_assert_ptr_nonnull(strstr(reply, "\"id\":1"));
	ask(fd, "", reply, sizeof(reply));
	ck_assert_str_eq(reply, "{\"id\":2,\"ok\":true,\"state\":\"stopping\"}");
	pthread_join(thread, NULL);
	ck_assert_int_eq(r.result, L0_EXIT_OK);
	ck_assert_int_eq(r.vm->stop_reason, L0_STOP_QUIT);
	close(fd);
	l0_control_close(r.control);
	ck_assert_int_ne(access(path, F_OK), 0); /* socket file removed */
	l0_vm_destroy(r.vm);
}
END_TEST

START_TEST(refuses_long_path)
{
	char path[200];
	int err = 0;

	memset(path, 'a', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	ck_assert_ptr_null(l0_control_open(path, &err));
	ck_assert_int_eq(err, L0_EXIT_USAGE);
}
END_TEST

int main(void)
{
	Suite *suite = suite_create("l0-control");
	TCase *tc = tcase_create("control");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, requests_and_errors);
	tcase_add_test(tc, devices_answer_their_commands);
	tcase_add_test(tc, socket_session);
	tcase_add_test(tc, refuses_long_path);
	suite_add_tcase(suite, tc);
	return ooh_check_main(suite);
}
