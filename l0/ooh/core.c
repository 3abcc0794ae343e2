// SPDX-License-Identifier: MIT
/*
 * OoH state of one VM: dirty-ring set-up, the harvest gate that stops the
 * other vCPUs, and the hooks the VMM core calls.
 */
#include "ooh.h"
#include "../exit-codes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef KVM_DIRTY_LOG_PAGE_OFFSET
#define KVM_DIRTY_LOG_PAGE_OFFSET 64
#endif

static uint32_t ring_entries_from_env(void)
{
	const char *env = getenv("OOH_L0_DIRTY_RING_ENTRIES");
	unsigned long n;

	if (!env || !*env)
		return L0_OOH_DEFAULT_RING_ENTRIES;
	n = strtoul(env, NULL, 0);
	if (n < 256 || n > 65536 || (n & (n - 1)))
		return L0_OOH_DEFAULT_RING_ENTRIES;
	return (uint32_t)n;
}

static int sys_ioctl(void *opaque, int fd, unsigned long request, void *arg)
{
	(void)opaque;
	return ioctl(fd, request, arg);
}

int l0_ooh_ioctl(const struct l0_ooh *ooh, int fd, unsigned long request, void *arg)
{
	return ooh->kvm.ioctl(ooh->kvm.opaque, fd, request, arg);
}

/* Must run before any vCPU exists (KVM_CAP_DIRTY_LOG_RING's rule). */
int l0_ooh_vm_init(struct l0_vm *vm)
{
	const struct l0_ooh_kvm kvm = { sys_ioctl, NULL };

	return l0_ooh_vm_init_kvm(vm, &kvm);
}

int l0_ooh_vm_init_kvm(struct l0_vm *vm, const struct l0_ooh_kvm *kvm)
{
	struct l0_ooh *ooh = calloc(1, sizeof(*ooh));
	struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING };
	int max;

	if (!ooh)
		return L0_EXIT_INTERNAL;
	ooh->vm = vm;
	ooh->kvm = *kvm;
	pthread_mutex_init(&ooh->lock, NULL);
	ooh->ring_entries = ring_entries_from_env();
	max = l0_ooh_ioctl(ooh, vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_DIRTY_LOG_RING);
	if (max > 0 && (uint64_t)ooh->ring_entries * sizeof(struct kvm_dirty_gfn) > (uint64_t)max)
		ooh->ring_entries = (uint32_t)((uint64_t)max / sizeof(struct kvm_dirty_gfn));
	cap.args[0] = (uint64_t)ooh->ring_entries * sizeof(struct kvm_dirty_gfn);
	if (max > 0 && l0_ooh_ioctl(ooh, vm->vm_fd, KVM_ENABLE_CAP, &cap) == 0)
		ooh->has_ring = true;
	else if (vm->cfg.verbose)
		fprintf(stderr, "ooh-l0: no KVM dirty ring (%s): virtual PML off\n",
			max > 0 ? strerror(errno) : "not supported");
	ooh->gsi = vm->cfg.irqchip ? L0_OOH_NOTIFY_GSI : 0;
	vm->ooh = ooh;
	if (l0_ooh_spp_init(ooh) != 0) {
		l0_ooh_vm_destroy(vm);
		return L0_EXIT_INTERNAL;
	}
	/* OOH_L0_DIRTY_LOG=always: log from the start (diagnostics, benchmarks) */
	if (ooh->has_ring && getenv("OOH_L0_DIRTY_LOG") &&
	    !strcmp(getenv("OOH_L0_DIRTY_LOG"), "always"))
		l0_ooh_set_logging(ooh, true);
	return 0;
}

void l0_ooh_vm_destroy(struct l0_vm *vm)
{
	struct l0_ooh *ooh = vm->ooh;

	if (!ooh)
		return;
	for (int i = 0; i < L0_MAX_VCPUS; i++)
		if (ooh->vcpu[i].ring)
			munmap(ooh->vcpu[i].ring, (size_t)ooh->ring_entries * sizeof(struct kvm_dirty_gfn));
	free(ooh->gfns);
	free(ooh->set);
	free(ooh->unique);
	free(ooh->host.bits);
	free(ooh->written.gfn);
	l0_ooh_spp_destroy(ooh);
	pthread_mutex_destroy(&ooh->lock);
	free(ooh);
	vm->ooh = NULL;
}

