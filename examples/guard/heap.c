/* SPDX-License-Identifier: MIT */
/*
 * ooh-guard's heap: where objects go, and what is protected when.
 *
 * One reserved address range (MAP_NORESERVE): small spans grow from its
 * bottom half, large runs from its top half; a page map names the run
 * that owns each page.  Metadata lives apart from the objects (arena below),
 * so an overflow that a guard does not stop cannot corrupt it either.
 *
 * Small objects (area up to 3968 bytes): a span of 16 pages cut into slots
 * of one class, stride = area + 128.  Right side: [area][guard] per slot,
 * the object ends at the guard (minus the alignment slack); left side:
 * [guard][area], the object starts after it.  Every page of a span holds a
 * guard, so the span is protected once, when it is made (one
 * ooh_spp_protect_pages); afterwards only vectors change
 * (ooh_spp_update: no system call on the software backend).  Free areas
 * hold a pattern; on the software backend a span's page gets it when its
 * first slot is handed out, so a span costs the pages in use.
 *
 * Large objects (and every sampled one): data pages plus one guard page
 * (vector 0), the object against it.  The data pages are not protected
 * while the object lives, so writes to it cost nothing on any backend.
 *
 * Free: the slack is checked, the object's sub-pages (its data pages, for
 * a large one) are write-protected and it joins the quarantine, a FIFO
 * bounded in bytes (quarantine_limit); leaving it, the area is refilled
 * with the pattern and becomes allocatable again.  Slots are handed out through per-thread
 * caches (no lock, no system call for a malloc that hits the cache).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard.h"

#define SPAN_PAGES 16
#define SPAN (SPAN_PAGES * PAGE)
#define TC_MAX 16
#define MAX_RUNS (1u << 24)
#define BUCKETS 512               /* large free lists by page count */

struct guard g = { .lock = PTHREAD_MUTEX_INITIALIZER, .backend = -1, .mem_fd = -1 };

/* A growable array of words, in memory of its own. */
struct vec {
	uintptr_t *v;
	size_t n, cap;
};

static int vec_push(struct vec *q, uintptr_t x)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 512;
		void *v = q->v ? mremap(q->v, q->cap * sizeof(*q->v), cap * sizeof(*q->v),
					MREMAP_MAYMOVE)
			       : mmap(NULL, cap * sizeof(*q->v), PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (v == MAP_FAILED)
			return -ENOMEM;
		q->v = v;
		q->cap = cap;
	}
	q->v[q->n++] = x;
	return 0;
}

static struct vec free_slots[NCLASS];  /* areas ready to be handed out */
static uint32_t large_free[BUCKETS];   /* run id + 1, by page count */
static uint32_t large_free_big;        /* more pages than BUCKETS - 1 */

/* The quarantine: a ring of (run id, slot) in FIFO order. */
static struct {
	uint64_t *v;
	size_t cap, head, n;
} quar;

static char *meta;
static size_t meta_used, meta_cap;

static __thread struct {
	uintptr_t v[NCLASS][TC_MAX];
	uint8_t n[NCLASS];
	bool keyed;
} tc __attribute__((tls_model("initial-exec")));
static pthread_key_t tc_key;

static unsigned char pattern_page[PAGE];
static const unsigned char zero_page[PAGE];

/* Metadata bump allocator (zeroed; never freed). Call with g.lock. */
static void *meta_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (meta_used + n > meta_cap)
		return NULL;
	void *p = meta + meta_used;
	meta_used += n;
	return p;
}

static inline size_t page_index(uintptr_t a)
{
	return (a - g.base) / PAGE;
}

static struct run *run_of(uintptr_t a, uint32_t *id)
{
	if (a < g.base || a >= g.end)
		return NULL;
	uint32_t r = atomic_load_explicit(&g.pagemap[page_index(a)], memory_order_acquire);
	if (!r)
		return NULL;
	if (id)
		*id = r - 1;
	return &g.runs[r - 1];
}

static inline unsigned area_of(unsigned cls)
{
	return (cls + 1) * SUB;
}

static uint32_t small_stride(unsigned cls)
{
	return area_of(cls) + SUB;
}

/* Start of slot i's area. */
static inline uintptr_t slot_area(const struct run *r, unsigned i)
{
	return r->start + (uintptr_t)i * small_stride(r->cls) + (g.cfg.left ? SUB : 0);
}

static inline uintptr_t round_up(uintptr_t x, uintptr_t a)
{
	return (x + a - 1) / a * a;
}

/* ---- writes the program's own protection would refuse ---- */

static int open_mem(void)
{
	int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -1;
	/* Far from the numbers a program uses, so that one closing its low
	 * descriptors leaves it alone; checked before each use anyway. */
	int hi = fcntl(fd, F_DUPFD_CLOEXEC, 700);
	close(fd);
	return hi;
}

static dev_t mem_dev;
static ino_t mem_ino;

static int open_mem_checked(void)
{
	struct stat st;
	int fd = open_mem();

	if (fd >= 0 && fstat(fd, &st) == 0) {
		mem_dev = st.st_dev;
		mem_ino = st.st_ino;
	}
	return fd;
}

