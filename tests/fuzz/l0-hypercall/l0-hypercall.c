// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: ooh-l0's OoH virtual hardware as a hostile guest sees
 * it (l0/ooh/: the hypercall port and request-block decode, every op,
 * sessions and their logs, the dirty-ring harvest, the shadow control
 * page, SPP batches, memory-slot re-layout and SPP writes through
 * KVM_EXIT_MMIO, the control socket's dirty-start/dirty/dirty-stop), with
 * the functions ooh-l0 runs, on two fake VMs and a fake KVM (no /dev/kvm).
 *
 * Each VM has guest RAM in two regions, each its own exact-size allocation
 * (ASan sees any access past them), and its own struct l0_ooh made by
 * l0_ooh_vm_init_kvm with the fake KVM below. The fake KVM keeps, like
 * KVM, the memory slots l0 sets (refusing overlaps, unknown slots, a
 * read-only flip), a dirty ring per vCPU (an entry per page written while
 * its slot logs, once until the entry is reset), and turns a guest write
 * into a read-only slot into KVM_EXIT_MMIO pieces of at most 8 bytes, split
 * at pages, handed out by KVM_RUN one by one (then EINTR).
 *
 * An input is a configuration byte pair then steps (see the enum below):
 * a hypercall (an OUT to the port, the 64-byte block written first), a
 * guest write, a dirty-ring-full exit, a control-socket command, an
 * emulation failure. Checked after each step: the other VM's RAM, rings
 * and OoH state did not change; the KVM slots cover RAM exactly, read-only
 * exactly on the protected pages; logs, shadow pages, violation records
 * and protected pages do not overlap; every open log's header holds l0's
 * copies and its entries are page-aligned, of a delivered harvest, and
 * (SPML) guest-physical RAM; l0 never asked the VM to stop; and after a
 * step with one harvest, each SPML session active throughout holds every
 * page the guest wrote since the harvest before (check_delivery).
 *
 * The fake guest does not write into open logs except their consumer
 * field: l0 reads nothing else there, so this only keeps the header check
 * meaningful; a hypercall's write-back or STATS output that lands in a log
 * excuses that log from the check until it is opened again.
 */
#include "ooh/ooh.h"
#include "x86/x86.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "check failed: %s (line %d)\n", #c, __LINE__); \
	abort(); } } while (0)

/*
 * The checks are not what is to be explored: their comparisons would only
 * add noise (and time) to the coverage feedback.
 */
#define NO_COVERAGE __attribute__((no_sanitize("coverage")))

#define PAGE 4096ull
#define NR_VMS 2
#define MAX_VCPUS 4
#define REGION0 (256ull << 10)          /* at GPA 0 */
#define REGION1_GPA (4ull << 30)        /* above the MMIO hole, like a big guest */
#define REGION1 (64ull << 10)
#define RAM_PAGES ((REGION0 + REGION1) / PAGE)
#define RING_ENTRIES 128u               /* what the fake KVM allows */
#define RING_SOFT_FULL 64u              /* KVM exits DIRTY_RING_FULL this early */
#define MAX_KVM_SLOTS 64u
#define MAX_WRITE 64u
#define RUN_BYTES 8192u                 /* kvm_run plus the PIO data page */

struct kvm_slot {
	bool used;
	uint32_t flags;
	uint64_t gpa, size;
	uint64_t host;
};

struct fake_ring {
	struct kvm_dirty_gfn *gfn;      /* l0's vcpu[i].ring */
	uint32_t push, reset;           /* KVM's indices */
};

struct piece {
	uint64_t gpa;
	uint32_t len;
	uint8_t data[8];
};

struct fake_vm {
	/* kept from input to input (allocating them costs more than a run) */
	uint8_t *ram[2];                /* the two regions, exact-size allocations */
	uint8_t *snap_ram;
	/* the rest: cleared for each input */
	struct l0_vm *vm;
	int index;
	bool paging_5level;
	uint32_t nr_memslots;           /* KVM_CAP_NR_MEMSLOTS */
	bool readonly_mem, dirty_ring;
	struct kvm_slot slot[MAX_KVM_SLOTS];
	uint8_t logged[RAM_PAGES];      /* a ring entry is out for this page */
	struct fake_ring ring[MAX_VCPUS];
	struct piece pending[16];       /* the rest of an instruction's MMIO pieces */
	int nr_pending, next_pending;
	bool other_exit;                /* KVM_RUN ends the instruction with a device exit */
	uint8_t written[RAM_PAGES];     /* the guest wrote the page since the last harvest */
	uint8_t harvested[RAM_PAGES];   /* ... before the last harvest, after the one before */
	int resets;                     /* KVM_RESET_DIRTY_RINGS calls: one per harvest */
	bool clobbered[OOH_MAX_SESSIONS + 1];
	/* the state a step on the other VM must leave alone */
	struct l0_ooh_session snap_session[OOH_MAX_SESSIONS + 1];
	struct l0_ooh_vcpu snap_vcpu[MAX_VCPUS];
	struct ooh_hv_stats snap_stats;
	struct kvm_dirty_gfn snap_ring[MAX_VCPUS][RING_ENTRIES];
};