int l0_ooh_vcpu_init(struct l0_vcpu *vcpu)
{
	struct l0_ooh *ooh = vcpu->vm->ooh;
	size_t bytes;
	void *ring;

	if (!ooh || !ooh->has_ring)
		return 0;
	bytes = (size_t)ooh->ring_entries * sizeof(struct kvm_dirty_gfn);
	ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd,
		    KVM_DIRTY_LOG_PAGE_OFFSET * sysconf(_SC_PAGESIZE));
	if (ring == MAP_FAILED) {
		fprintf(stderr, "ooh-l0: mmap dirty ring of vCPU %d: %s\n", vcpu->id, strerror(errno));
		return L0_EXIT_INTERNAL;
	}
	ooh->vcpu[vcpu->id].ring = ring;
	return 0;
}

uint32_t l0_ooh_features(const struct l0_vm *vm)
{
	const struct l0_ooh *ooh = vm->ooh;
	uint32_t f;

	if (!ooh)
		return 0;
	f = OOH_FEAT_HYPERCALL | OOH_FEAT_SHADOW;
	if (ooh->has_ring)
		f |= OOH_FEAT_SPML | OOH_FEAT_EPML;
	if (ooh->gsi)
		f |= OOH_FEAT_NOTIFY_IRQ;
	if (ooh->spp.readonly_ok)
		f |= OOH_FEAT_SPP;
	return f;
}

uint32_t l0_ooh_gsi(const struct l0_vm *vm)
{
	return vm->ooh ? vm->ooh->gsi : 0;
}

/*
 * The gate every vCPU thread passes before KVM_RUN: while a harvest runs,
 * wait here. A kick (immediate_exit) guarantees a vCPU reaches it without
 * running guest code.
 */
void l0_ooh_vcpu_gate(struct l0_vcpu *vcpu)
{
	struct l0_vm *vm = vcpu->vm;
	struct l0_ooh *ooh = vm->ooh;

	if (!ooh || !atomic_load(&ooh->stop_req))
		return;
	pthread_mutex_lock(&vm->lock);
	atomic_store(&ooh->vcpu[vcpu->id].parked, true);
	pthread_cond_broadcast(&vm->cond);
	while (atomic_load(&ooh->stop_req) && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->cond, &vm->lock);
	atomic_store(&ooh->vcpu[vcpu->id].parked, false);
	pthread_mutex_unlock(&vm->lock);
}

/* Takes ooh->lock; a vCPU waiting for it still obeys the gate. */
void l0_ooh_lock(struct l0_ooh *ooh, struct l0_vcpu *self)
{
	const struct timespec pause = { 0, 20000 };

	while (pthread_mutex_trylock(&ooh->lock) != 0) {
		if (self)
			l0_ooh_vcpu_gate(self);
		nanosleep(&pause, NULL);
	}
}

void l0_ooh_unlock(struct l0_ooh *ooh)
{
	pthread_mutex_unlock(&ooh->lock);
}

static bool out_of_run(struct l0_vm *vm, int i)
{
	return atomic_load(&vm->ooh->vcpu[i].parked) || vm->vcpu[i].parked ||
	       !vm->vcpu[i].thread_started;
}

/*
 * Stops every vCPU but self outside KVM_RUN (ooh->lock held). Kicks
 * flush what the CPU may still hold (PML buffers on Intel hosts) into the
 * dirty rings; the vCPUs then wait in the gate until world_resume.
 */
