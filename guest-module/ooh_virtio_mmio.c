// SPDX-License-Identifier: GPL-2.0
/*
 * ooh_virtio_mmio: registers the virtio-mmio devices a VMM lists as
 * virtio_mmio.device=SIZE@BASE:IRQ[:ID] on the kernel command line, for
 * kernels built without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (Debian's).
 * ooh-l0 describes its devices only that way (no ACPI, no device tree).
 * The same words are this module's "device" parameter (the initramfs
 * copies them from /proc/cmdline); virtio_mmio binds the platform devices
 * by name, as it does for the ones its own option would create.
 */
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/platform_device.h>

#define OOH_VMMIO_MAX 16

static char *device[OOH_VMMIO_MAX];
static int nr_device;
module_param_array(device, charp, &nr_device, 0444);
MODULE_PARM_DESC(device, "SIZE@BASE:IRQ[:ID], as virtio_mmio.device=");

static struct platform_device *registered[OOH_VMMIO_MAX];

/* SIZE@BASE:IRQ[:ID] into a memory and an IRQ resource (and an id). */
static int ooh_vmmio_parse(const char *text, struct resource res[2], int *id)
{
	unsigned long long base, size;
	unsigned int irq;
	char *p;
	int n = 0;

	size = memparse(text, &p);
	if (!size || *p != '@')
		return -EINVAL;
	base = memparse(p + 1, &p);
	if (*p != ':' || sscanf(p + 1, "%u%n", &irq, &n) != 1 || !irq)
		return -EINVAL;
	p += 1 + n;
	if (*p == ':') {
		if (kstrtoint(p + 1, 0, id) || *id < 0)
			return -EINVAL;
	} else if (*p) {
		return -EINVAL;
	}
	res[0] = (struct resource)DEFINE_RES_MEM(base, size);
	res[1] = (struct resource)DEFINE_RES_IRQ(irq);
	return 0;
}

static void ooh_vmmio_unregister(void)
{
	int i;

	for (i = OOH_VMMIO_MAX - 1; i >= 0; i--) {
		if (registered[i])
			platform_device_unregister(registered[i]);
		registered[i] = NULL;
	}
}

static int __init ooh_vmmio_init(void)
{
	struct resource res[2];
	int i, id, err;

	for (i = 0; i < nr_device; i++) {
		id = i;
		err = ooh_vmmio_parse(device[i], res, &id);
		if (err) {
			pr_err("ooh_virtio_mmio: bad device '%s' (want SIZE@BASE:IRQ[:ID])\n",
			       device[i]);
			goto fail;
		}
		registered[i] = platform_device_register_resndata(NULL, "virtio-mmio", id, res,
								   ARRAY_SIZE(res), NULL, 0);
		if (IS_ERR(registered[i])) {
			err = PTR_ERR(registered[i]);
			registered[i] = NULL;
			pr_err("ooh_virtio_mmio: cannot register '%s': %d\n", device[i], err);
			goto fail;
		}
		pr_info("ooh_virtio_mmio: %pR irq %u\n", &res[0], (unsigned int)res[1].start);
	}
	return 0;
fail:
	ooh_vmmio_unregister();
	return err;
}

static void __exit ooh_vmmio_exit(void)
{
	ooh_vmmio_unregister();
}

module_init(ooh_vmmio_init);
module_exit(ooh_vmmio_exit);
MODULE_DESCRIPTION("virtio-mmio devices from virtio_mmio.device= words, for ooh-l0 guests");
MODULE_LICENSE("GPL");