static struct fake_vm fakes[NR_VMS];

/* The VMM core outside l0/ooh (vm.c, vcpu.c, x86/vcpu-state.c). */
void l0_vcpu_kick(struct l0_vcpu *vcpu)
{
	(void)vcpu; /* no vCPU threads: every vCPU is already outside KVM_RUN */
}

bool l0_x86_vcpu_paging_5level(struct l0_vcpu *vcpu)
{
	return fakes[vcpu->vm == fakes[0].vm ? 0 : 1].paging_5level;
}

/* The fake KVM refuses only what KVM refuses: l0 never has cause to stop. */
void l0_vm_request_stop(struct l0_vm *vm, enum l0_stop_reason reason, int exit_code,
			const char *fmt, ...)
{
	va_list ap;

	(void)vm;
	fprintf(stderr, "l0_vm_request_stop(%d, %d): ", (int)reason, exit_code);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- guest RAM ---- */

static uint64_t ram_index(uint64_t gpa, bool *ok)
{
	*ok = true;
	if (gpa < REGION0)
		return gpa;
	if (gpa >= REGION1_GPA && gpa - REGION1_GPA < REGION1)
		return REGION0 + (gpa - REGION1_GPA);
	*ok = false;
	return 0;
}

static uint8_t *ram_byte(struct fake_vm *f, uint64_t gpa)
{
	return l0_gpa_to_host(&f->vm->mem, gpa, 1);
}

static bool ram_range(uint64_t gpa, uint64_t len)
{
	return (gpa < REGION0 && len <= REGION0 - gpa) ||
	       (gpa >= REGION1_GPA && gpa - REGION1_GPA < REGION1 && len <= REGION1 - (gpa - REGION1_GPA));
}

static NO_COVERAGE void ram_copy(struct fake_vm *f, uint8_t *out)
{
	memcpy(out, f->vm->mem.region[0].host, REGION0);
	memcpy(out + REGION0, f->vm->mem.region[1].host, REGION1);
}

static NO_COVERAGE bool ram_same(struct fake_vm *f, const uint8_t *snap)
{
	return !memcmp(snap, f->vm->mem.region[0].host, REGION0) &&
	       !memcmp(snap + REGION0, f->vm->mem.region[1].host, REGION1);
}

/* ---- the fake KVM ---- */

static struct kvm_slot *slot_at(struct fake_vm *f, uint64_t gpa, uint32_t *id)
{
	for (uint32_t i = 0; i < MAX_KVM_SLOTS; i++) {
		struct kvm_slot *s = &f->slot[i];

		if (s->used && gpa >= s->gpa && gpa - s->gpa < s->size) {
			if (id)
				*id = i;
			return s;
		}
	}
	return NULL;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

static void unlog_slot(struct fake_vm *f, const struct kvm_slot *s)
{
	bool ok;

	for (uint64_t a = s->gpa; a < s->gpa + s->size; a += PAGE)
		f->logged[ram_index(a, &ok) / PAGE] = 0;
}

static int set_region(struct fake_vm *f, const struct kvm_userspace_memory_region *r)
{
	struct kvm_slot *s;

	if (r->slot >= f->nr_memslots || r->slot >= MAX_KVM_SLOTS)
		return fail(EINVAL);
	s = &f->slot[r->slot];
	if (r->memory_size == 0) {
		if (!s->used)
			return fail(EINVAL);
		s->used = false;
		return 0;
	}
	if ((r->guest_phys_addr | r->memory_size | r->userspace_addr) & (PAGE - 1))
		return fail(EINVAL);
	if (r->flags & ~(uint32_t)(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY))
		return fail(EINVAL);
	/* l0 must hand KVM guest RAM itself, where it lies: checked, not trusted */
	CHECK(ram_range(r->guest_phys_addr, r->memory_size));
	CHECK(l0_gpa_to_host(&f->vm->mem, r->guest_phys_addr, r->memory_size) ==
	      (void *)(uintptr_t)r->userspace_addr);
	if (s->used) { /* only the dirty-logging flag may change in place */
		if (s->gpa != r->guest_phys_addr || s->size != r->memory_size ||
		    s->host != r->userspace_addr ||
		    ((s->flags ^ r->flags) & KVM_MEM_READONLY))
			return fail(EINVAL);
		if ((r->flags & KVM_MEM_LOG_DIRTY_PAGES) && !(s->flags & KVM_MEM_LOG_DIRTY_PAGES))
			unlog_slot(f, s); /* write-protected again */
		s->flags = r->flags;
		return 0;
	}
	for (uint32_t i = 0; i < MAX_KVM_SLOTS; i++)
		if (f->slot[i].used && r->guest_phys_addr < f->slot[i].gpa + f->slot[i].size &&
		    f->slot[i].gpa < r->guest_phys_addr + r->memory_size)
			return fail(EEXIST);
	*s = (struct kvm_slot){ true, r->flags, r->guest_phys_addr, r->memory_size,
				r->userspace_addr };
	unlog_slot(f, s);
	return 0;
}

static int reset_rings(struct fake_vm *f)
{
	int n = 0;

	/* a harvest has just taken the rings: what was written so far is its */
	memcpy(f->harvested, f->written, sizeof(f->harvested));
	memset(f->written, 0, sizeof(f->written));
	f->resets++;

	for (int v = 0; v < f->vm->nr_vcpus; v++) {
		struct fake_ring *r = &f->ring[v];

		while (r->reset != r->push) {
			struct kvm_dirty_gfn *e = &r->gfn[r->reset % RING_ENTRIES];
			bool ok;

			if (!(e->flags & KVM_DIRTY_GFN_F_RESET))
				break;
			if (e->slot < MAX_KVM_SLOTS && f->slot[e->slot].used)
				f->logged[ram_index(f->slot[e->slot].gpa + e->offset * PAGE, &ok) / PAGE] = 0;
			e->flags = 0;
			r->reset++;
			n++;
		}
	}
	return n;
}

static void direct_write(struct fake_vm *f, int vcpu, const struct piece *p, bool may_exit);

static bool slot_readonly(struct fake_vm *f, uint64_t gpa)
{
	struct kvm_slot *s = slot_at(f, gpa, NULL);

	return s && (s->flags & KVM_MEM_READONLY);
}

static void mmio_exit(struct kvm_run *run, const struct piece *p)
{
	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = p->gpa;
	run->mmio.len = p->len;
	run->mmio.is_write = 1;
	memcpy(run->mmio.data, p->data, p->len);
}

/* KVM_RUN with immediate_exit, in the middle of an SPP write: the next piece. */
static int run_vcpu(struct fake_vm *f, int vcpu)
{
	struct kvm_run *run = f->vm->vcpu[vcpu].run;

	CHECK(run->immediate_exit);
	while (f->next_pending < f->nr_pending) {
		const struct piece *p = &f->pending[f->next_pending++];

		if (slot_readonly(f, p->gpa)) {
			mmio_exit(run, p);
			return 0;
		}
		direct_write(f, vcpu, p, false);
	}
	if (f->other_exit) {
		f->other_exit = false;
		run->exit_reason = KVM_EXIT_IO;
		return 0;
	}
	return fail(EINTR);
}

static int vcpu_of_fd(struct fake_vm *f, int fd)
{
	for (int v = 0; v < f->vm->nr_vcpus; v++)
		if (f->vm->vcpu[v].fd == fd)
			return v;
	return -1;
}

static int fake_ioctl(void *opaque, int fd, unsigned long request, void *arg)
{
	struct fake_vm *f = opaque;
	int vcpu = vcpu_of_fd(f, fd);

	/* one VM's l0 state only ever reaches that VM's KVM objects */
	CHECK(fd == f->vm->kvm_fd || fd == f->vm->vm_fd || vcpu >= 0);
	switch (request) {
	case KVM_CHECK_EXTENSION:
		switch ((uintptr_t)arg) {
		case KVM_CAP_DIRTY_LOG_RING:
			return f->dirty_ring ? (int)(RING_ENTRIES * sizeof(struct kvm_dirty_gfn)) : 0;
		case KVM_CAP_NR_MEMSLOTS:
			return (int)f->nr_memslots;
		case KVM_CAP_READONLY_MEM:
			return f->readonly_mem;
		}
		return 0;
	case KVM_ENABLE_CAP:
		CHECK(((struct kvm_enable_cap *)arg)->args[0] == RING_ENTRIES * sizeof(struct kvm_dirty_gfn));
		return 0;
	case KVM_SET_USER_MEMORY_REGION:
		return set_region(f, arg);
	case KVM_RESET_DIRTY_RINGS:
		return reset_rings(f);
	case KVM_IRQ_LINE:
		CHECK(((struct kvm_irq_level *)arg)->irq == L0_OOH_NOTIFY_GSI);
		return 0;
	case KVM_NMI:
		CHECK(vcpu >= 0);
		return 0;
	case KVM_GET_VCPU_EVENTS:
		CHECK(vcpu >= 0);
		memset(arg, 0, sizeof(struct kvm_vcpu_events));
		return 0;
	case KVM_SET_VCPU_EVENTS:
		CHECK(vcpu >= 0 && ((struct kvm_vcpu_events *)arg)->exception.nr == 5);
		return 0;
	case KVM_RUN:
		CHECK(vcpu >= 0);
		return run_vcpu(f, vcpu);
	}
	CHECK(!"an ioctl the OoH code does not make");
	return fail(ENOTTY);
}

/*
 * KVM's dirty log: the first write to a page since its entry was reset.
 * may_exit: false in the middle of an instruction l0 is completing
 * (KVM_RUN from l0_ooh_spp_mmio), where l0 is not to be re-entered.
 */
static bool log_page(struct fake_vm *f, int vcpu, uint64_t gpa, bool may_exit)
{
	struct fake_ring *r = &f->ring[vcpu];
	uint32_t id;
	struct kvm_slot *s = slot_at(f, gpa, &id);
	bool ok;
	uint64_t page = ram_index(gpa, &ok) / PAGE;

	if (!f->vm->ooh->has_ring || !s || !(s->flags & KVM_MEM_LOG_DIRTY_PAGES) || f->logged[page])
		return true;
	if (may_exit && r->push - r->reset >= RING_SOFT_FULL) /* KVM_EXIT_DIRTY_RING_FULL first */
		l0_ooh_ring_full(&f->vm->vcpu[vcpu]);
	if (r->push - r->reset >= RING_ENTRIES)
		return false; /* KVM would not run the vCPU: the write does not happen */
	r->gfn[r->push % RING_ENTRIES] = (struct kvm_dirty_gfn){ KVM_DIRTY_GFN_F_DIRTY, id,
								   (gpa - s->gpa) / PAGE };
	r->push++;
	f->logged[page] = 1;
	return true;
}

/* The guest does not write an open log but for its consumer field (see the top). */
static NO_COVERAGE bool log_byte_masked(struct fake_vm *f, uint64_t gpa)
{
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++) {
		const struct l0_ooh_session *s = &f->vm->ooh->session[id];

		if (s->open && gpa >= s->log_gpa && gpa - s->log_gpa < s->log_bytes)
			return gpa - s->log_gpa < offsetof(struct ooh_log_header, consumer) ||
			       gpa - s->log_gpa >= offsetof(struct ooh_log_header, size);
	}
	return false;
}

static void direct_write(struct fake_vm *f, int vcpu, const struct piece *p, bool may_exit)
{
	bool ok;

	if (!log_page(f, vcpu, p->gpa, may_exit))
		return;
	f->written[ram_index(p->gpa, &ok) / PAGE] = 1;
	for (uint32_t i = 0; i < p->len; i++)
		if (!log_byte_masked(f, p->gpa + i))
			*ram_byte(f, p->gpa + i) = p->data[i];
}

/* ---- VMs ---- */

static void vm_create(struct fake_vm *f, int index, const uint8_t cfg[2])
{
	struct l0_vm *vm = calloc(1, sizeof(*vm));
	const struct l0_ooh_kvm kvm = { fake_ioctl, f };

	CHECK(vm);
	memset(&f->vm, 0, sizeof(*f) - offsetof(struct fake_vm, vm));
	f->vm = vm;
	f->index = index;
	f->paging_5level = cfg[0] & 0x40;
	f->readonly_mem = !(cfg[0] & 0x10);
	f->dirty_ring = !(cfg[0] & 0x20);
	/* at least the two RAM regions' slots; small budgets make SPP run out */
	f->nr_memslots = 2 + cfg[1] % 46;
	vm->kvm_fd = 100;
	vm->vm_fd = 200 + index;
	vm->cfg.irqchip = cfg[0] & 0x08;
	vm->mem.nr_regions = 2;
	vm->mem.size = REGION0 + REGION1;
	vm->mem.region[0] = (struct l0_mem_region){ 0, REGION0, f->ram[0] };
	vm->mem.region[1] = (struct l0_mem_region){ REGION1_GPA, REGION1, f->ram[1] };
	memset(f->ram[0], 0, REGION0);
	memset(f->ram[1], 0, REGION1);
	/* the slots vm.c registers: region i as slot i */
	for (int i = 0; i < 2; i++)
		f->slot[i] = (struct kvm_slot){ true, 0, vm->mem.region[i].gpa, vm->mem.region[i].size,
						(uintptr_t)vm->mem.region[i].host };
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->nr_vcpus = 1 + (cfg[0] & 3);
	for (int v = 0; v < vm->nr_vcpus; v++) {
		vm->vcpu[v] = (struct l0_vcpu){ .vm = vm, .id = v, .fd = 300 + 16 * index + v };
		vm->vcpu[v].run = calloc(1, RUN_BYTES);
		CHECK(vm->vcpu[v].run);
	}
	CHECK(l0_ooh_vm_init_kvm(vm, &kvm) == 0);
	/* KVM's dirty ring, as l0_ooh_vcpu_init maps it (l0_ooh_vm_destroy unmaps it) */
	for (int v = 0; v < vm->nr_vcpus && vm->ooh->has_ring; v++) {
		void *ring = mmap(NULL, RING_ENTRIES * sizeof(struct kvm_dirty_gfn),
				  PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		CHECK(ring != MAP_FAILED);
		vm->ooh->vcpu[v].ring = ring;
		f->ring[v].gfn = ring;
	}
	CHECK(!vm->ooh->has_ring || vm->ooh->ring_entries == RING_ENTRIES);
}

static void vm_destroy(struct fake_vm *f)
{
	struct l0_vm *vm = f->vm;

	l0_ooh_vm_destroy(vm);
	for (int v = 0; v < vm->nr_vcpus; v++)
		free(vm->vcpu[v].run);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
	free(vm);
}

static NO_COVERAGE void snapshot(struct fake_vm *f)
{
	struct l0_ooh *ooh = f->vm->ooh;

	ram_copy(f, f->snap_ram);
	memcpy(f->snap_session, ooh->session, sizeof(f->snap_session));
	memcpy(f->snap_vcpu, ooh->vcpu, sizeof(f->snap_vcpu));
	f->snap_stats = ooh->stats;
	for (int v = 0; v < f->vm->nr_vcpus; v++)
		if (f->ring[v].gfn)
			memcpy(f->snap_ring[v], f->ring[v].gfn, sizeof(f->snap_ring[v]));
}

static NO_COVERAGE void check_untouched(struct fake_vm *f)
{
	struct l0_ooh *ooh = f->vm->ooh;

	CHECK(ram_same(f, f->snap_ram));
	CHECK(!memcmp(f->snap_session, ooh->session, sizeof(f->snap_session)));
	CHECK(!memcmp(f->snap_vcpu, ooh->vcpu, sizeof(f->snap_vcpu)));
	CHECK(!memcmp(&f->snap_stats, &ooh->stats, sizeof(f->snap_stats)));
	for (int v = 0; v < f->vm->nr_vcpus; v++)
		if (f->ring[v].gfn)
			CHECK(!memcmp(f->snap_ring[v], f->ring[v].gfn, sizeof(f->snap_ring[v])));
}

/* ---- invariants of one VM ---- */

static NO_COVERAGE bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

struct range {
	uint64_t gpa, len;
};

/* Logs, shadow pages, violation records and protected pages: pairwise apart. */
static NO_COVERAGE void check_disjoint(struct fake_vm *f)
{
	struct l0_ooh *ooh = f->vm->ooh;
	static struct range r[OOH_MAX_SESSIONS + 2 * MAX_VCPUS + RAM_PAGES];
	size_t n = 0;

	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++)
		if (ooh->session[id].open)
			r[n++] = (struct range){ ooh->session[id].log_gpa, ooh->session[id].log_bytes };
	for (int v = 0; v < f->vm->nr_vcpus; v++) {
		if (ooh->vcpu[v].shadow_gpa)
			r[n++] = (struct range){ ooh->vcpu[v].shadow_gpa, PAGE };
		if (ooh->vcpu[v].spp_record)
			r[n++] = (struct range){ ooh->vcpu[v].spp_record, sizeof(struct ooh_spp_violation) };
	}
	CHECK(ooh->spp.nr_pages <= RAM_PAGES);
	for (size_t i = 0; i < ooh->spp.nr_pages; i++)
		r[n++] = (struct range){ ooh->spp.page[i].gfn * PAGE, PAGE };
	for (size_t i = 0; i < n; i++) {
		CHECK(ram_range(r[i].gpa, r[i].len));
		for (size_t j = i + 1; j < n; j++)
			CHECK(!overlap(r[i].gpa, r[i].len, r[j].gpa, r[j].len));
	}
}

/* KVM's slots: all of RAM, once; read-only exactly on the protected pages. */
static NO_COVERAGE void check_slots(struct fake_vm *f)
{
	struct l0_ooh *ooh = f->vm->ooh;
	uint64_t bytes = 0;
	uint32_t used = 0;

	for (size_t i = 1; i < ooh->spp.nr_pages; i++)
		CHECK(ooh->spp.page[i - 1].gfn < ooh->spp.page[i].gfn);
	CHECK(ooh->stats.spp_pages == ooh->spp.nr_pages);
	for (uint32_t i = 0; i < MAX_KVM_SLOTS; i++) {
		const struct kvm_slot *s = &f->slot[i];
		bool ro = s->flags & KVM_MEM_READONLY;

		if (!s->used)
			continue;
		used++;
		bytes += s->size;
		CHECK(i < ooh->spp.max_slots && ooh->spp.slot[i].used && ooh->spp.slot[i].ro == ro &&
		      ooh->spp.slot[i].gpa == s->gpa && ooh->spp.slot[i].npages * PAGE == s->size);
		CHECK(ro || !(s->flags & KVM_MEM_LOG_DIRTY_PAGES) == !ooh->logging);
		for (uint64_t a = s->gpa; a < s->gpa + s->size; a += PAGE)
			CHECK(ro == l0_ooh_spp_protected_in(ooh, a, 1));
	}
	CHECK(bytes == REGION0 + REGION1); /* no overlap (KVM refuses it): all of RAM */
	CHECK(used == ooh->spp.nr_slots);
}

static NO_COVERAGE void check_log(struct fake_vm *f, uint32_t id)
{
	const struct l0_ooh_session *s = &f->vm->ooh->session[id];
	const struct ooh_log_header *h = l0_gpa_to_host(&f->vm->mem, s->log_gpa, s->log_bytes);
	const struct ooh_log_entry *e = (const struct ooh_log_entry *)(h + 1);
	uint32_t flags = (s->active ? OOH_LOG_F_ACTIVE : 0) | (s->overflow ? OOH_LOG_F_OVERFLOW : 0);
	uint64_t first = s->producer > s->size ? s->producer - s->size : 0;

	CHECK(h && s->size && !(s->size & (s->size - 1)));
	CHECK(sizeof(*h) + (uint64_t)s->size * sizeof(*e) <= s->log_bytes);
	CHECK(s->mode == OOH_MODE_SPML || s->mode == OOH_MODE_EPML);
	if (f->clobbered[id])
		return;
	CHECK(h->producer == s->producer && h->size == s->size && h->flags == flags &&
	      h->overflow == s->overflow && h->seq == s->seq && h->session == id && h->mode == s->mode);
	for (uint64_t i = first; i < s->producer; i++) {
		const struct ooh_log_entry *x = &e[i & (s->size - 1)];
		bool ok;

		CHECK(!(x->addr & (PAGE - 1)) && x->seq >= 1 && x->seq <= s->seq);
		if (s->mode == OOH_MODE_SPML) {
			ram_index(x->addr, &ok);
			CHECK(ok);
		} else {
			CHECK(x->addr < (1ull << 47)); /* the user half only */
		}
	}
}

static NO_COVERAGE void check_vm(struct fake_vm *f)
{
	struct l0_ooh *ooh = f->vm->ooh;
	bool active = false;

	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++) {
		const struct l0_ooh_session *s = &ooh->session[id];

		CHECK(s->open || !s->active);
		active = active || s->active;
		if (s->open)
			check_log(f, id);
	}
	/* on under a session or the host's view; off only once neither is (host.c) */
	CHECK(!ooh->has_ring || ooh->logging || !(active || ooh->host.on));
	check_disjoint(f);
	check_slots(f);
}

