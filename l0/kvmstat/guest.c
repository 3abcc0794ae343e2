// SPDX-License-Identifier: MIT
/*
 * ooh.ko is built out of tree without BTF, so its records cannot be read
 * through CO-RE: the BPF side reads them at the offsets of struct
 * ooh_*_rec, and each is checked here against the running module's
 * format file first. A module whose layout differs is refused, not
 * misread.
 */
#include "guest.h"
#include "ooh-kvmstat.h"

#include <stdio.h>
#include <string.h>

const char *const guest_events[GUEST_NR_EVENTS] = {
	"ooh_session_start", "ooh_collect", "ooh_epml_switch", "ooh_spp_violation",
};

struct field {
	const char *event, *name;
	size_t offset, size;
};

#define F(ev, rec, name) { ev, #name, offsetof(struct rec, name), sizeof(((struct rec *)0)->name) }

static const struct field fields[] = {
	F("ooh_session_start", ooh_session_start_rec, log_bytes),
	F("ooh_session_start", ooh_session_start_rec, tracker),
	F("ooh_session_start", ooh_session_start_rec, target),
	F("ooh_session_start", ooh_session_start_rec, session),
	F("ooh_session_start", ooh_session_start_rec, mode),
	F("ooh_collect", ooh_collect_rec, count),
	F("ooh_collect", ooh_collect_rec, session),
	F("ooh_collect", ooh_collect_rec, ret),
	F("ooh_collect", ooh_collect_rec, flags),
	F("ooh_collect", ooh_collect_rec, hypercalls),
	F("ooh_epml_switch", ooh_epml_switch_rec, session),
	F("ooh_epml_switch", ooh_epml_switch_rec, in),
	F("ooh_spp_violation", ooh_spp_violation_rec, pid),
	F("ooh_spp_violation", ooh_spp_violation_rec, action),
};

/* Finds "field:TYPE NAME;\toffset:N;\tsize:M;" in a format file. */
static int field_in(FILE *f, const char *name, size_t *offset, size_t *size)
{
	char line[256], want[64];

	snprintf(want, sizeof(want), " %s;", name);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, want), *o;

		if (!strstr(line, "field:") || !p || !(o = strstr(p, "offset:")))
			continue;
		return sscanf(o, "offset:%zu;%*[ \t]size:%zu;", offset, size) == 2 ? 0 : -1;
	}
	return -1;
}

int guest_check_events(const char *tracing, char *msg, size_t len, int *missing)
{
	*missing = 0;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const struct field *fl = &fields[i];
		char path[512];
		size_t offset, size;
		FILE *f;

		snprintf(path, sizeof(path), "%s/events/ooh/%s/format", tracing, fl->event);
		f = fopen(path, "r");
		if (!f) {
			*missing = 1;
			snprintf(msg, len, "no ooh:%s tracepoint in %s/events: is ooh.ko loaded?",
				 fl->event, tracing);
			return -1;
		}
		if (field_in(f, fl->name, &offset, &size) || offset != fl->offset || size != fl->size) {
			fclose(f);
			snprintf(msg, len, "ooh:%s's field %s is not at offset %zu, size %zu: "
				 "an ooh.ko this ooh-kvmstat was not built for", fl->event, fl->name,
				 fl->offset, fl->size);
			return -1;
		}
		fclose(f);
	}
	return 0;
}
