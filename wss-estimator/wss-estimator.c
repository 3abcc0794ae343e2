// SPDX-License-Identifier: MIT
/* The working-set estimator: see wss-estimator.h for the algorithm. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wss-estimator.h"

int wss_estimator_init(struct wss_estimator *est, const struct wss_params *p)
{
	/* written so that NaN parameters fail too */
	if (p->window < 2 || !(p->tolerance > 0 && p->tolerance < 1) || !(p->slack >= 0))
		return -EINVAL;
	*est = (struct wss_estimator){ .p = *p };
	est->recent = calloc(p->window, sizeof(*est->recent));
	est->sorted = calloc(p->window, sizeof(*est->sorted));
	if (!est->recent || !est->sorted) {
		wss_estimator_free(est);
		return -ENOMEM;
	}
	return 0;
}

void wss_estimator_free(struct wss_estimator *est)
{
	free(est->recent);
	free(est->sorted);
	free(est->plateaus);
	est->recent = est->sorted = NULL;
	est->plateaus = NULL;
	est->nr_plateaus = est->cap = 0;
	est->stable = false;
}

static bool agrees(const struct wss_params *p, double pages, double level)
{
	double band = fmax(p->tolerance * level, p->slack);

	/* false for an unknown interval (infinite) and for NaN */
	return band > 0 && fabs(pages - level) <= band;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of the last W intervals (of the two middle ones for even W). */
static double recent_median(struct wss_estimator *est)
{
	unsigned int w = est->p.window;

	memcpy(est->sorted, est->recent, w * sizeof(*est->sorted));
	qsort(est->sorted, w, sizeof(*est->sorted), cmp_double);
	return w % 2 ? est->sorted[w / 2] : (est->sorted[w / 2 - 1] + est->sorted[w / 2]) / 2;
}

static bool recent_agree(const struct wss_estimator *est, double level)
{
	for (unsigned int k = 0; k < est->p.window; k++)
		if (!agrees(&est->p, est->recent[k], level))
			return false;
	return true;
}

static int append_plateau(struct wss_estimator *est, unsigned int found, double level)
{
	if (est->nr_plateaus == est->cap) {
		unsigned int cap = est->cap ? est->cap * 2 : 8;
		struct wss_plateau *pl = realloc(est->plateaus, cap * sizeof(*pl));

		if (!pl)
			return -ENOMEM;
		est->plateaus = pl;
		est->cap = cap;
	}
	est->plateaus[est->nr_plateaus++] = (struct wss_plateau){
		.first = found + 1 - est->p.window, .last = found, .found = found, .level = level,
	};
	return 0;
}

/* Interval i is in a plateau: extend it, or end it if the recent median left it. */
static void follow_plateau(struct wss_estimator *est, unsigned int i, double pages)
{
	struct wss_plateau *pl = &est->plateaus[est->nr_plateaus - 1];

	if (agrees(&est->p, pages, pl->level))
		pl->last = i;
	if (agrees(&est->p, recent_median(est), pl->level))
		return;
	est->stable = false;
	/* only the intervals after its last agreeing one may start the next */
	est->fresh = i - pl->last < est->p.window ? i - pl->last : est->p.window;
}

/* 1 when the last W intervals, all fresh, agree with their median. */
static int try_start(struct wss_estimator *est, unsigned int i)
{
	double level;
	int err;

	if (est->fresh < est->p.window)
		return 0;
	level = recent_median(est);
	if (!recent_agree(est, level))
		return 0;
	err = append_plateau(est, i, level);
	if (err)
		return err;
	est->stable = true;
	return 1;
}

int wss_estimator_add(struct wss_estimator *est, double pages)
{
	unsigned int i = est->n++;

	est->recent[i % est->p.window] = pages;
	if (est->fresh < est->p.window)
		est->fresh++;
	if (est->stable)
		follow_plateau(est, i, pages);
	/* a plateau that just ended may leave W fresh intervals at a new level */
	return est->stable ? 0 : try_start(est, i);
}

const struct wss_plateau *wss_estimator_current(const struct wss_estimator *est)
{
	return est->stable ? &est->plateaus[est->nr_plateaus - 1] : NULL;
}

int wss_find_plateaus(const double *pages, unsigned int n, const struct wss_params *p,
		      struct wss_plateau **out)
{
	struct wss_estimator est;
	int err = wss_estimator_init(&est, p);

	*out = NULL;
	for (unsigned int i = 0; !err && i < n; i++)
		err = wss_estimator_add(&est, pages[i]) < 0 ? -ENOMEM : 0;
	if (err) {
		wss_estimator_free(&est);
		return err;
	}
	*out = est.plateaus;
	est.plateaus = NULL;
	err = (int)est.nr_plateaus;
	wss_estimator_free(&est);
	return err;
}
