# shellcheck shell=sh
# domu_cfg NAME PAYLOAD: an xl config for a PVH domU of the Xen rig that
# runs PAYLOAD (a path in the domU image); its console is logged to
# /var/log/xen/console/guest-NAME.log.
domu_cfg() {
	cat <<CFG
type = "pvh"
name = "$1"
kernel = "$OOH_XEN/vmlinux"
ramdisk = "$OOH_XEN/domu.cpio"
extra = "console=hvc0 quiet ooh.run=$2"
memory = 256
vcpus = 1
tsc_mode = "native"
on_poweroff = "destroy"
CFG
}
