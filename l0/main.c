// SPDX-License-Identifier: MIT
/* ooh-l0: command line, signals, and the exit status contract. */
#include "control.h"
#include "exit-codes.h"
#include "kernel-cache.h"
#include "devices.h"
#include "machine.h"
#include "x86/x86.h"

#include <ooh/hv-abi.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1 pci=off"

static void usage(FILE *out)
{
	fprintf(out,
"usage: ooh-l0 --kernel BZIMAGE [--initrd CPIO] [options]\n"
"\n"
"Boots a Linux bzImage on KVM (64-bit boot protocol, no firmware) with a\n"
"16550 console on stdio.\n"
"\n"
"  --kernel PATH       bzImage (boot protocol >= 2.12, 64-bit) or ELF vmlinux; an xz or\n"
"                      gzip bzImage is decompressed here and booted as its vmlinux\n"
"  --guest-decompress  boot a bzImage as is: the guest runs its own decompressor\n"
"  --kernel-cache DIR  keep decompressed kernels in DIR and reuse them (default:\n"
"                      $XDG_CACHE_HOME/ooh-l0 or ~/.cache/ooh-l0; \"none\": no cache)\n"
"  --initrd PATH       initramfs\n"
"  --cmdline TEXT      kernel command line (default: \"" DEFAULT_CMDLINE "\")\n"
"  --append TEXT       append to the command line\n"
"  --mem SIZE          guest RAM, e.g. 512M, 2G (default 256M)\n"
"  --cpus N            vCPUs, one host thread each (default 1, max %d)\n"
"  --numa-node N       take guest RAM from host NUMA node N only\n"
"  --hugepages         back guest RAM with 2 MiB huge pages\n"
"  --disk PATH[,ro][,bs=512|4096]\n"
"                      a virtio-blk disk on a raw image (repeat for more: vda, vdb...)\n"
"  --net tap=NAME      a virtio-net card on host tap NAME (made if it does not exist)\n"
"  --vsock CID         a virtio-vsock device with guest CID (host: /dev/vhost-vsock)\n"
"  --control PATH      UNIX control socket, JSON lines (docs/control-socket.md)\n"
"  --timeout SEC       stop the guest after SEC seconds (fractions allowed)\n"
"  --stats             print timing and memory figures on exit (stderr)\n"
"  --verbose           say more on stderr\n"
"  --help              this text\n"
"\n"
"Exit status:\n"
"  0..255  the status the guest wrote to I/O port 0x%x (see ooh-guest-exit);\n"
"          guests should use 0..63\n"
"  0       guest halted for good or powered off, or \"quit\" on the control socket\n"
"  64      bad command line (options or kernel command line too long)\n"
"  65      kernel image corrupt or unsupported\n"
"  66      kernel or initrd missing or unreadable\n"
"  67      too little guest memory for kernel + initrd\n"
"  68      host could not provide the guest memory (huge pages, NUMA node)\n"
"  69      no usable /dev/kvm\n"
"  70      internal error (unexpected KVM failure)\n"
"  71      guest touched unmapped memory, or KVM internal/emulation error\n"
"  72      --timeout reached (on a kvm_pvm host a Linux guest never boots)\n"
"  73      guest reset: reboot, triple fault, i8042 or 0xcf9 reset\n"
"  128+N   stopped by signal N (SIGINT 130, SIGTERM 143)\n",
		L0_MAX_VCPUS, OOH_EXIT_PORT);
}

static int parse_int(const char *text, int min, int max, int *out)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno || end == text || *end || value < min || value > max)
		return -1;
	*out = (int)value;
	return 0;
}

static int parse_timeout_ms(const char *text, int *out)
{
	char *end;
	double seconds;

	errno = 0;
	seconds = strtod(text, &end);
	if (errno || end == text || *end || !(seconds > 0) || seconds > 86400.0 * 365)
		return -1;
	*out = (int)(seconds * 1000.0 + 0.5);
	if (*out == 0)
		*out = 1;
	return 0;
}

static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t len = strlen(field);
	long value = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0 && line[len] == ':')
			value = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return value;
}

