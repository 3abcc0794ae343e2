#!/bin/bash
# The installed tree (issue 24): make install PREFIX=/usr DESTDIR=$tmp, the
# files each Debian package takes from it present, then a program built out
# of the tree with nothing but pkg-config pointed into $tmp
# (PKG_CONFIG_SYSROOT_DIR, PKG_CONFIG_LIBDIR) and `pkg-config --cflags
# --libs libooh`, run against the installed libooh.so.1: it tracks its own
# writes with the mprotect backend (software, any Linux) and checks that the
# one page it wrote, and only that page, is reported dirty.
. "$(dirname "$0")/../harness/result.sh"
TOP=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/ooh-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

if ! out=$(make -s -C "$TOP" install PREFIX=/usr DESTDIR="$root" 2>&1); then
	ooh_fail install-make "make install PREFIX=/usr DESTDIR=$root: $(tail -3 <<<"$out" | tr '\n' ' ')"
	exit 1
fi
ooh_pass install-make "make install PREFIX=/usr DESTDIR=\$tmp"

# What debian/*.install take (dh_missing fails the package build on
# anything left over; here, on anything absent).
missing=
for f in usr/include/ooh.h usr/include/ooh_gc.h usr/include/ooh-guard.h \
	 usr/lib/libooh.so.1 usr/lib/libooh.so usr/lib/libooh.a usr/lib/pkgconfig/libooh.pc \
	 usr/lib/libooh-gc.so usr/lib/libooh-gc.a usr/lib/libooh-guard.so usr/lib/libooh-guard.a \
	 usr/share/man/man3/ooh_open.3 usr/share/man/man3/ooh_collect.3 usr/share/man/man1/ooh.1 \
	 usr/share/man/man7/ooh-guard.7 usr/share/man/man8/ooh-kvmstat.8 \
	 usr/bin/ooh usr/bin/ooh-wss usr/bin/ooh-ckpt usr/bin/ooh-vmwss usr/bin/ooh-l0 usr/bin/ooh-kvmstat; do
	[ -e "$root/$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
	ooh_fail install-files "missing under DESTDIR:$missing"
else
	ooh_pass install-files "headers, libraries, libooh.pc, man pages, programs"
fi

export PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_LIBDIR=$root/usr/lib/pkgconfig
unset PKG_CONFIG_PATH
if ! flags=$(pkg-config --cflags --libs libooh 2>&1); then
	ooh_fail install-pkgconfig "pkg-config --cflags --libs libooh: $flags"
	exit 1
fi
if ! grep -q -- "-I$root/usr/include" <<<"$flags" || ! grep -q -- "-L$root/usr/lib" <<<"$flags" ||
	! grep -q -- "-looh" <<<"$flags"; then
	ooh_fail install-pkgconfig "flags do not point into DESTDIR: $flags"
	exit 1
fi
ooh_pass install-pkgconfig "libooh $(pkg-config --modversion libooh): ${flags//$root/\$tmp}"

mkdir -p "$tmp/src"
cat >"$tmp/src/prog.c" <<'EOF'
#define _DEFAULT_SOURCE
#include <ooh.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct ooh_range r = { (uint64_t)(uintptr_t)p, 4 * (uint64_t)ps };
	struct ooh_open_opts o = { .size = sizeof(o), .backend = OOH_BACKEND_MPROTECT,
				   .flags = OOH_OPEN_START, .ranges = &r, .nr_ranges = 1 };
	struct ooh_collect_result res;
	uint64_t pages[8];
	ooh_tracker *t;
	int err;

	if (p == MAP_FAILED)
		return perror("mmap"), 1;
	if (ooh_version() != OOH_VERSION)
		return printf("library %#x, header %#x\n", ooh_version(), OOH_VERSION), 1;
	memset(p, 1, 4 * ps);
	if ((err = ooh_open(&o, &t)) < 0)
		return printf("ooh_open(mprotect): %s\n", ooh_strerror(err)), 1;
	p[2 * ps + 5] = 7;
	if ((err = ooh_collect(t, pages, 8, OOH_COLLECT_REARM, &res)) < 0)
		return printf("ooh_collect: %s\n", ooh_strerror(err)), 1;
	if (res.count != 1 || pages[0] != r.start + 2 * (uint64_t)ps || res.flags)
		return printf("dirty: %llu pages (flags %#x), first %#llx, want only %#llx\n",
			      (unsigned long long)res.count, res.flags,
			      res.count ? (unsigned long long)pages[0] : 0ULL,
			      (unsigned long long)(r.start + 2 * ps)), 1;
	ooh_close(t);
	printf("libooh %#x (%s): page 2 of 4 dirty, as written\n", ooh_version(),
	       ooh_backend_name(OOH_BACKEND_MPROTECT));
	return 0;
}
EOF
# shellcheck disable=SC2086  # pkg-config's flags are words
if ! out=$(cd "$tmp/src" && cc -std=c11 -Wall -Werror -o prog prog.c $flags 2>&1); then
	ooh_fail install-build "cc prog.c \$(pkg-config --cflags --libs libooh): $(head -3 <<<"$out" | tr '\n' ' ')"
	exit 1
fi
ooh_pass install-build "out of tree, with pkg-config's flags only"

lib=$(LD_LIBRARY_PATH=$root/usr/lib ldd "$tmp/src/prog" | awk '$1 == "libooh.so.1" { print $3 }')
if [ "$lib" != "$root/usr/lib/libooh.so.1" ]; then
	ooh_fail install-run "prog links libooh.so.1 from '${lib:-nowhere}', not DESTDIR's"
	exit 1
fi
if out=$(LD_LIBRARY_PATH=$root/usr/lib timeout 20 "$tmp/src/prog" 2>&1); then
	ooh_pass install-run "$out"
else
	ooh_fail install-run "$(tr '\n' ' ' <<<"$out")"
fi
