// SPDX-License-Identifier: MIT
/*
 * Intel MultiProcessor Specification 1.4 tables. Without ACPI this is how
 * Linux learns the CPUs' APIC IDs, the IOAPIC and the ISA IRQ wiring.
 * The wiring matches KVM's default GSI routing: ISA IRQ 0 (PIT) arrives on
 * IOAPIC pin 2, every other ISA IRQ n on pin n.
 */
#include "x86.h"

#include <string.h>

#define APIC_DEFAULT_BASE   0xfee00000u
#define IOAPIC_DEFAULT_BASE 0xfec00000u
#define APIC_VERSION        0x14
#define IOAPIC_VERSION      0x11

struct __attribute__((packed)) mp_floating_pointer {
	char signature[4];   /* "_MP_" */
	uint32_t config_table;
	uint8_t length;      /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
};

struct __attribute__((packed)) mp_config_table {
	char signature[4];   /* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_base;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
};

struct __attribute__((packed)) mp_processor {
	uint8_t type;        /* 0 */
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;       /* 1 enabled, 2 bootstrap processor */
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
};

struct __attribute__((packed)) mp_bus {
	uint8_t type;        /* 1 */
	uint8_t bus_id;
	char bus_type[6];
};

struct __attribute__((packed)) mp_ioapic {
	uint8_t type;        /* 2 */
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t address;
};

struct __attribute__((packed)) mp_interrupt {
	uint8_t type;        /* 3 I/O interrupt, 4 local interrupt */
	uint8_t irq_type;    /* 0 INT, 1 NMI, 3 ExtINT */
	uint16_t flags;
	uint8_t source_bus;
	uint8_t source_irq;
	uint8_t dest_apic;
	uint8_t dest_pin;
};

#define NR_ISA_IRQ_ENTRIES 15 /* IRQ 0..15 except 2, the cascade */
#define NR_LOCAL_ENTRIES   2

size_t l0_x86_mptable_size(int nr_cpus)
{
	return sizeof(struct mp_floating_pointer) + sizeof(struct mp_config_table) +
	       (size_t)nr_cpus * sizeof(struct mp_processor) + sizeof(struct mp_bus) +
	       sizeof(struct mp_ioapic) +
	       (NR_ISA_IRQ_ENTRIES + NR_LOCAL_ENTRIES) * sizeof(struct mp_interrupt);
}

static uint8_t checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t sum = 0;

	while (len--)
		sum = (uint8_t)(sum + *p++);
	return (uint8_t)-sum;
}

int l0_x86_write_mptable(struct l0_memory *mem, uint64_t gpa, int nr_cpus)
{
	size_t size = l0_x86_mptable_size(nr_cpus);
	uint8_t *base = l0_gpa_to_host(mem, gpa, size);
	struct mp_floating_pointer *mpf = (void *)base;
	struct mp_config_table *table = (void *)(base + sizeof(*mpf));
	uint8_t *p = (uint8_t *)(table + 1);
	uint8_t ioapic_id = (uint8_t)nr_cpus;
	uint16_t entries = 0;

	if (!base || nr_cpus < 1 || nr_cpus > 254)
		return -1;
	memset(base, 0, size);

	for (int i = 0; i < nr_cpus; i++, entries++) {
		struct mp_processor cpu = {
			.type = 0, .apic_id = (uint8_t)i, .apic_version = APIC_VERSION,
			.flags = 1 | (i == 0 ? 2 : 0), .signature = 0x600, .features = 0x201,
		};
		memcpy(p, &cpu, sizeof(cpu));
		p += sizeof(cpu);
	}
	struct mp_bus bus = { .type = 1, .bus_id = 0, .bus_type = { 'I', 'S', 'A', ' ', ' ', ' ' } };
	memcpy(p, &bus, sizeof(bus));
	p += sizeof(bus);
	entries++;
	struct mp_ioapic ioapic = { .type = 2, .apic_id = ioapic_id, .apic_version = IOAPIC_VERSION,
				    .flags = 1, .address = IOAPIC_DEFAULT_BASE };
	memcpy(p, &ioapic, sizeof(ioapic));
	p += sizeof(ioapic);
	entries++;
	for (uint8_t irq = 0; irq < 16; irq++) {
		if (irq == 2)
			continue;
		struct mp_interrupt intr = { .type = 3, .irq_type = 0, .source_bus = 0,
					     .source_irq = irq, .dest_apic = ioapic_id,
					     .dest_pin = irq == 0 ? 2 : irq };
		memcpy(p, &intr, sizeof(intr));
		p += sizeof(intr);
		entries++;
	}
	struct mp_interrupt lint[NR_LOCAL_ENTRIES] = {
		{ .type = 4, .irq_type = 3, .dest_apic = 0xff, .dest_pin = 0 }, /* ExtINT -> LINT0 */
		{ .type = 4, .irq_type = 1, .dest_apic = 0xff, .dest_pin = 1 }, /* NMI -> LINT1 */
	};
	memcpy(p, lint, sizeof(lint));
	p += sizeof(lint);
	entries += NR_LOCAL_ENTRIES;

	memcpy(table->signature, "PCMP", 4);
	table->length = (uint16_t)(p - (uint8_t *)table);
	table->spec_rev = 4;
	memcpy(table->oem, "OOH-L0  ", 8);
	memcpy(table->product, "MICROVM     ", 12);
	table->entry_count = entries;
	table->lapic_base = APIC_DEFAULT_BASE;
	table->checksum = checksum(table, table->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->config_table = (uint32_t)(gpa + sizeof(*mpf));
	mpf->length = 1;
	mpf->spec_rev = 4;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return 0;
}
