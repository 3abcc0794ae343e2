/* SPDX-License-Identifier: MIT */
/*
 * ooh-kvmstat's reports: copies of the BPF maps (snapshots), the difference
 * of two, and that difference printed as a table, JSON lines or CSV.
 */
#ifndef OOH_KVMSTAT_REPORT_H
#define OOH_KVMSTAT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One map: keys sorted bytewise, each value an array of u64 counters. */
struct table {
	size_t key_size, words, n;
	unsigned char *keys;
	uint64_t *vals;
};

enum { T_EXITS, T_VCPUS, T_UEXITS, T_OPS, T_SESSIONS, T_VIOLATIONS, NR_TABLES };

struct snapshot {
	struct table t[NR_TABLES];
};

enum report_format { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };

struct report_opts {
	enum report_format format;
	bool hist;
};

/*
 * fds of the maps, in table order, and of the map "threads" (thread_size:
 * its value size; -1: none), whose counters join the vcpus and uexits
 * tables; 0 or -errno.
 */
int snapshot_read(struct snapshot *s, const int fds[NR_TABLES], int threads_fd,
		  size_t thread_size);
/* out = cur - prev, counter by counter (keys new in cur count from 0). */
int snapshot_diff(struct snapshot *out, const struct snapshot *cur, const struct snapshot *prev);
void snapshot_free(struct snapshot *s);
bool snapshot_empty(const struct snapshot *s);

/* seq: report number; seconds: the time it covers; header once for CSV. */
void report_print(FILE *f, const struct snapshot *d, const struct report_opts *o,
		  unsigned seq, double seconds);

/* d's counters as OpenMetrics text (totals: give a snapshot, not a diff). */
void report_openmetrics(FILE *f, const struct snapshot *d);

#endif
