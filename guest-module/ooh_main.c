// SPDX-License-Identifier: GPL-2.0
/*
 * ooh.ko: exposes the OoH virtual hardware of ooh-l0 to guest processes
 * through /dev/ooh. Each open file is one tracker session; the ioctls are
 * defined in include/ooh/dev-abi.h, shared with libooh.
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

static struct ooh_hv ooh_hv;

/* One per open file: a tracker's private state, never shared. */
struct ooh_session {
	pid_t owner_tgid;
};

static int ooh_open(struct inode *inode, struct file *file)
{
	struct ooh_session *session;

	session = kzalloc(sizeof(*session), GFP_KERNEL);
	if (!session)
		return -ENOMEM;
	session->owner_tgid = task_tgid_nr(current);
	file->private_data = session;
	return 0;
}

static int ooh_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
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
	default:
		return -ENOTTY;
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
	ret = misc_register(&ooh_misc);
	if (ret)
		return ret;
	if (ooh_hv.present)
		pr_info("ooh-l0 found at CPUID 0x%x, ABI %u.%u, features 0x%x\n",
			ooh_hv.cpuid_base, ooh_hv.abi_version >> 16,
			ooh_hv.abi_version & 0xffff, ooh_hv.features);
	else
		pr_info("no OoH hypervisor below: /dev/ooh reports no features\n");
	return 0;
}

static void __exit ooh_exit(void)
{
	misc_deregister(&ooh_misc);
}

module_init(ooh_init);
module_exit(ooh_exit);
MODULE_DESCRIPTION("OoH: hypervisor dirty tracking and sub-page protection for guest processes");
MODULE_LICENSE("GPL");
