// SPDX-License-Identifier: MIT
#include "l0-test.h"
#include "exit-codes.h"
#include "x86/x86.h"

#include <check.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char self_dir_path[PATH_MAX];

static void find_self_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		n = 0;
	exe[n] = '\0';
	snprintf(self_dir_path, sizeof(self_dir_path), "%s", dirname(exe));
}

/*
 * The test binary's directory, found once: tests call this from several
 * threads at a time (two_vms_in_one_process), and a lazily filled buffer
 * was read half-written ("/l0-guests/...": No such file).
 */
static const char *self_dir(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, find_self_dir);
	ck_assert_msg(self_dir_path[0] == '/', "cannot read /proc/self/exe");
	return self_dir_path;
}

uint8_t *l0t_guest_image(const char *name, size_t *size)
{
	char path[PATH_MAX + 64];
	struct stat st;
	uint8_t *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/l0-guests/%s.bin", self_dir(), name);
	fd = open(path, O_RDONLY);
	ck_assert_msg(fd >= 0, "micro-guest %s: %s", path, strerror(errno));
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*size = (size_t)st.st_size;
	return buf;
}

struct l0_vm *l0t_vm(bool irqchip, int console_fd)
{
	struct l0_vm_config cfg;
	struct l0_vm *vm;
	int err = 0;

	l0_vm_config_defaults(&cfg);
	cfg.mem_size = L0T_MEM;
	cfg.irqchip = irqchip;
	cfg.console_out_fd = console_fd;
	cfg.halt_check_ms = 20;
	vm = l0_vm_create(&cfg, &err);
	ck_assert_msg(vm != NULL, "l0_vm_create failed with %d", err);
	return vm;
}

static void load(struct l0_vm *vm, const char *name)
{
	size_t size;
	uint8_t *code = l0t_guest_image(name, &size);

	ck_assert_int_eq(l0_x86_load_flat(&vm->mem, L0T_LOAD_ADDR, code, size), 0);
	free(code);
}

void l0t_load_real(struct l0_vm *vm, const char *name)
{
	load(vm, name);
	ck_assert_int_eq(l0_x86_setup_real_mode(&vm->vcpu[0], L0T_LOAD_ADDR >> 4, 0, 0xfff0), 0);
}

void l0t_load_long(struct l0_vm *vm, const char *name)
{
	load(vm, name);
	ck_assert_int_eq(l0_x86_build_boot_tables(&vm->mem), 0);
	ck_assert_int_eq(l0_x86_setup_long_mode(&vm->vcpu[0], L0T_LOAD_ADDR, 0, L0_X86_STACK_TOP), 0);
}

int l0t_run(struct l0_vm *vm, int timeout_ms)
{
	struct l0_run_options opts = { .timeout_ms = timeout_ms, .signal_fd = -1, .control = NULL };

	return l0_vm_run(vm, &opts);
}

void *l0t_run_thread(void *runner)
{
	struct l0t_runner *r = runner;
	struct l0_run_options opts = { .timeout_ms = 20000, .signal_fd = -1, .control = r->control };

	r->result = l0_vm_run(r->vm, &opts);
	return NULL;
}

const char *l0t_bin_dir(void)
{
	static char dir[PATH_MAX + 16];
	const char *env = getenv("OOH_BIN_DIR");

	if (env && *env)
		return env;
	if (!dir[0])
		snprintf(dir, sizeof(dir), "%s/../bin", self_dir());
	return dir;
}

/* Boot protocol fields, by offset into the image (Documentation/arch/x86/boot.rst). */
static void put(uint8_t *image, size_t offset, uint64_t value, int bytes)
{
	for (int i = 0; i < bytes; i++)
		image[offset + (size_t)i] = (uint8_t)(value >> (8 * i));
}

uint8_t *l0t_bzimage(const uint8_t *code, size_t code_size, size_t *size)
{
	size_t setup = 2 * 512;
	uint8_t *image;

	*size = setup + 0x200 + code_size;
	image = calloc(1, *size);
	ck_assert_ptr_nonnull(image);
	put(image, 0x1f1, 1, 1);           /* setup_sects: 1 + boot sector */
	put(image, 0x1f4, (*size - setup + 15) / 16, 4); /* syssize */
	put(image, 0x1fe, 0xaa55, 2);      /* boot_flag */
	put(image, 0x200, 0x66eb, 2);      /* jump over the header */
	put(image, 0x202, 0x53726448, 4);  /* "HdrS" */
	put(image, 0x206, 0x020f, 2);      /* protocol 2.15 */
	put(image, 0x211, 0x01, 1);        /* loadflags: LOADED_HIGH */
	put(image, 0x22c, 0x7fffffff, 4);  /* initrd_addr_max */
	put(image, 0x230, 0x200000, 4);    /* kernel_alignment */
	put(image, 0x234, 1, 1);           /* relocatable */
	put(image, 0x236, 0x1, 2);         /* xloadflags: XLF_KERNEL_64 */
	put(image, 0x238, 2047, 4);        /* cmdline_size */
	put(image, 0x260, 0x10000, 4);     /* init_size */
	memcpy(image + setup + 0x200, code, code_size); /* startup_64 */
	return image;
}

