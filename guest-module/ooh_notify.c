// SPDX-License-Identifier: GPL-2.0
/*
 * The log-full notification: ooh-l0 pulses its GSI when a session's log is
 * half full (or overflowed) after a harvest it did on its own (a full
 * dirty ring, a host query, another session's collect). The handler only
 * schedules work; the work drains every started session's log into its
 * staging, so the log has room again before the tracker collects.
 * Without the interrupt (no irqchip, or the line is taken) nothing is
 * drained early: a log that fills overflows and the answer is conservative.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/interrupt.h>
#include <linux/workqueue.h>
#include <ooh/hv-abi.h>

#include "ooh.h"

static unsigned int ooh_notify_irq_nr;

static void ooh_notify_work_fn(struct work_struct *work)
{
	ooh_sessions_drain();
}

static DECLARE_WORK(ooh_notify_work, ooh_notify_work_fn);

static irqreturn_t ooh_notify_irq(int irq, void *dev)
{
	schedule_work(&ooh_notify_work);
	return IRQ_HANDLED;
}

void ooh_notify_init(void)
{
	unsigned int gsi = ooh_hv.notify_gsi;
	int ret;

	if (!(ooh_hv.features & OOH_FEAT_NOTIFY_IRQ) || !gsi)
		return;
	/* an ISA line wired 1:1 to the IOAPIC by ooh-l0's MP table */
	if (gsi >= NR_IRQS_LEGACY) {
		pr_warn("log-full GSI %u is not an ISA line: logs drain only on collect\n",
			gsi);
		return;
	}
	ret = request_irq(gsi, ooh_notify_irq, 0, "ooh-log-full", &ooh_hv);
	if (ret) {
		pr_warn("log-full IRQ %u: %d: logs drain only on collect\n",
			gsi, ret);
		return;
	}
	ooh_notify_irq_nr = gsi;
}

void ooh_notify_exit(void)
{
	if (ooh_notify_irq_nr)
		free_irq(ooh_notify_irq_nr, &ooh_hv);
	ooh_notify_irq_nr = 0;
	cancel_work_sync(&ooh_notify_work);
}