/*
 * SPML delivery: a step with exactly one harvest (one ring reset) gives
 * each SPML session that was active before it and after it, and did not
 * overflow, every page the guest wrote since the harvest before (KVM
 * logged it: the session was active all that time, so logging was on).
 * Pages l0 itself wrote for the guest (SPP) may come too: not checked.
 */
struct before {
	bool active[OOH_MAX_SESSIONS + 1];
	uint64_t producer[OOH_MAX_SESSIONS + 1], overflow[OOH_MAX_SESSIONS + 1];
};

static NO_COVERAGE void note_before(struct fake_vm *f, struct before *b)
{
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++) {
		const struct l0_ooh_session *s = &f->vm->ooh->session[id];

		b->active[id] = s->active && s->mode == OOH_MODE_SPML;
		b->producer[id] = s->producer;
		b->overflow[id] = s->overflow;
	}
	f->resets = 0;
}

static NO_COVERAGE uint64_t page_gpa(uint64_t index)
{
	return index * PAGE < REGION0 ? index * PAGE : REGION1_GPA + index * PAGE - REGION0;
}

static NO_COVERAGE bool delivered(const struct l0_ooh_session *s, const struct ooh_log_header *h,
				  uint64_t from, uint64_t gpa)
{
	const struct ooh_log_entry *e = (const struct ooh_log_entry *)(h + 1);

	for (uint64_t i = from; i < s->producer; i++)
		if (e[i & (s->size - 1)].addr == gpa && e[i & (s->size - 1)].seq == s->seq)
			return true;
	return false;
}

