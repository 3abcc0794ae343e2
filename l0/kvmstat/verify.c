// SPDX-License-Identifier: MIT
/*
 * The relations that hold exactly between KVM's statistics and the
 * tracepoints, per vCPU (read from arch/x86/kvm, 6.1 to 6.18):
 *  - KVM's "exits" counts every VM exit, fastpath re-entries included, as
 *    kvm_entry fires once per VM entry: entries == exits;
 *  - "io_exits" is counted by the I/O-instruction exit handler, "irq_exits"
 *    by the external-interrupt one: each equals kvm_exit's count of that
 *    reason.
 * halt_exits, signal_exits and mmio_exits are printed beside the nearest
 * counts (kvm_exit hlt, KVM_RUN returns "intr" and "mmio") without a
 * claim: an MMIO access split across pages is one mmio_exit and several
 * returns, for example.
 */
#include "verify.h"
#include "names.h"
#include "ooh-kvmstat.h"

#include <linux/kvm.h>	/* the exception vectors <asm/svm.h> uses */
#include <asm/svm.h>
#include <asm/vmx.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const stat_names[NR_VERIFY] = {
	[V_EXITS] = "exits", [V_IO_EXITS] = "io_exits", [V_IRQ_EXITS] = "irq_exits",
	[V_HALT_EXITS] = "halt_exits", [V_SIGNAL_EXITS] = "signal_exits",
	[V_MMIO_EXITS] = "mmio_exits",
};