/* Still our /proc/self/mem?  (The program may have closed it and opened
 * something else under the same number: its inode is this process's.) */
static bool mem_fd_ok(void)
{
	struct stat st;

	return g.mem_fd >= 0 && fstat(g.mem_fd, &st) == 0 && st.st_ino == mem_ino &&
	       st.st_dev == mem_dev;
}

/* Our /proc/self/mem, reopened if it is not ours any more (closed, and
 * maybe the number reused by the program: that number is left alone). */
static bool mem_fd_ready(void)
{
	if (!mem_fd_ok())
		g.mem_fd = open_mem_checked();
	return g.mem_fd >= 0;
}

/*
 * Write n bytes (src, or byte repeated when src is NULL) to dst in the
 * guarded heap.  The software backend keeps every page holding a guard
 * read-only: a plain store there faults and is single-stepped; a write
 * through /proc/self/mem (the kernel's FOLL_FORCE, as a debugger's) costs
 * one system call instead.  Under the ooh backend the target sub-pages are
 * writable (callers open them first) and stores just land.
 */
void heap_write(void *dst, const void *src, int byte, size_t n)
{
	if (!n)
		return;
	if (g.backend == OOH_SPP_BACKEND_MPROTECT) {
		size_t done = 0;
		bool ready = mem_fd_ready();
		while (ready && done < n) {
			const void *from = src ? (const char *)src + done
					       : byte == PATTERN ? (const void *)pattern_page : zero_page;
			size_t len = n - done;
			if (!src && len > PAGE)
				len = PAGE;
			ssize_t w = pwrite(g.mem_fd, from, len, (off_t)((uintptr_t)dst + done));
			if (w <= 0)
				break;
			done += (size_t)w;
		}
		if (done == n)
			return;
		dst = (char *)dst + done;
		src = src ? (const char *)src + done : NULL;
		n -= done;
	}
	/* Plain stores: permitted sub-pages (single-stepped if need be). */
	if (src)
		memmove(dst, src, n);
	else
		memset(dst, byte, n);
}

/* ---- vectors ---- */

/* The vector a small span's page j should have now. */
static uint32_t small_mask(const struct run *r, unsigned j)
{
	unsigned stride = small_stride(r->cls), area = area_of(r->cls);
	uint32_t m = 0;

	for (unsigned k = 0; k < OOH_SPP_SUBPAGES_PER_PAGE; k++) {
		size_t b = (size_t)j * PAGE + k * SUB;
		unsigned i = (unsigned)(b / stride), in = (unsigned)(b % stride);
		bool writable;

		if (i >= r->nslots)
			continue; /* the span's tail: nobody's */
		const struct slot *s = &r->slots[i];
		bool is_area = g.cfg.left ? in >= SUB : in < area;
		if (is_area)
			writable = atomic_load(&s->state) != SLOT_QUARANTINED ||
				   (s->reported & OPEN_AREA);
		else
			writable = s->reported & OPEN_GUARD;
		if (writable)
			m |= 1u << k;
	}
	return m;
}

static void say_degraded(const char *what, int err)
{
	if (!atomic_exchange(&g.degraded, true))
		guard_say("cannot protect %s (%s): objects allocated from now on are NOT guarded "
			  "(plain allocator)\n", what, ooh_strerror(err));
}

/* Apply the vectors of the pages slot i's area and guard touch (at most
 * two: a stride is at most a page).  Call with g.lock. */
static void small_sync(struct run *r, unsigned i)
{
	uintptr_t lo = slot_area(r, i) - (g.cfg.left ? SUB : 0);
	uintptr_t hi = lo + small_stride(r->cls);
	unsigned j0 = (unsigned)((lo - r->start) / PAGE), n = 0;
	uint32_t m[2];
	bool same = true;

	for (unsigned j = j0; j <= (hi - 1 - r->start) / PAGE && n < 2; j++, n++) {
		m[n] = small_mask(r, j);
		same = same && m[n] == r->masks[j];
	}
	if (same)
		return;
	bool all = false;
	for (unsigned k = 0; k < n; k++)
		all = all || m[k] == OOH_SPP_ALL_WRITABLE;
	void *at = (void *)(r->start + (uintptr_t)j0 * PAGE);
	guard_busy++;
	/* Report mode can open a page's only guard: that page is released,
	 * and protected again the slow way later. */
	int err = all ? -ENOENT : ooh_spp_update(g.spp, at, m, n);
	if (err == -ENOENT)
		err = ooh_spp_protect_pages(g.spp, at, m, n);
	guard_busy--;
	if (err) {
		say_degraded("a freed object", err);
		return;
	}
	for (unsigned k = 0; k < n; k++)
		r->masks[j0 + k] = m[k];
}

/* ---- runs ---- */

static struct run *new_run(uint32_t *id)
{
	if (g.nruns == MAX_RUNS)
		return NULL;
	*id = g.nruns++;
	return &g.runs[*id];
}