/* How much of guest RAM is resident, so RSS can be split into guest and VMM. */
static long guest_resident_kib(const struct l0_vm *vm)
{
	size_t pages = vm->mem.size / 4096;
	unsigned char *vec = malloc(pages);
	long resident = 0;

	if (!vec)
		return -1;
	if (mincore(vm->mem.host, vm->mem.size, vec) == 0)
		for (size_t i = 0; i < pages; i++)
			resident += vec[i] & 1;
	else
		resident = -1;
	free(vec);
	return resident < 0 ? -1 : resident * 4;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1e3 + (now.tv_nsec - t0->tv_nsec) / 1e6;
}

static void print_stats(const struct l0_vm *vm)
{
	long rss = status_kib("VmRSS"), hwm = status_kib("VmHWM"), guest = guest_resident_kib(vm);

	fprintf(stderr, "ooh-l0: stats: run_ms=%llu stop=%s rss_kib=%ld hwm_kib=%ld "
		"guest_resident_kib=%ld vmm_rss_kib=%ld\n",
		(unsigned long long)l0_vm_uptime_ms(vm), l0_stop_reason_name(vm->stop_reason),
		rss, hwm, guest, (rss >= 0 && guest >= 0) ? rss - guest : -1);
}

/*
 * The command line: the base (or --cmdline), then each device's entries
 * (virtio_mmio.device=...), then --append, so the user has the last word.
 */
static char *kernel_cmdline(struct l0_vm *vm, const char *base, const char *append)
{
	char devices[1024] = "";
	char *line;

	if (l0_devices_cmdline(&vm->devices, devices, sizeof(devices)) != 0) {
		fprintf(stderr, "ooh-l0: the devices' command line entries exceed %zu bytes\n",
			sizeof(devices));
		return NULL;
	}
	if (asprintf(&line, "%s%s%s%s%s", base, *devices ? " " : "", devices, append ? " " : "",
		     append ? append : "") < 0)
		return NULL;
	return line;
}

