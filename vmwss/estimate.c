// SPDX-License-Identifier: MIT
/* PRL-style plateau detection over per-interval dirty-page counts. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "vmwss.h"

int vmwss_estimator_init(struct vmwss_estimator *est, unsigned int window,
			 double tolerance)
{
	if (window < 2 || !(tolerance > 0 && tolerance < 1))
		return -EINVAL;
	*est = (struct vmwss_estimator){ .window = window, .tolerance = tolerance };
	est->recent = calloc(window, sizeof(*est->recent));
	return est->recent ? 0 : -ENOMEM;
}

void vmwss_estimator_free(struct vmwss_estimator *est)
{
	free(est->recent);
	est->recent = NULL;
}

static bool window_agrees(const struct vmwss_estimator *est, double *mean)
{
	double sum = 0;

	for (unsigned int i = 0; i < est->window; i++)
		sum += est->recent[i];
	*mean = sum / est->window;
	for (unsigned int i = 0; i < est->window; i++)
		if (fabs(est->recent[i] - *mean) > est->tolerance * *mean)
			return false;
	return *mean > 0;
}

bool vmwss_estimator_add(struct vmwss_estimator *est, double dirty_pages)
{
	double mean;

	est->recent[est->next] = dirty_pages;
	est->next = (est->next + 1) % est->window;
	if (est->filled < est->window)
		est->filled++;

	if (est->stable) {
		/* One interval far from the plateau ends it: a phase change. */
		if (fabs(dirty_pages - est->estimate) <= est->tolerance * est->estimate)
			return false;
		est->stable = false;
		/* Only the new phase's samples may form the next plateau. */
		est->recent[0] = dirty_pages;
		est->next = 1 % est->window;
		est->filled = 1;
		return false;
	}
	if (est->filled < est->window || !window_agrees(est, &mean))
		return false;
	est->stable = true;
	est->estimate = mean;
	est->phase++;
	return true;
}