static void map_run(uint32_t id, uintptr_t start, size_t npages)
{
	for (size_t k = 0; k < npages; k++)
		atomic_store_explicit(&g.pagemap[page_index(start) + k], id + 1,
				      memory_order_release);
}

/* A new span for class cls: its areas join the central free list.  Call
 * with g.lock.  0, or -errno (degraded: protection failed). */
static int carve_span(unsigned cls)
{
	uint32_t id;
	struct run *r;

	if (g.small_next + SPAN > g.small_end || !(r = new_run(&id))) {
		say_degraded("more small objects", -ENOMEM);
		return -ENOMEM;
	}
	r->start = g.small_next;
	r->npages = SPAN_PAGES;
	r->cls = (uint8_t)cls;
	r->nslots = (uint16_t)(SPAN / small_stride(cls));
	r->masks = meta_alloc(SPAN_PAGES * sizeof(*r->masks));
	r->slots = meta_alloc(r->nslots * sizeof(*r->slots));
	if (!r->masks || !r->slots) {
		g.nruns--;
		return -ENOMEM;
	}
	/* Free areas hold the pattern.  On the software backend a page gets
	 * it when its first slot is handed out (span_fill): a class with few
	 * objects costs the pages it uses, not a whole span.  Elsewhere
	 * protection pins every page of the span anyway: fill it now. */
	if (g.backend != OOH_SPP_BACKEND_MPROTECT)
		memset((void *)r->start, PATTERN, SPAN);
	r->filled = g.backend != OOH_SPP_BACKEND_MPROTECT ? UINT16_MAX : 0;
	for (unsigned j = 0; j < SPAN_PAGES; j++)
		r->masks[j] = small_mask(r, j);
	guard_busy++;
	int err = ooh_spp_protect_pages(g.spp, (void *)r->start, r->masks, SPAN_PAGES);
	guard_busy--;
	if (err) {
		g.nruns--;
		say_degraded("a new span", err);
		return err;
	}
	g.small_next += SPAN;
	map_run(id, r->start, SPAN_PAGES);
	for (unsigned i = r->nslots; i-- > 0;)
		if (vec_push(&free_slots[cls], slot_area(r, i)))
			return -ENOMEM;
	return 0;
}

/* The pages under the area at a get the pattern if they have not yet
 * (software backend: they are read-only already).  A page at a time
 * through /proc/self/mem; without it, area by area (plain stores, single-
 * stepped: the guards between them must not be written).  g.lock. */
static void span_fill(uintptr_t a)
{
	struct run *r = run_of(a, NULL);
	unsigned area = area_of(r->cls), stride = small_stride(r->cls);
	unsigned j0 = (unsigned)((a - r->start) / PAGE);
	unsigned j1 = (unsigned)((a + area - 1 - r->start) / PAGE);

	for (unsigned j = j0; j <= j1; j++) {
		uintptr_t lo = r->start + (uintptr_t)j * PAGE, hi = lo + PAGE;

		if (r->filled & (1u << j))
			continue;
		r->filled |= (uint16_t)(1u << j);
		if (mem_fd_ready()) {
			heap_write((void *)lo, NULL, PATTERN, PAGE);
			continue;
		}
		for (unsigned i = (unsigned)((lo - r->start) / stride);
		     i < r->nslots && slot_area(r, i) < hi; i++) {
			uintptr_t from = slot_area(r, i) > lo ? slot_area(r, i) : lo;
			uintptr_t to = slot_area(r, i) + area < hi ? slot_area(r, i) + area : hi;
			if (from < to)
				heap_write((void *)from, NULL, PATTERN, to - from);
		}
	}
}

static void tc_flush(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&g.lock);
	for (unsigned c = 0; c < NCLASS; c++)
		while (tc.n[c])
			vec_push(&free_slots[c], tc.v[c][--tc.n[c]]);
	pthread_mutex_unlock(&g.lock);
}

/* An area of class cls for this thread; 0 with errno set when none. */
static uintptr_t take_area(unsigned cls)
{
	if (tc.n[cls])
		return tc.v[cls][--tc.n[cls]];
	if (!tc.keyed) {
		tc.keyed = true;
		pthread_setspecific(tc_key, (void *)1);
	}
	pthread_mutex_lock(&g.lock);
	int err = 0;
	if (!free_slots[cls].n)
		err = carve_span(cls);
	/* Two pages' worth at most: a thread does not sit on (filled) pages
	 * of a large class it may not use again. */
	unsigned want = 2 * PAGE / small_stride(cls);
	want = want < 1 ? 1 : want > TC_MAX / 2 ? TC_MAX / 2 : want;
	while (!err && free_slots[cls].n && tc.n[cls] < want) {
		uintptr_t a = free_slots[cls].v[--free_slots[cls].n];
		span_fill(a);
		tc.v[cls][tc.n[cls]++] = a;
	}
	pthread_mutex_unlock(&g.lock);
	if (!tc.n[cls]) {
		errno = EAGAIN; /* said once (degraded): the caller goes plain */
		return 0;
	}
	return tc.v[cls][--tc.n[cls]];
}