int main(int argc, char **argv)
{
	enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_APPEND, OPT_MEM, OPT_CPUS, OPT_NUMA,
	       OPT_HUGE, OPT_CONTROL, OPT_TIMEOUT, OPT_STATS, OPT_VERBOSE, OPT_HELP, OPT_GUEST_DECOMPRESS,
	       OPT_KERNEL_CACHE, OPT_DISK, OPT_NET, OPT_VSOCK };
	static const struct option options[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "numa-node", required_argument, NULL, OPT_NUMA },
		{ "hugepages", no_argument, NULL, OPT_HUGE },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ "guest-decompress", no_argument, NULL, OPT_GUEST_DECOMPRESS },
		{ "kernel-cache", required_argument, NULL, OPT_KERNEL_CACHE },
		{ "disk", required_argument, NULL, OPT_DISK },
		{ "net", required_argument, NULL, OPT_NET },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct l0_vm_config cfg;
	struct l0_run_options run = { .timeout_ms = 0, .signal_fd = -1, .control = NULL };
	const char *kernel = NULL, *initrd = NULL, *control_path = NULL, *append = NULL;
	const char *cmdline = DEFAULT_CMDLINE;
	char *full_cmdline;
	bool stats = false;
	struct l0_x86_boot_options boot = { .guest_decompress = false, .kernel_cache = NULL };
	char cache_dir[PATH_MAX];
	const char *kernel_cache = NULL;
	struct l0_vm *vm;
	sigset_t signals;
	struct timespec started;
	int opt, err = 0;

	clock_gettime(CLOCK_MONOTONIC, &started);
	l0_vm_config_defaults(&cfg);
	cfg.console_in_fd = STDIN_FILENO;
	cfg.kvm_path = getenv("OOH_L0_KVM"); /* for tests: pretend /dev/kvm is elsewhere */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_KERNEL: kernel = optarg; break;
		case OPT_INITRD: initrd = optarg; break;
		case OPT_CMDLINE: cmdline = optarg; break;
		case OPT_APPEND: append = optarg; break;
		case OPT_MEM:
			cfg.mem_size = l0_parse_size(optarg);
			if (!cfg.mem_size) {
				fprintf(stderr, "ooh-l0: bad --mem size '%s'\n", optarg);
				return L0_EXIT_USAGE;
			}
			break;
		case OPT_CPUS:
			if (parse_int(optarg, 1, L0_MAX_VCPUS, &cfg.nr_cpus)) {
				fprintf(stderr, "ooh-l0: --cpus must be 1..%d\n", L0_MAX_VCPUS);
				return L0_EXIT_USAGE;
			}
			break;
		case OPT_NUMA:
			if (parse_int(optarg, 0, 1023, &cfg.numa_node)) {
				fprintf(stderr, "ooh-l0: bad --numa-node '%s'\n", optarg);
				return L0_EXIT_USAGE;
			}
			break;
		case OPT_HUGE: cfg.hugepages = true; break;
		case OPT_CONTROL: control_path = optarg; break;
		case OPT_TIMEOUT:
			if (parse_timeout_ms(optarg, &run.timeout_ms)) {
				fprintf(stderr, "ooh-l0: bad --timeout '%s' (seconds > 0)\n", optarg);
				return L0_EXIT_USAGE;
			}
			break;
		case OPT_STATS: stats = true; break;
		case OPT_GUEST_DECOMPRESS: boot.guest_decompress = true; break;
		case OPT_KERNEL_CACHE: kernel_cache = optarg; break;
		case OPT_DISK:
		case OPT_NET:
		case OPT_VSOCK:
			if (l0_vm_config_add_device(&cfg, opt == OPT_DISK ? &l0_virtio_blk_device :
							  opt == OPT_NET ? &l0_virtio_net_device :
							  &l0_virtio_vsock_device, optarg)) {
				fprintf(stderr, "ooh-l0: too many devices (at most %d)\n", L0_MAX_DEVICES);
				return L0_EXIT_USAGE;
			}
			break;
		case OPT_VERBOSE: cfg.verbose++; break;
		case OPT_HELP: case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "ooh-l0: unknown or incomplete option '%s' (try --help)\n",
				argv[optind - 1]);
			return L0_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ooh-l0: unexpected argument '%s' (try --help)\n", argv[optind]);
		return L0_EXIT_USAGE;
	}
	if (!kernel) {
		fprintf(stderr, "ooh-l0: --kernel is required (try --help)\n");
		return L0_EXIT_USAGE;
	}
	/* Cheap checks first, so a typo does not cost a VM. */
	if (access(kernel, R_OK) != 0 || (initrd && access(initrd, R_OK) != 0)) {
		const char *path = access(kernel, R_OK) != 0 ? kernel : initrd;
		fprintf(stderr, "ooh-l0: cannot read %s: %s\n", path, strerror(errno));
		return L0_EXIT_NO_FILE;
	}
	if (!kernel_cache)
		boot.kernel_cache = l0_kernel_cache_default_dir(cache_dir, sizeof(cache_dir)) == 0 ?
				    cache_dir : NULL;
	else if (strcmp(kernel_cache, "none") != 0)
		boot.kernel_cache = kernel_cache;

	/* Blocked in every thread (vCPU threads inherit the mask); read via signalfd. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	run.signal_fd = signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);

	vm = l0_vm_create(&cfg, &err);
	if (!vm) {
		return err;
	}
	if (cfg.verbose && vm->on_kvm_pvm)
		fprintf(stderr, "ooh-l0: host KVM is kvm_pvm: a Linux guest will not boot here\n");
	full_cmdline = kernel_cmdline(vm, cmdline, append);
	err = full_cmdline ? l0_x86_boot_linux(vm, kernel, initrd, full_cmdline, &boot) : L0_EXIT_INTERNAL;
	free(full_cmdline);
	if (!err && control_path && !(run.control = l0_control_open(control_path, &err)))
		err = err ? err : L0_EXIT_INTERNAL;
	if (!err) {
		if (cfg.verbose)
			fprintf(stderr, "ooh-l0: starting the guest %.0f ms after ooh-l0 started\n",
				ms_since(&started));
		err = l0_vm_run(vm, &run);
		if (stats)
			print_stats(vm);
	}
	l0_control_close(run.control);
	l0_vm_destroy(vm);
	if (run.signal_fd >= 0)
		close(run.signal_fd);
	return err;
}