uint8_t *l0t_elf(const uint8_t *code, size_t code_size, uint64_t bss, size_t *size)
{
	Elf64_Ehdr eh = {
		.e_ident = { ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT },
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = L0T_ELF_ADDR, .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1,
	};
	Elf64_Phdr ph = {
		.p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0x1000,
		.p_vaddr = 0xffffffff80000000ull + L0T_ELF_ADDR, .p_paddr = L0T_ELF_ADDR,
		.p_filesz = code_size, .p_memsz = code_size + bss, .p_align = 0x1000,
	};
	uint8_t *image;

	*size = 0x1000 + code_size;
	image = calloc(1, *size);
	ck_assert_ptr_nonnull(image);
	memcpy(image, &eh, sizeof(eh));
	memcpy(image + sizeof(eh), &ph, sizeof(ph));
	memcpy(image + 0x1000, code, code_size);
	return image;
}

const char *l0t_make_elf(const char *name)
{
	static char path[PATH_MAX];
	size_t code_size, size;
	uint8_t *code = l0t_guest_image(name, &code_size);
	uint8_t *image = l0t_elf(code, code_size, 0, &size);
	int fd;

	free(code);
	snprintf(path, sizeof(path), "/tmp/ooh-l0-test-%s-%d.elf", name, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, image, size), (ssize_t)size);
	close(fd);
	free(image);
	return path;
}

const char *l0t_make_bzimage(const char *name)
{
	static char path[PATH_MAX];
	size_t code_size, size;
	uint8_t *code = l0t_guest_image(name, &code_size);
	uint8_t *image = l0t_bzimage(code, code_size, &size);
	int fd;

	free(code);
	snprintf(path, sizeof(path), "/tmp/ooh-l0-test-%s-%d.bzImage", name, (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, image, size), (ssize_t)size);
	close(fd);
	free(image);
	return path;
}

static void slurp(int fd, char *buf, size_t size)
{
	ssize_t n = pread(fd, buf, size - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	close(fd);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void l0t_run_ooh_l0(const char *const *args, const char *env_kvm, int signal_after_ms,
		    struct l0t_result *result)
{
	char out_path[] = "/tmp/ooh-l0-test-out-XXXXXX", err_path[] = "/tmp/ooh-l0-test-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path), wstatus, nargs = 0;
	char program[PATH_MAX + 32];
	const char *argv[32];
	int64_t start = now_ms();
	bool signalled = false;
	pid_t pid;

	ck_assert_int_ge(out_fd, 0);
	ck_assert_int_ge(err_fd, 0);
	unlink(out_path);
	unlink(err_path);
	snprintf(program, sizeof(program), "%s/ooh-l0", l0t_bin_dir());
	argv[nargs++] = program;
	while (*args && nargs < 31)
		argv[nargs++] = *args++;
	argv[nargs] = NULL;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int null_fd = open("/dev/null", O_RDONLY);
		dup2(null_fd, STDIN_FILENO);
		dup2(out_fd, STDOUT_FILENO);
		dup2(err_fd, STDERR_FILENO);
		if (env_kvm)
			setenv("OOH_L0_KVM", env_kvm, 1);
		else
			unsetenv("OOH_L0_KVM");
		execv(program, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", program, strerror(errno));
		_exit(127);
	}
	for (;;) {
		pid_t done = waitpid(pid, &wstatus, WNOHANG);

		ck_assert_int_ge(done, 0);
		if (done == pid)
			break;
		if (signal_after_ms > 0 && !signalled && now_ms() - start >= signal_after_ms) {
			kill(pid, SIGTERM);
			signalled = true;
		}
		if (now_ms() - start > 30000) {
			kill(pid, SIGKILL); /* a hung ooh-l0 is a failure, not a hung test */
			waitpid(pid, &wstatus, 0);
			break;
		}
		usleep(2000);
	}
	result->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	slurp(out_fd, result->out, sizeof(result->out));
	slurp(err_fd, result->err, sizeof(result->err));
}