static NO_COVERAGE void check_delivery(struct fake_vm *f, const struct before *b)
{
	if (f->resets != 1)
		return;
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++) {
		const struct l0_ooh_session *s = &f->vm->ooh->session[id];
		const struct ooh_log_header *h = l0_gpa_to_host(&f->vm->mem, s->log_gpa, s->log_bytes);

		if (!b->active[id] || !s->active || s->overflow != b->overflow[id] || f->clobbered[id])
			continue;
		CHECK(s->producer - b->producer[id] <= s->size); /* no overflow: nothing wrapped */
		for (uint64_t p = 0; p < RAM_PAGES; p++)
			if (f->harvested[p] && !delivered(s, h, b->producer[id], page_gpa(p))) {
				fprintf(stderr, "session %u: page %#llx written, not delivered\n", id,
					(unsigned long long)page_gpa(p));
				CHECK(!"a page written under an active SPML session was not delivered");
			}
	}
}

/* ---- steps ---- */

struct input {
	const uint8_t *p;
	size_t left;
};

static bool take(struct input *in, void *out, size_t n)
{
	if (in->left < n)
		return false;
	memcpy(out, in->p, n);
	in->p += n;
	in->left -= n;
	return true;
}

enum step {
	STEP_HYPERCALL,         /* sel, u16 block, 64-byte block */
	STEP_WRITE,             /* sel, u32 gpa, len, data */
	STEP_RING_FULL,         /* sel */
	STEP_HOST,              /* sel: dirty-start, dirty, dirty-stop */
	STEP_EMULATION_FAILURE, /* sel, 2 x u64 */
	STEP_NR
};