/* A connection to ooh-l0's control socket, or -1. */
static int connect_to(const char *socket_path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(socket_path) >= sizeof(a.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(a.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* One request, one reply line into buf (NUL-terminated); 0 or -1. */
static int request(const char *socket_path, const char *cmd, char *buf, size_t size)
{
	size_t used = 0;
	char line[64];
	int fd = connect_to(socket_path), n;

	buf[0] = 0;
	if (fd < 0)
		return -1;
	n = snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}\n", cmd);
	if (write(fd, line, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	while (used + 1 < size) {
		ssize_t got = read(fd, buf + used, size - used - 1);

		if (got <= 0)
			break;
		used += (size_t)got;
		if (memchr(buf + used - got, '\n', (size_t)got))
			break;
	}
	close(fd);
	buf[used] = 0;
	return used && buf[used - 1] == '\n' && strstr(buf, "\"ok\":true") ? 0 : -1;
}

static uint64_t field(const char *obj, const char *end, const char *name)
{
	char key[40];
	const char *p;

	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(obj, key);
	return p && p < end ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* kvm-stats: {"ok":true,"vm":{...},"vcpus":[{"id":0,"exits":N,...},...]} */
static int read_kvm_stats(const char *socket_path, struct kvm_stats *s)
{
	static char buf[1 << 17];
	const char *p;

	memset(s, 0, sizeof(*s));
	if (request(socket_path, "kvm-stats", buf, sizeof(buf)))
		return -1;
	p = strstr(buf, "\"vcpus\":[");
	while (p && (p = strstr(p, "{\"id\":")) && s->nr_vcpus < VERIFY_MAX_VCPUS) {
		const char *end = strchr(p, '}');
		long id = strtol(p + 6, NULL, 10);

		if (!end || id < 0 || id >= VERIFY_MAX_VCPUS)
			return -1;
		for (int i = 0; i < NR_VERIFY; i++)
			s->v[id][i] = field(p, end, stat_names[i]);
		if (id >= s->nr_vcpus)
			s->nr_vcpus = (int)id + 1;
		p = end;
	}
	return s->nr_vcpus ? 0 : -1;
}

static int simple(const struct verifier *v, const char *cmd)
{
	char buf[256];

	if (request(v->socket, cmd, buf, sizeof(buf)) == 0)
		return 0;
	fprintf(stderr, "ooh-kvmstat: --verify %s: \"%s\" failed: %s\n", v->socket, cmd,
		buf[0] ? buf : strerror(errno));
	return -1;
}

pid_t verify_peer(const char *socket_path)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = connect_to(socket_path), err;

	if (fd < 0)
		return -1;
	err = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
	close(fd);
	return err ? -1 : cred.pid;
}

int verify_begin(struct verifier *v)
{
	if (simple(v, "pause"))
		return -1;
	if (read_kvm_stats(v->socket, &v->before) == 0)
		return 0;
	fprintf(stderr, "ooh-kvmstat: --verify %s: no kvm-stats from ooh-l0\n", v->socket);
	simple(v, "resume");
	return -1;
}

int verify_resume(struct verifier *v)
{
	return simple(v, "resume");
}

int verify_pause(struct verifier *v)
{
	return simple(v, "pause");
}

/* Our counts for one vCPU: entries, kvm_exit by reason, KVM_RUN returns. */
struct ours {
	uint64_t entries, io, irq, hlt, intr, mmio;
};

static struct ours ours_of(const struct snapshot *d, int vcpu)
{
	struct ours o = { 0 };
	const struct table *t;

	t = &d->t[T_VCPUS];
	for (size_t i = 0; i < t->n; i++) {
		const struct kvmstat_vcpu_key *k = (const void *)(t->keys + i * t->key_size);

		if ((int)k->vcpu == vcpu)
			o.entries += t->vals[i * t->words + KVMSTAT_ENTRIES];
	}
	t = &d->t[T_EXITS];
	for (size_t i = 0; i < t->n; i++) {
		const struct kvmstat_exit_key *k = (const void *)(t->keys + i * t->key_size);
		uint64_t n = t->vals[i * t->words];	/* struct kvmstat_lat: count first */
		bool svm = k->isa == KVMSTAT_ISA_SVM;

		if ((int)k->vcpu != vcpu)
			continue;
		if (k->reason == (svm ? SVM_EXIT_IOIO : EXIT_REASON_IO_INSTRUCTION))
			o.io += n;
		else if (k->reason == (svm ? SVM_EXIT_INTR : EXIT_REASON_EXTERNAL_INTERRUPT))
			o.irq += n;
		else if (k->reason == (svm ? SVM_EXIT_HLT : EXIT_REASON_HLT))
			o.hlt += n;
	}
	t = &d->t[T_UEXITS];
	for (size_t i = 0; i < t->n; i++) {
		const struct kvmstat_uexit_key *k = (const void *)(t->keys + i * t->key_size);

		if ((int)k->vcpu == vcpu && k->reason == KVM_EXIT_INTR)
			o.intr += t->vals[i * t->words];
		if ((int)k->vcpu == vcpu && k->reason == KVM_EXIT_MMIO)
			o.mmio += t->vals[i * t->words];
	}
	return o;
}

int verify_end(struct verifier *v, const struct snapshot *d, FILE *out, enum report_format f,
	       bool *agree)
{
	struct kvm_stats after;
	int err = read_kvm_stats(v->socket, &after);

	verify_resume(v);
	if (err) {
		fprintf(stderr, "ooh-kvmstat: --verify %s: no kvm-stats from ooh-l0 at the end\n",
			v->socket);
		return -1;
	}
	*agree = true;
	if (f == FORMAT_JSON)
		fprintf(out, "{\"verify\":[");
	else
		fprintf(out, "-- verify against KVM's statistics (%s) --\n"
			"%-4s %12s %12s %10s %10s %10s %10s %10s %10s %10s %10s %10s %10s %s\n",
			v->socket, "VCPU", "KVM exits", "entries", "io_exits", "io", "irq_exits",
			"interrupt", "halt_exits", "hlt", "signal", "intr", "mmio_exits", "mmio", "AGREE");
	for (int c = 0; c < after.nr_vcpus; c++) {
		uint64_t k[NR_VERIFY];
		struct ours o = ours_of(d, c);
		bool ok;

		for (int i = 0; i < NR_VERIFY; i++)
			k[i] = after.v[c][i] - v->before.v[c][i];
		ok = k[V_EXITS] == o.entries && k[V_IO_EXITS] == o.io && k[V_IRQ_EXITS] == o.irq;
		*agree = *agree && ok;
		if (f == FORMAT_JSON)
			fprintf(out, "%s{\"vcpu\":%d,\"kvm_exits\":%llu,\"entries\":%llu,"
				"\"kvm_io_exits\":%llu,\"io\":%llu,\"kvm_irq_exits\":%llu,\"interrupt\":%llu,"
				"\"kvm_halt_exits\":%llu,\"hlt\":%llu,\"kvm_signal_exits\":%llu,\"intr\":%llu,"
				"\"kvm_mmio_exits\":%llu,\"mmio\":%llu,\"agree\":%s}", c ? "," : "", c,
				(unsigned long long)k[V_EXITS],
				(unsigned long long)o.entries, (unsigned long long)k[V_IO_EXITS],
				(unsigned long long)o.io, (unsigned long long)k[V_IRQ_EXITS],
				(unsigned long long)o.irq, (unsigned long long)k[V_HALT_EXITS],
				(unsigned long long)o.hlt, (unsigned long long)k[V_SIGNAL_EXITS],
				(unsigned long long)o.intr, (unsigned long long)k[V_MMIO_EXITS],
				(unsigned long long)o.mmio, ok ? "true" : "false");
		else
			fprintf(out, "%-4d %12llu %12llu %10llu %10llu %10llu %10llu %10llu %10llu %10llu %10llu %10llu %10llu %s\n",
				c, (unsigned long long)k[V_EXITS], (unsigned long long)o.entries,
				(unsigned long long)k[V_IO_EXITS], (unsigned long long)o.io,
				(unsigned long long)k[V_IRQ_EXITS], (unsigned long long)o.irq,
				(unsigned long long)k[V_HALT_EXITS], (unsigned long long)o.hlt,
				(unsigned long long)k[V_SIGNAL_EXITS], (unsigned long long)o.intr,
				(unsigned long long)k[V_MMIO_EXITS], (unsigned long long)o.mmio,
				ok ? "yes" : "NO");
	}
	if (f == FORMAT_JSON)
		fprintf(out, "],\"agree\":%s}\n", *agree ? "true" : "false");
	fflush(out);
	return 0;
}
