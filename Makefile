# OoH — top-level build. The two commands a user needs:
#   make demo    build and boot the stack, show what runs (main job)
#   make check   install what is missing, build, run every test, summarize
# Other targets: deps, all, unit, rig, bench, fuzz, install, deb, module-check, clean.
TOP := $(CURDIR)
BUILD := $(TOP)/build
# Userspace components, each with its own Makefile (O=, SAN= convention in
# mk/common.mk). Listed in dependency order.
COMPONENTS := $(wildcard ooh-lib l0 examples vmwss tests/kvm-tiny tests/guest-module)
COMPONENTS := $(foreach c,$(COMPONENTS),$(if $(wildcard $(c)/Makefile),$(c)))
# The guest kernel: the newest installed Debian kernel with headers; the rig
# boots it as L1 and L2 and ooh.ko is built against it. Both variables are
# expanded where used ('=', not ':='): on a new machine the kernel is only
# there once the 'deps' prerequisite of check and demo has installed it.
GUEST_KVER ?= $(shell for k in $$(ls /boot 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -rV); do \
	[ -d /lib/modules/$$k/build ] && echo $$k && break; done)
RIG = l1/ooh-rig --kernel /boot/vmlinuz-$(GUEST_KVER) --build $(BUILD)
PREFIX ?= /usr/local
# check and demo build with one job per core (make -s all unit: 70 s -> 32 s
# on two cores); the components' Makefiles name every dependency.
JOBS := -j$(shell nproc 2>/dev/null || echo 1)

all: userspace module

deps:
	@sh mk/deps.sh

userspace:
	@for c in $(COMPONENTS); do $(MAKE) -s -C $$c O=$(BUILD)/normal SAN=0 all || exit 1; done

# Unit tests are built twice: plain, and with AddressSanitizer + UBSan.
unit: userspace
	@for c in $(COMPONENTS); do \
		$(MAKE) -s -C $$c O=$(BUILD)/normal SAN=0 unit || exit 1; \
		$(MAKE) -s -C $$c O=$(BUILD)/asan SAN=1 all unit || exit 1; \
	done

module:
	@test -n "$(GUEST_KVER)" || { echo "no kernel headers installed: run 'make deps'"; exit 1; }
	@$(MAKE) -s -C /lib/modules/$(GUEST_KVER)/build M=$(TOP)/guest-module modules
	@mkdir -p $(BUILD)/normal/modules
	@cp guest-module/ooh.ko guest-module/ooh_virtio_mmio.ko $(BUILD)/normal/modules/

# The rigs' images are made from the packages (make deb), as a user installs them.
check: deps
	@$(MAKE) -s $(JOBS) all unit
	@$(MAKE) -s deb >$(BUILD)/deb.log 2>&1 || { tail -n 40 $(BUILD)/deb.log; echo "make deb failed (log: $(BUILD)/deb.log)"; exit 1; }
	@tests/run-tests --rig "$(RIG) --debs $(BUILD)/deb"

rig: all
	$(RIG) run

demo: deps
	@$(MAKE) -s $(JOBS) all
	@mkdir -p $(BUILD)/demo
	@{ $(RIG) --quiet --timeout 480 run l1/demo.sh; echo $$? >$(BUILD)/demo/rig-status; } | \
		tee $(BUILD)/demo/console.log | grep --line-buffered -v -e "^OOH-RIG-RUNNING" -e "^OOH-DEMO-FILE"; \
		sh l1/demo-report.sh $(BUILD)/demo/console.log $(BUILD)/demo/report.html "$$(cat $(BUILD)/demo/rig-status)"

# bench and install run in the components that have such a target.
has_target = $(MAKE) -s -C $(1) -q $(2) >/dev/null 2>&1; [ $$? != 2 ]

bench: all
	@for c in $(COMPONENTS); do if $(call has_target,$$c,bench); then \
		$(MAKE) -s -C $$c O=$(BUILD)/normal bench || exit 1; fi; done

# fuzz: each libFuzzer target of tests/fuzz for FUZZ_SECONDS (default 3600), corpora minimized in place.
fuzz:
	@$(MAKE) -s -C tests/fuzz O=$(BUILD)/normal fuzz

install: userspace
	@for c in $(COMPONENTS); do if $(call has_target,$$c,install); then \
		$(MAKE) -s -C $$c O=$(BUILD)/normal PREFIX=$(PREFIX) install || exit 1; fi; done

# module-check: ooh.ko built against bookworm-backports' kernel headers
# (KHEADERS=linux-headers-... for others), downloaded, not installed.
module-check:
	@sh mk/kbuild-check.sh $(KHEADERS)

# deb: the Debian packages (debian/; dpkg-buildpackage -us -uc -b) built from
# a copy of the tracked files in build/deb/ooh, so that the .debs land in
# build/deb/ and not beside the tree; then lintian on them.
deb:
	@rm -rf $(BUILD)/deb && mkdir -p $(BUILD)/deb/ooh
	@git ls-files -z | tar --null -T - -cf - | tar -xf - -C $(BUILD)/deb/ooh
	@cd $(BUILD)/deb/ooh && dpkg-buildpackage -us -uc -b
	@lintian $(BUILD)/deb/*.changes

clean:
	rm -rf $(BUILD)
	-$(MAKE) -s -C /lib/modules/$(GUEST_KVER)/build M=$(TOP)/guest-module clean 2>/dev/null

.PHONY: all deps userspace unit module check rig demo bench fuzz install deb module-check clean
