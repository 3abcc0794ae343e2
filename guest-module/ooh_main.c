// SPDX-License-Identifier: GPL-2.0
/*
 * ooh.ko: exposes the OoH virtual hardware of ooh-l0 to guest processes
 * through /dev/ooh (mode 0666: any process may open it; tracking a target
 * needs ptrace rights over it, checked at OOH_IOC_OPEN_SESSION). Each open
 * file is one tracker session (ooh_session.c); the ioctls are defined in
 * include/ooh/dev-abi.h, shared with libooh.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <ooh/dev-abi.h>
#include <ooh/hv-abi.h>

#include "ooh.h"

struct ooh_hv ooh_hv;

static int ooh_open(struct inode *inode, struct file *file)
{
	return ooh_session_open(file);
}

static int ooh_release(struct inode *inode, struct file *file)
{
	ooh_spp_file_release(file);
	return ooh_session_release(file);
}

static long ooh_get_info(void __user *arg)
{
	struct ooh_dev_info info = {
		.abi_version = OOH_DEV_ABI_VERSION,
		.hv_present = ooh_hv.present,
		.hv_abi_version = ooh_hv.abi_version,
		.hv_features = ooh_hv.features,
	};

	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static long ooh_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case OOH_IOC_GET_INFO:
		return ooh_get_info((void __user *)arg);
	case OOH_IOC_SPP_PROTECT:
	case OOH_IOC_SPP_RELEASE:
	case OOH_IOC_SPP_QUERY:
	case OOH_IOC_SPP_STATS:
	case OOH_IOC_SPP_GET:
		return ooh_spp_ioctl(file, cmd, arg);
	default:
		return ooh_session_ioctl(file, cmd, arg);
	}
}

static const struct file_operations ooh_fops = {
	.owner = THIS_MODULE,
	.open = ooh_open,
	.release = ooh_release,
	.unlocked_ioctl = ooh_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice ooh_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = OOH_DEV_NAME,
	.fops = &ooh_fops,
	.mode = 0666,
};

static int __init ooh_init(void)
{
	int ret;

	ooh_discover(&ooh_hv);
	ret = ooh_hv_init();
	if (ret)
		return ret;
	ooh_session_init();
	ooh_notify_init();
	ret = ooh_spp_init();
	if (ret) {
		ooh_notify_exit();
		ooh_session_exit();
		ooh_hv_exit();
		return ret;
	}
	ret = misc_register(&ooh_misc);
	if (ret) {
		ooh_spp_exit();
		ooh_notify_exit();
		ooh_session_exit();
		ooh_hv_exit();
		return ret;
	}
	if (ooh_hv.present)
		pr_info("ooh-l0 found at CPUID 0x%x, ABI %u.%u, features 0x%x, hypercall port 0x%x\n",
			ooh_hv.cpuid_base, ooh_hv.abi_version >> 16,
			ooh_hv.abi_version & 0xffff, ooh_hv.features,
			ooh_hv.hc_port);
	else
		pr_info("no OoH hypervisor below: /dev/ooh reports no features\n");
	return 0;
}

static void __exit ooh_exit(void)
{
	misc_deregister(&ooh_misc);
	ooh_spp_exit();
	ooh_notify_exit();
	ooh_session_exit();
	ooh_hv_exit();
}

module_init(ooh_init);
module_exit(ooh_exit);
MODULE_DESCRIPTION("OoH: hypervisor dirty tracking and sub-page protection for guest processes");
MODULE_LICENSE("GPL");