/* sel: bit 0 the VM, bits 1-2 the vCPU, the rest per step */
static struct fake_vm *vm_of(uint8_t sel)
{
	return &fakes[sel & 1];
}

static struct l0_vcpu *vcpu_of(uint8_t sel)
{
	struct l0_vm *vm = vm_of(sel)->vm;

	return &vm->vcpu[((sel >> 1) & 3) % vm->nr_vcpus];
}

static uint64_t gpa_of(uint32_t x)
{
	return (x & 0x80000000u) ? REGION1_GPA + (x & 0x7fffffffu) : x;
}

/* What a hypercall may write besides l0's structures: excuse those logs. */
static NO_COVERAGE void clobber(struct fake_vm *f, uint64_t gpa, uint64_t len)
{
	for (uint32_t id = 1; id <= OOH_MAX_SESSIONS; id++) {
		const struct l0_ooh_session *s = &f->vm->ooh->session[id];

		if (s->open && overlap(gpa, len, s->log_gpa, s->log_bytes))
			f->clobbered[id] = true;
	}
}

static void step_hypercall(struct input *in, uint8_t sel)
{
	struct fake_vm *f = vm_of(sel);
	struct l0_vcpu *vcpu = vcpu_of(sel);
	struct kvm_run *run = vcpu->run;
	struct ooh_hc_req req;
	uint16_t w;
	uint32_t value;
	uint64_t gpa;
	int32_t result = 0;
	uint8_t *block;

	if (!take(in, &w, sizeof(w)) || !take(in, &req, sizeof(req)))
		return;
	/* below 2 MiB (RAM ends at 256 KiB), or in the region at 4 GiB */
	value = (w & 0x8000) ? (uint32_t)(REGION1_GPA >> OOH_HC_ALIGN_SHIFT) + (w & 0x3ff) : w;
	gpa = (uint64_t)value << OOH_HC_ALIGN_SHIFT;
	block = l0_gpa_to_host(&f->vm->mem, gpa, sizeof(req));
	if (block) {
		for (uint32_t i = 0; i < sizeof(req); i++)
			if (!log_byte_masked(f, gpa + i))
				block[i] = ((uint8_t *)&req)[i];
		clobber(f, gpa, sizeof(req));
		memcpy(&req, block, sizeof(req));
		if (req.op == OOH_HC_STATS)
			clobber(f, req.arg[0], req.arg[1]);
	}
	run->exit_reason = KVM_EXIT_IO;
	run->io.port = OOH_HC_PORT;
	run->io.direction = (sel & 0x10) ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT;
	run->io.size = (sel & 0x08) ? 2 : 4;
	run->io.count = (sel & 0x20) ? 2 : 1;
	run->io.data_offset = 4096;
	memcpy((uint8_t *)run + run->io.data_offset, &value, sizeof(value));
	if (!l0_ooh_handle_io(vcpu))
		CHECK(run->io.direction == KVM_EXIT_IO_IN);
	/* a new session's header was just published: checked from now on */
	if (block && !(sel & 0x38) && req.op == OOH_HC_SESSION_OPEN) {
		const struct l0_ooh_session *s;

		memcpy(&result, block + offsetof(struct ooh_hc_req, result), sizeof(result));
		if (result > 0 && result <= (int32_t)OOH_MAX_SESSIONS) {
			s = &f->vm->ooh->session[result];
			f->clobbered[result] = overlap(gpa, sizeof(req), s->log_gpa, s->log_bytes);
		}
	}
}