/* The process's mappings now (lines of /proc/self/maps; no malloc). */
static unsigned long count_mappings(void)
{
	char buf[8192];
	unsigned long n = 0;
	ssize_t got;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((got = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got; i++)
			n += buf[i] == '\n';
	close(fd);
	return n;
}

/* A large run of npages (guard included) whose object can be aligned to
 * align.  Call with g.lock.  NULL with errno. */
static struct run *take_large(size_t npages, size_t align, uint32_t *id)
{
	uint32_t *head = npages < BUCKETS ? &large_free[npages] : &large_free_big;

	for (uint32_t *p = head; *p; p = &g.runs[*p - 1].next_free) {
		struct run *r = &g.runs[*p - 1];
		uintptr_t data_end = r->area + (npages - 1) * PAGE;
		if (r->npages != npages || (g.cfg.left ? r->area : data_end) % align)
			continue;
		*id = *p - 1;
		*p = r->next_free;
		r->next_free = 0;
		return r;
	}
	/* Software backend: each run is two VMAs (its pages, its read-only
	 * guard page); keep a share of vm.max_map_count for everything else
	 * (spans, libooh's tables, a window's split, the program's own
	 * mappings, which are counted every 512 runs). */
	if (g.backend == OOH_SPP_BACKEND_MPROTECT && g.large_carved % 512 == 0 &&
	    g.large_carved < g.large_cap && count_mappings() + 4096 > g.map_max)
		g.large_cap = g.large_carved;
	if (g.large_carved >= g.large_cap) {
		static bool said;
		if (!said)
			guard_say("%u objects with pages of their own use %u of vm.max_map_count's "
				  "mappings: larger objects beyond those are NOT guarded (plain "
				  "allocator) until some are freed\n", g.large_carved, 2 * g.large_cap);
		said = true;
		errno = EAGAIN;
		return NULL;
	}
	/* Carve: the aligned edge is the one the object touches. */
	uintptr_t start, area, guard;
	size_t data = (npages - 1) * PAGE;
	if (g.cfg.left) {
		area = round_up(g.large_next + PAGE, align > PAGE ? align : PAGE);
		guard = area - PAGE;
		start = guard;
	} else {
		uintptr_t data_end = round_up(g.large_next + data, align > PAGE ? align : PAGE);
		area = data_end - data;
		guard = data_end;
		start = area;
	}
	struct run *r = NULL;
	if (start + npages * PAGE > g.end || start + npages * PAGE < start || !(r = new_run(id))) {
		say_degraded("more large objects", -ENOMEM);
		errno = EAGAIN;
		return NULL;
	}
	guard_busy++;
	int err = ooh_spp_protect(g.spp, (void *)guard, PAGE, 0);
	guard_busy--;
	if (err) {
		/* Out of VMAs (software backend: a guard page splits the
		 * mapping) or of protected pages: objects with pages of their
		 * own go plain from now on; small ones are still guarded. */
		g.nruns--;
		if (!g.large_failed)
			guard_say("cannot protect a guard page (%s): objects with pages of their own "
				  "(%zu bytes and up, and sampled ones) are NOT guarded from now on "
				  "(plain allocator); smaller ones still are\n", ooh_strerror(err),
				  g.cfg.page_min < SMALL_MAX_AREA ? g.cfg.page_min : SMALL_MAX_AREA + 1);
		g.large_failed = true;
		errno = EAGAIN;
		return NULL;
	}
	g.large_next = start + npages * PAGE;
	g.large_carved++;
	r->start = start;
	r->npages = (uint32_t)npages;
	r->cls = LARGE_CLASS;
	r->nslots = 1;
	r->area = area;
	r->slots = meta_alloc(sizeof(*r->slots));
	if (!r->slots) {
		say_degraded("more large objects", -ENOMEM);
		errno = EAGAIN;
		return NULL;
	}
	map_run(*id, start, npages);
	return r;
}

/* ---- allocation ---- */

static uintptr_t place(uintptr_t area, size_t area_len, size_t size, size_t align)
{
	if (g.cfg.left)
		return area;
	return (area + area_len - size) & ~(uintptr_t)(align - 1);
}

void *heap_alloc(size_t size, size_t align, bool zero, uintptr_t caller)
{
	size_t al = align > g.cfg.align ? align : g.cfg.align;
	size_t need = round_up(size, al);
	struct slot *s;
	uintptr_t obj;
	bool sampled = g.cfg.sample > 1;

	if (need < size) {
		errno = ENOMEM;
		return NULL;
	}
	/* Beyond the heap's address space: that object alone goes to glibc
	 * (which refuses what cannot exist); a full heap instead degrades. */
	if (size > (g.end - g.small_end) / 2 || al > (g.end - g.small_end) / 4) {
		errno = E2BIG;
		return NULL;
	}
	if (!sampled && al <= SUB && need <= SMALL_MAX_AREA && size < g.cfg.page_min &&
	    !guard_page_own) {
		unsigned cls = need ? (unsigned)((need - 1) / SUB) : 0;
		uintptr_t area = take_area(cls);
		if (!area)
			return NULL;
		struct run *r = run_of(area, NULL);
		unsigned i = (unsigned)((area - r->start) / small_stride(cls));
		obj = place(area, area_of(cls), size, al);
		s = &r->slots[i];
		s->off = (uint16_t)(obj - area);
	} else {
		if (g.large_failed) {
			errno = EAGAIN;
			return NULL;
		}
		size_t data = round_up(need, PAGE);
		if (!data)
			data = PAGE;
		uint32_t id;
		pthread_mutex_lock(&g.lock);
		struct run *r = take_large(data / PAGE + 1, al, &id);
		if (r && sampled)
			g.sampled_live++;
		pthread_mutex_unlock(&g.lock);
		if (!r)
			return NULL;
		obj = place(r->area, data, size, al);
		r->size = size;
		r->obj = obj;
		r->sampled = sampled;
		s = &r->slots[0];
		s->off = 0;
		/* Slack after the object, up to the data's end (right: < al). */
		memset((void *)(obj + size), PATTERN, r->area + data - obj - size);
		zero = false; /* fresh or MADV_DONTNEED'ed pages read zero */
	}
	s->size = (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size);
	s->reported = 0;
	s->free_stack = 0;
	s->alloc_stack = stack_capture(caller);
	atomic_store_explicit(&s->state, SLOT_LIVE, memory_order_release);
	if (zero)
		heap_write((void *)obj, NULL, 0, size);
	atomic_fetch_add(&g.guarded_allocs, 1);
	atomic_fetch_add(&g.live_objects, 1);
	atomic_fetch_add(&g.live_bytes, size);
	return (void *)obj;
}

/* Object start and size of a run's slot i (live or not). */
static void object_of(const struct run *r, unsigned i, uintptr_t *obj, size_t *size)
{
	if (r->cls == LARGE_CLASS) {
		*obj = r->obj;
		*size = r->size;
	} else {
		*obj = slot_area(r, i) + r->slots[i].off;
		*size = r->slots[i].size;
	}
}

/* The slot of a run that p falls in (small: by stride; large: 0). */
static unsigned slot_index(const struct run *r, uintptr_t p)
{
	if (r->cls == LARGE_CLASS)
		return 0;
	unsigned i = (unsigned)((p - r->start) / small_stride(r->cls));
	return i < r->nslots ? i : r->nslots - 1u;
}

bool heap_owns(const void *p)
{
	return (uintptr_t)p >= g.base && (uintptr_t)p < g.end;
}

size_t heap_size(const void *p)
{
	uintptr_t a = (uintptr_t)p, obj;
	size_t size;
	struct run *r = run_of(a, NULL);

	if (!r)
		return SIZE_MAX;
	unsigned i = slot_index(r, a);
	object_of(r, i, &obj, &size);
	if (obj != a || atomic_load(&r->slots[i].state) != SLOT_LIVE)
		return SIZE_MAX;
	return size;
}

size_t heap_small_room(uintptr_t a, uintptr_t *objp, size_t *sizep)
{
	uintptr_t obj;
	size_t size;
	struct run *r = run_of(a, NULL);

	if (!r || r->cls == LARGE_CLASS)
		return SIZE_MAX;
	unsigned i = slot_index(r, a);
	object_of(r, i, &obj, &size);
	*objp = obj;
	*sizep = size;
	if (atomic_load(&r->slots[i].state) != SLOT_LIVE || a < obj || a > obj + size)
		return 0;
	return obj + size - a;
}

/*
 * What the kernel would write to p (a small object, read-only on the
 * software backend: a system call writing there fails with EFAULT), done
 * by us instead, and checked as the guard would have: bytes past the
 * object are an overflow.  0, or -1 when it was reported (abort mode does
 * not come back).
 */
int heap_kernel_write(void *p, const void *src, size_t n)
{
	uintptr_t obj;
	size_t size, room = heap_small_room((uintptr_t)p, &obj, &size);

	if (room < n) {
		uint32_t id;
		struct run *r = run_of((uintptr_t)p, &id);
		struct slot *s = &r->slots[slot_index(r, (uintptr_t)p)];
		bool live = atomic_load(&s->state) == SLOT_LIVE;
		report(live ? K_OVERFLOW : K_WRITE_AFTER_FREE, (uintptr_t)p + room, obj, size,
		       s, NULL);
		/* report mode: let it through, as for a store */
		pthread_mutex_lock(&g.lock);
		s->reported |= OPEN_GUARD | OPEN_AREA;
		small_sync(r, slot_index(r, (uintptr_t)p));
		pthread_mutex_unlock(&g.lock);
	}
	heap_write(p, src, 0, n);
	return room < n ? -1 : 0;
}

/* First byte around the object, inside its area, that lost the pattern:
 * 0 when intact. */
static uintptr_t slack_damage(const struct run *r, unsigned i, bool tail_only)
{
	uintptr_t obj, lo, hi;
	size_t size;

	object_of(r, i, &obj, &size);
	if (r->cls == LARGE_CLASS) {
		lo = obj; /* the data before a large object is never written by us */
		hi = r->area + (r->npages - 1) * PAGE;
	} else {
		lo = tail_only ? obj : slot_area(r, i);
		hi = slot_area(r, i) + area_of(r->cls);
	}
	for (const volatile unsigned char *b = (const void *)lo; (uintptr_t)b < obj; b++)
		if (*b != PATTERN)
			return (uintptr_t)b;
	for (const volatile unsigned char *b = (const void *)(obj + size); (uintptr_t)b < hi; b++)
		if (*b != PATTERN)
			return (uintptr_t)b;
	return 0;
}

/* Back to allocatable: drop the protection, refill.  Call with g.lock. */
static void evict(uint32_t id, unsigned i)
{
	struct run *r = &g.runs[id];
	struct slot *s = &r->slots[i];

	if (r->cls == LARGE_CLASS) {
		size_t data = (size_t)(r->npages - 1) * PAGE;
		guard_busy++;
		ooh_spp_release(g.spp, (void *)r->area, data);
		if (s->reported & OPEN_GUARD)
			ooh_spp_protect(g.spp, (void *)(g.cfg.left ? r->start : r->area + data),
					PAGE, 0);
		guard_busy--;
		/* (again, if done at free: cheap on empty pages) the next
		 * object here, calloc's included, must read zero */
		madvise((void *)r->area, data, MADV_DONTNEED);
		s->reported = 0;
		atomic_store(&s->state, SLOT_FREE);
		uint32_t *head = r->npages < BUCKETS ? &large_free[r->npages] : &large_free_big;
		r->next_free = *head;
		*head = id + 1;
		return;
	}
	s->reported = 0;
	atomic_store(&s->state, SLOT_FREE);
	small_sync(r, i);
	heap_write((void *)slot_area(r, i), NULL, PATTERN, area_of(r->cls));
	vec_push(&free_slots[r->cls], slot_area(r, i));
}

static size_t entry_bytes(uint64_t e)
{
	const struct run *r = &g.runs[e >> 16];

	return r->cls == LARGE_CLASS ? (size_t)(r->npages - 1) * PAGE : area_of(r->cls);
}

/*
 * How many bytes of freed objects the quarantine keeps.  Set by the user,
 * that; else, on the software backend, an eighth of the live objects'
 * bytes, between 1 MiB and 16 MiB: a small freed object holds its slot
 * (area and guard, sub-pages cannot be given back), so a fixed 16 MiB would
 * double the memory of a program with a small heap, while an eighth adds
 * little to the 128-byte granularity.  On ooh: 1 MiB, as quarantined large
 * objects pin protected pages, which ooh.ko counts against the user.
 */
static size_t quarantine_limit(void)
{
	size_t q = atomic_load(&g.live_bytes) / 8;

	if (g.cfg.quarantine != SIZE_MAX)
		return g.cfg.quarantine;
	if (g.backend == OOH_SPP_BACKEND_OOH)
		return (size_t)1 << 20;
	return q < ((size_t)1 << 20) ? (size_t)1 << 20 : q > ((size_t)16 << 20) ? (size_t)16 << 20 : q;
}

/* Quarantine slot i of run id (protected already), then evict the oldest
 * entries while over the limit.  Call with g.lock. */
static void quarantine(uint32_t id, unsigned i)
{
	uint64_t e = ((uint64_t)id << 16) | i;

	if (quar.n == quar.cap) {
		size_t cap = quar.cap ? quar.cap * 2 : 4096;
		uint64_t *v = mmap(NULL, cap * sizeof(*v), PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (v == MAP_FAILED) {
			evict(id, i); /* no room to remember it: reuse at once */
			return;
		}
		for (size_t k = 0; k < quar.n; k++)
			v[k] = quar.v[(quar.head + k) % quar.cap];
		if (quar.v)
			munmap(quar.v, quar.cap * sizeof(*v));
		quar.v = v;
		quar.cap = cap;
		quar.head = 0;
	}
	quar.v[(quar.head + quar.n) % quar.cap] = e;
	quar.n++;
	g.quarantined_bytes += entry_bytes(e);
	size_t limit = quarantine_limit();
	while (quar.n && g.quarantined_bytes > limit) {
		uint64_t old = quar.v[quar.head];
		quar.head = (quar.head + 1) % quar.cap;
		quar.n--;
		g.quarantined_bytes -= entry_bytes(old);
		evict((uint32_t)(old >> 16), old & 0xffff);
	}
}

int heap_free(void *p, uintptr_t caller)
{
	uintptr_t a = (uintptr_t)p, obj;
	size_t size;
	uint32_t id;
	struct run *r = run_of(a, &id);

	if (!r) {
		if (!heap_owns(p))
			return 0;
		report(K_INVALID_FREE, a, 0, 0, NULL, "not a heap object");
		return 1;
	}
	unsigned i = slot_index(r, a);
	struct slot *s = &r->slots[i];
	object_of(r, i, &obj, &size);
	int st = atomic_load(&s->state);
	if (st != SLOT_LIVE || obj != a) {
		if (obj == a && s->free_stack)
			report(K_DOUBLE_FREE, a, obj, size, s, NULL);
		else if (st == SLOT_LIVE)
			report(K_INVALID_FREE, a, obj, size, s, NULL);
		else
			report(K_INVALID_FREE, a, 0, 0, NULL, NULL);
		return 1;
	}
	s->free_stack = stack_capture(caller);
	uintptr_t bad = slack_damage(r, i, false);
	if (bad)
		report(K_SLACK, bad, obj, size, s, "seen at free");
	atomic_fetch_sub(&g.live_objects, 1);
	atomic_fetch_sub(&g.live_bytes, size);
	pthread_mutex_lock(&g.lock);
	atomic_store(&s->state, SLOT_QUARANTINED);
	if (r->cls != LARGE_CLASS) {
		small_sync(r, i);
		quarantine(id, i);
	} else {
		size_t data = (size_t)(r->npages - 1) * PAGE;
		int err = 0;
		if (r->sampled)
			g.sampled_live--;
		if (g.cfg.quarantine) {
			guard_busy++;
			err = ooh_spp_protect(g.spp, (void *)r->area, data, 0);
			guard_busy--;
		}
		if (err) {
			/* Out of protection (VMAs, SPP pages): not quarantined. */
			static bool said;
			if (!said)
				guard_say("cannot write-protect freed memory (%s): large objects "
					  "are reused without quarantine\n", ooh_strerror(err));
			said = true;
		}
		if (err || !g.cfg.quarantine) {
			evict(id, 0);
		} else {
			/* Software backend: the contents of a quarantined object
			 * are not needed (a write faults whatever the page holds,
			 * a read sees zeros), so its memory goes back now.  Not on
			 * ooh: its pages are pinned, and a new page would not be. */
			if (g.backend == OOH_SPP_BACKEND_MPROTECT)
				madvise((void *)r->area, data, MADV_DONTNEED);
			quarantine(id, 0);
		}
	}
	pthread_mutex_unlock(&g.lock);
	return 1;
}

/* ---- violations (from the SIGSEGV handler) ---- */

/* Let the reported write through: open the sub-pages it hit.  g.lock. */
static void open_for(struct run *r, unsigned i, bool guard)
{
	struct slot *s = &r->slots[i];

	s->reported |= guard ? OPEN_GUARD : OPEN_AREA;
	guard_busy++;
	if (r->cls == LARGE_CLASS) {
		size_t data = (size_t)(r->npages - 1) * PAGE;
		if (guard)
			ooh_spp_release(g.spp, (void *)(g.cfg.left ? r->start : r->area + data),
					PAGE);
		else
			ooh_spp_release(g.spp, (void *)r->area, data);
	} else {
		small_sync(r, i);
	}
	guard_busy--;
}

int heap_violation(uintptr_t addr)
{
	uintptr_t obj;
	size_t size;
	struct run *r = run_of(addr, NULL);
	enum guard_kind kind;
	unsigned i, owner;
	bool guard;

	if (!r)
		return 0;
	if (r->cls == LARGE_CLASS) {
		i = owner = 0;
		guard = addr < r->area || addr >= r->area + (r->npages - 1) * PAGE;
		object_of(r, 0, &obj, &size);
		if (atomic_load(&r->slots[0].state) == SLOT_QUARANTINED)
			kind = K_WRITE_AFTER_FREE;
		else
			kind = g.cfg.left ? K_UNDERFLOW : K_OVERFLOW;
	} else {
		unsigned stride = small_stride(r->cls);
		size_t b = addr - r->start, in = b % stride;
		i = (unsigned)(b / stride);
		if (i >= r->nslots)
			i = r->nslots - 1u;
		guard = g.cfg.left ? in < SUB : in >= area_of(r->cls);
		owner = i;
		if (!guard) {
			kind = K_WRITE_AFTER_FREE;
		} else if (!g.cfg.left) {
			/* The guard ends slot i and starts slot i + 1: blame
			 * whichever is live, i first (an overflow). */
			kind = K_OVERFLOW;
			if (atomic_load(&r->slots[i].state) != SLOT_LIVE && i + 1 < r->nslots &&
			    atomic_load(&r->slots[i + 1].state) == SLOT_LIVE) {
				i = i + 1;
				kind = K_UNDERFLOW;
			}
		} else {
			kind = K_UNDERFLOW;
			if (atomic_load(&r->slots[i].state) != SLOT_LIVE && i > 0 &&
			    atomic_load(&r->slots[i - 1].state) == SLOT_LIVE) {
				i = i - 1;
				kind = K_OVERFLOW;
			}
		}
		object_of(r, i, &obj, &size);
		if (kind != K_WRITE_AFTER_FREE &&
		    atomic_load(&r->slots[i].state) == SLOT_QUARANTINED)
			kind = K_WRITE_AFTER_FREE;
	}
	struct slot *s = &r->slots[i];
	int st = atomic_load(&s->state);
	report(kind, addr, st == SLOT_FREE ? 0 : obj, st == SLOT_FREE ? 0 : size,
	       st == SLOT_FREE ? NULL : s, NULL);
	/* Report mode: let it (and what follows) through. */
	pthread_mutex_lock(&g.lock);
	open_for(r, owner, guard);
	pthread_mutex_unlock(&g.lock);
	return 1;
}

/*
 * The software backend could not open a page for a permitted write: out
 * of mappings (vm.max_map_count; the program's own mappings count too).
 * Free large runs give theirs back: the guard page is released (it merges
 * with the writable pages around it, two mappings fewer) and the run is
 * forgotten; no more runs are made.  Returns how many were given back.
 */
int heap_shed_mappings(void)
{
	int n = 0;

	if (pthread_mutex_trylock(&g.lock))
		return 0; /* this thread may hold it: no waiting in a handler */
	g.large_cap = g.large_carved;
	for (unsigned b = 0; b <= BUCKETS && n < 64; b++) {
		uint32_t *head = b < BUCKETS ? &large_free[b] : &large_free_big;
		while (*head && n < 64) {
			struct run *r = &g.runs[*head - 1];
			size_t data = (size_t)(r->npages - 1) * PAGE;
			*head = r->next_free;
			guard_busy++;
			ooh_spp_release(g.spp, (void *)(g.cfg.left ? r->start : r->area + data), PAGE);
			guard_busy--;
			for (size_t k = 0; k < r->npages; k++)
				atomic_store(&g.pagemap[page_index(r->start) + k], 0);
			g.large_carved--;
			n++;
		}
	}
	pthread_mutex_unlock(&g.lock);
	return n;
}

/* ---- exit, checks ---- */

int heap_check_all(bool at_exit)
{
	int bad = 0;

	for (uint32_t id = 0; id < g.nruns; id++) {
		struct run *r = &g.runs[id];
		for (unsigned i = 0; i < r->nslots; i++) {
			struct slot *s = &r->slots[i];
			uintptr_t obj, at;
			size_t size;

			if (!s || atomic_load(&s->state) != SLOT_LIVE)
				continue;
			at = slack_damage(r, i, at_exit);
			if (!at || (s->reported & KIND_BIT(K_SLACK)))
				continue;
			object_of(r, i, &obj, &size);
			report(K_SLACK, at, obj, size, s, at_exit ? "seen at exit" : "seen by a check");
			bad++;
		}
	}
	return bad;
}

/* ---- set-up, fork ---- */

static void *reserve(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int heap_init(void)
{
	size_t len = (size_t)64 << 30;
	void *base = NULL;

	memset(pattern_page, PATTERN, sizeof(pattern_page));
	/* Less address space when the system will not give 64 GiB. */
	while (len >= ((size_t)1 << 30) && !(base = reserve(len)))
		len /= 4;
	if (!base)
		return -ENOMEM;
	madvise(base, len, MADV_NOHUGEPAGE);
	g.base = (uintptr_t)base;
	g.end = g.base + len;
	g.small_next = g.base;
	g.small_end = g.base + len / 2;
	g.large_next = g.small_end;
	g.pagemap = reserve(len / PAGE * sizeof(*g.pagemap));
	g.runs = reserve((size_t)MAX_RUNS * sizeof(*g.runs));
	meta_cap = (size_t)4 << 30;
	meta = reserve(meta_cap);
	if (!g.pagemap || !g.runs || !meta)
		return -ENOMEM;
	if (pthread_key_create(&tc_key, tc_flush))
		return -EAGAIN;
	g.large_cap = UINT32_MAX;
	return 0;
}

/* The backend is known: on the software one, large runs may take half of
 * what vm.max_map_count leaves after a reserve of 8192 mappings. */
void heap_set_limits(void)
{
	FILE *f;
	unsigned long max = 65530;

	if (g.backend != OOH_SPP_BACKEND_MPROTECT)
		return;
	f = fopen("/proc/sys/vm/max_map_count", "re");
	if (f) {
		if (fscanf(f, "%lu", &max) != 1)
			max = 65530;
		fclose(f);
	}
	g.map_max = max;
	g.large_cap = max > 16384 ? (uint32_t)((max - 8192) / 2) : 4096;
}

void heap_fork_prepare(void)
{
	pthread_mutex_lock(&g.lock);
}

void heap_fork_parent(void)
{
	pthread_mutex_unlock(&g.lock);
}

void heap_fork_child(void)
{
	pthread_mutex_unlock(&g.lock);
	/* The inherited descriptor is the parent's memory. */
	if (g.mem_fd >= 0) {
		close(g.mem_fd);
		g.mem_fd = open_mem_checked();
	}
}

int heap_open_mem(void)
{
	g.mem_fd = open_mem_checked();
	return g.mem_fd;
}