void l0_ooh_world_stop(struct l0_ooh *ooh, struct l0_vcpu *self)
{
	struct l0_vm *vm = ooh->vm;
	int self_id = self ? self->id : -1;
	unsigned long waits = 0;

	atomic_store(&ooh->stop_req, true);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		if (i == self_id)
			continue;
		l0_vcpu_kick(&vm->vcpu[i]);
		ooh->stats.kick_exits++;
	}
	pthread_mutex_lock(&vm->lock);
	for (;;) {
		bool all = true;
		struct timespec until;

		for (int i = 0; i < vm->nr_vcpus && all; i++)
			all = i == self_id || out_of_run(vm, i);
		if (all || atomic_load(&vm->stopping))
			break;
		/* a kick lost to a thread between the gate and KVM_RUN: kick again */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 5000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		if (pthread_cond_timedwait(&vm->cond, &vm->lock, &until) == ETIMEDOUT) {
			if (++waits % 400 == 0) /* every ~2 s: say who we wait for */
				for (int i = 0; i < vm->nr_vcpus; i++)
					fprintf(stderr, "ooh-l0: harvest by vCPU %d waits: vCPU %d gate %d "
						"parked %d started %d\n", self_id, i,
						(int)atomic_load(&ooh->vcpu[i].parked), (int)vm->vcpu[i].parked,
						(int)vm->vcpu[i].thread_started);
			for (int i = 0; i < vm->nr_vcpus; i++)
				if (i != self_id && !out_of_run(vm, i))
					l0_vcpu_kick(&vm->vcpu[i]);
		}
	}
	pthread_mutex_unlock(&vm->lock);
}

void l0_ooh_world_resume(struct l0_ooh *ooh)
{
	struct l0_vm *vm = ooh->vm;

	pthread_mutex_lock(&vm->lock);
	atomic_store(&ooh->stop_req, false);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

bool l0_ooh_overlaps(struct l0_ooh *ooh, uint64_t gpa, uint64_t len, const void *skip)
{
	return l0_ooh_overlaps_structs(ooh, gpa, len, skip) || l0_ooh_spp_protected_in(ooh, gpa, len);
}

/* Logs, shadow pages and SPP violation records (other than skip). */
bool l0_ooh_overlaps_structs(struct l0_ooh *ooh, uint64_t gpa, uint64_t len, const void *skip)
{
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++) {
		const struct l0_ooh_session *s = &ooh->session[id];

		if (s->open && s != skip && ranges_overlap(gpa, len, s->log_gpa, s->log_bytes))
			return true;
	}
	for (int i = 0; i < ooh->vm->nr_vcpus; i++) {
		const struct l0_ooh_vcpu *v = &ooh->vcpu[i];

		if (v->shadow_gpa && v != skip && ranges_overlap(gpa, len, v->shadow_gpa, 4096))
			return true;
		if (v->spp_record && &v->spp_record != skip &&
		    ranges_overlap(gpa, len, v->spp_record, sizeof(struct ooh_spp_violation)))
			return true;
	}
	return false;
}

/* A 32-bit OUT to OOH_HC_PORT: the hypercall. Anything else there is refused. */
bool l0_ooh_handle_io(struct l0_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	struct l0_ooh *ooh = vcpu->vm->ooh;
	uint32_t value;

	if (!ooh || run->io.port != OOH_HC_PORT)
		return false;
	if (run->io.direction != KVM_EXIT_IO_OUT || run->io.size != 4 || run->io.count != 1) {
		atomic_fetch_add(&ooh->bad_hypercalls, 1);
		if (run->io.direction == KVM_EXIT_IO_IN)
			return false; /* floating bus, like an empty port */
		return true;
	}
	memcpy(&value, (uint8_t *)run + run->io.data_offset, sizeof(value));
	l0_ooh_hypercall(ooh, vcpu, (uint64_t)value << OOH_HC_ALIGN_SHIFT);
	return true;
}

void l0_ooh_ring_full(struct l0_vcpu *vcpu)
{
	struct l0_ooh *ooh = vcpu->vm->ooh;

	if (!ooh)
		return;
	if (atomic_fetch_add(&ooh->ring_full_exits, 1) % 10000 == 9999)
		fprintf(stderr, "ooh-l0: vCPU %d: %lu dirty-ring-full exits\n", vcpu->id,
			(unsigned long)atomic_load(&ooh->ring_full_exits));
	l0_ooh_lock(ooh, vcpu);
	l0_ooh_harvest_for_room(ooh, vcpu);
	l0_ooh_unlock(ooh);
}