/*
 * One guest store instruction (sel bit 3) of up to 64 bytes, or one store
 * per 8 bytes: KVM writes what goes to writable slots and logs it, and
 * hands l0 the pieces that go to read-only ones.
 */
static void step_write(struct input *in, uint8_t sel)
{
	struct fake_vm *f = vm_of(sel);
	struct l0_vcpu *vcpu = vcpu_of(sel);
	uint8_t len, data[MAX_WRITE];
	uint32_t x;
	uint64_t gpa;
	int n = 0;

	if (!take(in, &x, sizeof(x)) || !take(in, &len, 1))
		return;
	len = (uint8_t)(len % MAX_WRITE + 1);
	if (!take(in, data, len))
		return;
	gpa = gpa_of(x);
	if (!ram_range(gpa, len))
		return; /* not RAM: a device's, not ours */
	for (uint32_t off = 0; off < len;) {
		uint64_t a = gpa + off;
		uint32_t part = len - off < 8 ? len - off : 8;

		if ((a % PAGE) + part > PAGE)
			part = (uint32_t)(PAGE - a % PAGE);
		f->pending[n] = (struct piece){ .gpa = a, .len = part };
		memcpy(f->pending[n].data, data + off, part);
		n++;
		off += part;
	}
	f->other_exit = sel & 0x10;
	for (int i = 0; i < n;) {
		struct kvm_run *run = vcpu->run;
		int end = (sel & 0x08) ? n : i + 1;

		f->nr_pending = end;
		f->next_pending = i;
		while (f->next_pending < end && !slot_readonly(f, f->pending[f->next_pending].gpa))
			direct_write(f, vcpu->id, &f->pending[f->next_pending++], true);
		if (f->next_pending < end) {
			mmio_exit(run, &f->pending[f->next_pending++]);
			CHECK(l0_ooh_spp_mmio(vcpu) != 0);
			f->other_exit = false;
		}
		/* l0 asks for every piece of an instruction: only the last is short */
		CHECK(f->next_pending == end);
		i = end;
	}
	f->nr_pending = f->next_pending = 0;
}

