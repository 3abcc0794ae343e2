/* SPDX-License-Identifier: MIT */
/*
 * The working-set estimator: PRL-style plateau detection over a series of
 * per-interval page counts (the pages written, or referenced, in each
 * interval). One algorithm with two uses, both compiled from
 * wss-estimator.c:
 *
 *  - online: wss_estimator_add() one interval at a time, as it is
 *    measured; ooh-vmwss (vmwss/) and ooh-wss's per-interval "stable"
 *    flags;
 *  - offline: wss_find_plateaus() over a recorded series; ooh-wss
 *    (examples/wss/) at the end of a run. It is the online estimator fed
 *    the whole series, so both find the same plateaus, and the online use
 *    reports each at the interval the offline list says it was found.
 *
 * The algorithm, with W = window, T = tolerance, S = slack:
 *
 *  - an interval agrees with a level L when it is within
 *    max(T * L, S) pages of it (a band of width 0 agrees with nothing);
 *  - a plateau starts at the W-th of W consecutive intervals, all after
 *    the previous plateau's last interval, that agree with their median;
 *    that median is the plateau's level, fixed from then on;
 *  - it lasts while the median of the last W intervals agrees with the
 *    level, and spans from its first interval to the last interval that
 *    agreed; the intervals after that one may start the next plateau.
 *
 * Median, not mean: one outlier interval (a burst of writes, a sample
 * taken late) pulls a mean of 3 or 4 intervals a third or a quarter of
 * its excess towards it, enough to shift the level or end a plateau that
 * is still there; it cannot move the median past its neighbours. So with
 * W >= 3 a single outlier ends no plateau, while a new level that lasts
 * ends it after about W / 2 intervals. Starting takes W intervals that all
 * agree, ending takes their median to leave the band: a plateau is hard
 * to enter and hard to leave, so noise around a level does not flicker.
 */
#ifndef OOH_WSS_ESTIMATOR_H
#define OOH_WSS_ESTIMATOR_H

#include <math.h>
#include <stdbool.h>

/*
 * The slack both tools use (256 KiB, ooh-wss's floor from the start): a
 * set of a few dozen pages varies by many percent between intervals (a
 * process that only reads still dirties some stack; an idle VM's kernel
 * dirties ~90 pages per interval), and that is noise, not a new phase.
 */
#define WSS_SLACK_PAGES 64.0

/*
 * An interval whose count is unknown (libooh reported OOH_RESULT_OVERFLOW:
 * precision lost). It agrees with no level: it cannot help start a
 * plateau and, alone, ends none.
 */
#define WSS_UNKNOWN HUGE_VAL

struct wss_params {
	/*
	 * W >= 2: the intervals that must agree to start a plateau, and
	 * whose median decides whether it lasts (ooh-wss -w, default 4;
	 * ooh-vmwss --window, default 3)
	 */
	unsigned int window;
	/*
	 * T in (0, 1): how far from the level, as a fraction of it, an
	 * interval may be and still agree (ooh-wss -t, default 5 %;
	 * ooh-vmwss --tolerance, default 0.1)
	 */
	double tolerance;
	/*
	 * S >= 0, pages: intervals this close to the level always agree
	 * (small sets); 0: none, and then no plateau at level 0. Both
	 * tools use WSS_SLACK_PAGES.
	 */
	double slack;
};

struct wss_plateau {
	unsigned int first, last;	/* intervals, from 0, inclusive */
	unsigned int found;		/* the interval at which it started: first + W - 1 */
	double level;			/* pages: the median of its first W intervals */
};

struct wss_estimator {
	struct wss_params p;
	double *recent;		/* ring: the last W intervals */
	double *sorted;		/* scratch for their median */
	unsigned int n;		/* intervals fed */
	unsigned int fresh;	/* of the last W, how many came after the last plateau */
	bool stable;		/* inside a plateau: the last one in plateaus[] */
	struct wss_plateau *plateaus;	/* found so far, in order */
	unsigned int nr_plateaus, cap;
};

/* 0, -EINVAL for parameters outside the ranges above, or -ENOMEM. */
int wss_estimator_init(struct wss_estimator *est, const struct wss_params *p);
void wss_estimator_free(struct wss_estimator *est);

/*
 * Feeds the next interval's pages. 1 when a plateau starts at this
 * interval (it is then wss_estimator_current()), 0 otherwise, -ENOMEM.
 */
int wss_estimator_add(struct wss_estimator *est, double pages);

/* The plateau the last interval is in, or NULL. */
const struct wss_plateau *wss_estimator_current(const struct wss_estimator *est);

/*
 * Offline: the plateaus of a recorded series of n intervals, in order.
 * Returns their number and sets *out (free() it; NULL when there are
 * none), or -EINVAL / -ENOMEM.
 */
int wss_find_plateaus(const double *pages, unsigned int n, const struct wss_params *p,
		      struct wss_plateau **out);

#endif