static void step_host(uint8_t sel)
{
	struct l0_ooh *ooh = vm_of(sel)->vm->ooh;
	uint64_t dirty;

	switch ((sel >> 3) % 3) {
	case 0:
		(void)l0_ooh_host_start(ooh);
		break;
	case 1:
		if (l0_ooh_host_sample(ooh, &dirty) == 0)
			CHECK(dirty <= RAM_PAGES);
		break;
	default:
		l0_ooh_host_stop(ooh);
	}
}

static void step_emulation_failure(struct input *in, uint8_t sel)
{
	struct kvm_run *run = vcpu_of(sel)->run;
	uint64_t data[2];

	if (!take(in, data, sizeof(data)))
		return;
	run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = (sel & 0x08) ? KVM_INTERNAL_ERROR_SIMUL_EX : KVM_INTERNAL_ERROR_EMULATION;
	run->internal.ndata = (sel >> 4) % 3;
	memcpy(run->internal.data, data, sizeof(data));
	(void)l0_ooh_spp_internal_error(vcpu_of(sel));
}

static void step(struct input *in, uint8_t kind, uint8_t sel)
{
	switch (kind % STEP_NR) {
	case STEP_HYPERCALL:
		step_hypercall(in, sel);
		break;
	case STEP_WRITE:
		step_write(in, sel);
		break;
	case STEP_RING_FULL:
		l0_ooh_ring_full(vcpu_of(sel));
		break;
	case STEP_HOST:
		step_host(sel);
		break;
	default:
		step_emulation_failure(in, sel);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* l0 reads these at VM set-up: the defaults, whatever the caller's shell has */
	unsetenv("OOH_L0_DIRTY_RING_ENTRIES");
	unsetenv("OOH_L0_DIRTY_LOG");
	unsetenv("OOH_L0_SPP_MAX_SLOTS");
	for (int i = 0; i < NR_VMS; i++) {
		fakes[i].ram[0] = aligned_alloc(PAGE, REGION0);
		fakes[i].ram[1] = aligned_alloc(PAGE, REGION1);
		fakes[i].snap_ram = malloc(REGION0 + REGION1);
		CHECK(fakes[i].ram[0] && fakes[i].ram[1] && fakes[i].snap_ram);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	struct fake_vm *current = NULL;
	struct before before;
	uint8_t cfg[2], kind, sel;

	if (!take(&in, cfg, sizeof(cfg)))
		return 0;
	for (int i = 0; i < NR_VMS; i++)
		vm_create(&fakes[i], i, cfg);
	/*
	 * A run of steps on one VM must leave the other as it was: compared
	 * when the run ends (a copy of guest RAM per step would cost more than
	 * the step).
	 */
	while (take(&in, &kind, 1) && take(&in, &sel, 1)) {
		struct fake_vm *f = vm_of(sel), *other = &fakes[!(sel & 1)];

		if (f != current) {
			if (current)
				check_untouched(f);
			snapshot(other);
			current = f;
		}
		note_before(f, &before);
		step(&in, kind, sel);
		check_vm(f);
		check_delivery(f, &before);
	}
	if (current)
		check_untouched(&fakes[current == &fakes[0]]);
	for (int i = 0; i < NR_VMS; i++)
		vm_destroy(&fakes[i]);
	return 0;
}
