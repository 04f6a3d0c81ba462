/*
 * PVH boot ABI (docs/misc/pvh.pandoc, public/arch-x86/hvm/start_info.h):
 * entry register state, hvm_start_info, memory map, command line, the
 * ramdisk module and the ACPI tables (RSDP -> XSDT -> MADT, FADT).
 *
 * Config (tests/integration/guests.list): extra="xenolith-boot-test arg=1",
 * vcpus=2, memory=32 and the harness ramdisk starting "XENOLITH-RAMDISK\n".
 */
#include <kit/arch.h>
#include <kit/boot_state.h>
#include <kit/console.h>
#include <kit/hypercall.h>
#include <kit/lib.h>
#include <kit/report.h>
#include <kit/start.h>

const char test_title[] = "boot: PVH entry state, start info, memmap, modules, ACPI";

#define EXPECTED_CMDLINE "xenolith-boot-test arg=1"
#define RAMDISK_MAGIC    "XENOLITH-RAMDISK\n"
#define FOUR_GIB         0x100000000ull
#define MIB              0x100000ull
#define MAX_VCPU_PROBE   128u

/* ACPI structures (ACPI spec, not Xen ABI). */
struct __attribute__((packed)) acpi_rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t ext_checksum;
    uint8_t reserved[3];
};

struct __attribute__((packed)) acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
};

struct __attribute__((packed)) acpi_madt {
    struct acpi_header header;
    uint32_t lapic_address;
    uint32_t flags;
};

struct __attribute__((packed)) madt_lapic {
    uint8_t type; /* 0 */
    uint8_t length;
    uint8_t processor_id;
    uint8_t apic_id;
    uint32_t flags; /* bit 0: enabled */
};

#define MADT_TYPE_LAPIC 0
#define MADT_LAPIC_ENABLED 1u

/* The identity map covers the first 4 GiB; refuse anything beyond it. */
static bool phys_ok(uint64_t addr, uint64_t len)
{
    return addr != 0 && addr < FOUR_GIB && len <= FOUR_GIB - addr;
}

static const void *phys(uint64_t addr)
{
    return (const void *)(uintptr_t)addr;
}

static uint8_t sum_bytes(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t s = 0;

    while (len--)
        s = (uint8_t)(s + *b++);
    return s;
}

/* Print what the entry GDT says about a selector, if it says anything. */
static void report_descriptor(const char *name, uint16_t sel)
{
    const struct boot_state *bs = &boot_state;
    uint32_t off = sel & ~7u;
    uint64_t raw;

    if (off == 0 || (sel & 4) || off + 7 > bs->gdtr_limit ||
        !phys_ok((uint64_t)bs->gdtr_base + off, 8))
        return;
    memcpy(&raw, phys((uint64_t)bs->gdtr_base + off), sizeof(raw));
    if (!(raw & (1ull << 47)))
        return;

    uint32_t limit = (uint32_t)((raw & 0xffff) | ((raw >> 32) & 0xf0000));
    uint32_t base = (uint32_t)(((raw >> 16) & 0xffffff) | ((raw >> 32) & 0xff000000));

    if (raw & (1ull << 55))
        limit = (limit << 12) | 0xfff;
    printk("entry GDT: %s %#x base %#x limit %#x type %#x s %u db %u\n", name, sel,
           base, limit, (unsigned int)(raw >> 40) & 0xf, (unsigned int)(raw >> 44) & 1,
           (unsigned int)(raw >> 54) & 1);
}

static void check_entry_state(const struct hvm_start_info *si)
{
    const struct boot_state *bs = &boot_state;

    printk("entry: ebx %#x cr0 %#x cr4 %#x efer %#llx eflags %#x\n", bs->ebx,
           bs->cr0, bs->cr4, (unsigned long long)bs->efer, bs->eflags);
    printk("entry: cs %#x ds %#x es %#x ss %#x fs %#x gs %#x tr %#x gdtr %#x/%#x\n",
           bs->cs, bs->ds, bs->es, bs->ss, bs->fs, bs->gs, bs->tr,
           bs->gdtr_base, bs->gdtr_limit);

    check(bs->ebx == (uint32_t)(uintptr_t)si, "ebx %#x is the start info", bs->ebx);
    /* "cr0: bit 0 (PE) must be set. All the other writeable bits are cleared."
     * ET (bit 4) is not writeable on any x86-64 CPU; it reads as 1. */
    check(bs->cr0 & X86_CR0_PE, "entry CR0.PE set (cr0 %#x)", bs->cr0);
    check(!(bs->cr0 & X86_CR0_PG), "entry CR0.PG clear (cr0 %#x)", bs->cr0);
    check((bs->cr0 & ~(X86_CR0_PE | X86_CR0_ET)) == 0,
          "entry CR0 has no other writeable bit (cr0 %#x)", bs->cr0);
    check(bs->cr4 == 0, "entry CR4 all clear (cr4 %#x)", bs->cr4);
    /* Not in pvh.pandoc, but Xen's builder never sets EFER (x86_32 context). */
    check(bs->efer == 0, "entry EFER 0 (efer %#llx)", (unsigned long long)bs->efer);
    check(!(bs->eflags & X86_EFLAGS_IF), "entry EFLAGS.IF clear (%#x)", bs->eflags);
    check(!(bs->eflags & X86_EFLAGS_VM), "entry EFLAGS.VM clear (%#x)", bs->eflags);
    check(!(bs->eflags & X86_EFLAGS_TF), "entry EFLAGS.TF clear (%#x)", bs->eflags);

    /*
     * Selectors and GDTR are unspecified and the loader may set the hidden
     * segment state without any GDT in memory, so descriptors found through
     * the entry GDTR are only reported. The flat 4 GiB segments show
     * functionally: the entry code stored to boot_state and pushed onto its
     * stack above 1 MiB through DS and SS, and CS fetched code there.
     */
    const uint16_t sels[] = { bs->cs, bs->ds, bs->es, bs->ss, bs->tr };
    static const char *const names[] = { "cs", "ds", "es", "ss", "tr" };
    for (unsigned int i = 0; i < ARRAY_SIZE(sels); i++)
        report_descriptor(names[i], sels[i]);
}

static const struct hvm_memmap_table_entry *find_entry(
    const struct hvm_start_info *si, uint64_t addr, uint64_t len)
{
    const struct hvm_memmap_table_entry *map = phys(si->memmap_paddr);

    if (si->version < 1 || !phys_ok(si->memmap_paddr, si->memmap_entries * sizeof(*map)))
        return NULL;
    for (uint32_t i = 0; i < si->memmap_entries; i++)
        if (addr >= map[i].addr && addr - map[i].addr + len <= map[i].size)
            return &map[i];
    return NULL;
}

static bool in_ram(const struct hvm_start_info *si, uint64_t addr, uint64_t len)
{
    const struct hvm_memmap_table_entry *e = find_entry(si, addr, len);

    return e && e->type == XEN_HVM_MEMMAP_TYPE_RAM;
}

static bool check_memmap(const struct hvm_start_info *si)
{
    const struct hvm_memmap_table_entry *map = phys(si->memmap_paddr);
    uint64_t ram = 0;

    if (!check(si->memmap_entries > 0 && si->memmap_entries < 128,
               "memmap_entries %u", si->memmap_entries) ||
        !check(phys_ok(si->memmap_paddr, si->memmap_entries * sizeof(*map)),
               "memmap_paddr %#llx", (unsigned long long)si->memmap_paddr))
        return false;

    for (uint32_t i = 0; i < si->memmap_entries; i++) {
        printk("memmap[%u]: %#llx-%#llx type %u\n", i,
               (unsigned long long)map[i].addr,
               (unsigned long long)(map[i].addr + map[i].size), map[i].type);
        check(map[i].size != 0, "memmap[%u] has size 0", i);
        check(map[i].type >= XEN_HVM_MEMMAP_TYPE_RAM &&
                  map[i].type <= XEN_HVM_MEMMAP_TYPE_PMEM,
              "memmap[%u] type %u", i, map[i].type);
        check(map[i].reserved == 0, "memmap[%u].reserved %#x", i, map[i].reserved);
        check(map[i].addr + map[i].size >= map[i].addr, "memmap[%u] wraps", i);
        if (i > 0)
            check(map[i].addr >= map[i - 1].addr + map[i - 1].size,
                  "memmap[%u] unsorted or overlapping memmap[%u]", i, i - 1);
        if (map[i].type == XEN_HVM_MEMMAP_TYPE_RAM)
            ram += map[i].size;
    }

    /* memory=32: all of it is RAM, minus whatever the builder keeps back. */
    check(ram >= 24 * MIB && ram <= 33 * MIB, "RAM in memmap %llu KiB for memory=32",
          (unsigned long long)(ram >> 10));
    check(in_ram(si, (uintptr_t)_image_start, (uintptr_t)(_image_end - _image_start)),
          "image %p-%p lies in one RAM entry", _image_start, _image_end);
    /*
     * pvh.pandoc does not say where start info goes. xenolith keeps it in a
     * reserved range below 1 MiB (the guest must not lose it to its own
     * allocator before copying it); Xen puts it in RAM. Either way the
     * memmap must describe it, and never as free RAM overlapping the image.
     */
    const struct hvm_memmap_table_entry *si_entry = find_entry(si, (uintptr_t)si, sizeof(*si));
    check(si_entry != NULL, "start info %p is described by the memmap", si);
    check((uintptr_t)si >= (uintptr_t)_image_end ||
              (uintptr_t)si + sizeof(*si) <= (uintptr_t)_image_start,
          "start info %p does not overlap the image", si);
    return true;
}

static void check_cmdline(const struct hvm_start_info *si)
{
    if (!check(phys_ok(si->cmdline_paddr, 1), "cmdline_paddr %#llx",
               (unsigned long long)si->cmdline_paddr))
        return;

    const char *cmdline = phys(si->cmdline_paddr);
    size_t len = strnlen(cmdline, 1024);

    printk("cmdline: \"%s\"\n", len < 1024 ? cmdline : "(unterminated)");
    check(len < 1024 && strcmp(cmdline, EXPECTED_CMDLINE) == 0,
          "cmdline is \"" EXPECTED_CMDLINE "\"");
}

static void check_modules(const struct hvm_start_info *si)
{
    if (!check(si->nr_modules >= 1, "nr_modules %u, want the ramdisk", si->nr_modules))
        return;

    const struct hvm_modlist_entry *mods = phys(si->modlist_paddr);

    if (!check(phys_ok(si->modlist_paddr, si->nr_modules * sizeof(*mods)),
               "modlist_paddr %#llx", (unsigned long long)si->modlist_paddr))
        return;

    const struct hvm_modlist_entry *m = &mods[0];

    printk("module 0: %#llx size %llu\n", (unsigned long long)m->paddr,
           (unsigned long long)m->size);
    check(m->reserved == 0, "module 0 reserved %#llx", (unsigned long long)m->reserved);
    if (!check(m->size >= sizeof(RAMDISK_MAGIC) - 1 && phys_ok(m->paddr, m->size),
               "module 0 at %#llx size %llu", (unsigned long long)m->paddr,
               (unsigned long long)m->size))
        return;
    check(in_ram(si, m->paddr, m->size), "module 0 lies in RAM");
    check(m->paddr >= (uintptr_t)_image_end ||
              m->paddr + m->size <= (uintptr_t)_image_start,
          "module 0 does not overlap the image");
    check(memcmp(phys(m->paddr), RAMDISK_MAGIC, sizeof(RAMDISK_MAGIC) - 1) == 0,
          "module 0 starts with the ramdisk magic");
}

static const struct acpi_header *checked_table(uint64_t addr, const char *what)
{
    const struct acpi_header *h = phys(addr);

    if (!check(phys_ok(addr, sizeof(*h)), "%s at %#llx", what, (unsigned long long)addr) ||
        !check(h->length >= sizeof(*h) && phys_ok(addr, h->length), "%s length %u",
               what, h->length))
        return NULL;
    check(sum_bytes(h, h->length) == 0, "%s checksum", what);
    return h;
}

static unsigned int count_vcpus(void)
{
    unsigned int n = 0;

    /* VCPUOP_is_up answers for every vCPU the domain has, -ENOENT beyond. */
    while (n < MAX_VCPU_PROBE && HYPERVISOR_vcpu_op(VCPUOP_is_up, n, NULL) >= 0)
        n++;
    return n;
}

static void check_madt(const struct acpi_header *h)
{
    const struct acpi_madt *madt = (const void *)h;
    const uint8_t *p = (const uint8_t *)(madt + 1), *end = (const uint8_t *)h + h->length;
    unsigned int lapics = 0, enabled = 0, vcpus = count_vcpus();

    if (!check(h->length >= sizeof(*madt), "MADT length %u", h->length))
        return;
    while (p + 2 <= end) {
        uint8_t type = p[0], len = p[1];

        if (!check(len >= 2 && p + len <= end, "MADT entry type %u length %u", type, len))
            return;
        if (type == MADT_TYPE_LAPIC && check(len >= sizeof(struct madt_lapic),
                                             "MADT LAPIC entry length %u", len)) {
            const struct madt_lapic *l = (const void *)p;

            printk("MADT: LAPIC processor %u apic id %u flags %#x\n",
                   l->processor_id, l->apic_id, l->flags);
            lapics++;
            if (l->flags & MADT_LAPIC_ENABLED)
                enabled++;
        }
        p += len;
    }
    check(lapics == vcpus, "MADT has %u LAPIC entries for %u vCPUs", lapics, vcpus);
    check(enabled == vcpus, "MADT has %u enabled LAPICs for %u vCPUs", enabled, vcpus);
}

static void check_acpi(const struct hvm_start_info *si)
{
    const struct acpi_rsdp *rsdp = phys(si->rsdp_paddr);

    if (!check(phys_ok(si->rsdp_paddr, sizeof(*rsdp)), "rsdp_paddr %#llx",
               (unsigned long long)si->rsdp_paddr))
        return;
    printk("RSDP at %#llx revision %u\n", (unsigned long long)si->rsdp_paddr,
           rsdp->revision);
    check(memcmp(rsdp->signature, "RSD PTR ", 8) == 0, "RSDP signature");
    check(sum_bytes(rsdp, 20) == 0, "RSDP checksum (first 20 bytes)");
    if (!check(rsdp->revision >= 2, "RSDP revision %u: want an XSDT", rsdp->revision))
        return;
    check(rsdp->length >= sizeof(*rsdp) && sum_bytes(rsdp, rsdp->length) == 0,
          "RSDP extended checksum (length %u)", rsdp->length);

    const struct acpi_header *xsdt = checked_table(rsdp->xsdt_address, "XSDT");

    if (!xsdt)
        return;
    check(memcmp(xsdt->signature, "XSDT", 4) == 0, "XSDT signature");

    const uint8_t *entries = (const uint8_t *)(xsdt + 1);
    size_t nr = (xsdt->length - sizeof(*xsdt)) / sizeof(uint64_t);
    const struct acpi_header *madt = NULL, *fadt = NULL;

    for (size_t i = 0; i < nr; i++) {
        uint64_t addr;

        memcpy(&addr, entries + i * sizeof(addr), sizeof(addr));
        const struct acpi_header *t = checked_table(addr, "XSDT entry");

        if (!t)
            continue;
        printk("ACPI: %.4s at %#llx length %u\n", t->signature,
               (unsigned long long)addr, t->length);
        if (memcmp(t->signature, "APIC", 4) == 0)
            madt = t;
        else if (memcmp(t->signature, "FACP", 4) == 0)
            fadt = t;
    }

    if (check(madt != NULL, "XSDT lists a MADT (APIC)"))
        check_madt(madt);
    if (check(fadt != NULL, "XSDT lists a FADT (FACP)"))
        check(fadt->length >= sizeof(*fadt) + 8, "FADT length %u", fadt->length);
}

void test_main(const struct hvm_start_info *si)
{
    check_entry_state(si);

    if (!check(si->magic == XEN_HVM_START_MAGIC_VALUE, "start info magic %#x", si->magic))
        return;
    check(si->version >= 1, "start info version %u, want >= 1 (memmap)", si->version);
    check(!(si->flags & (SIF_PRIVILEGED | SIF_INITDOMAIN)),
          "start info flags %#x: an unprivileged domU", si->flags);

    if (si->version >= 1) {
        check(si->reserved == 0, "start info reserved %#x", si->reserved);
        check_memmap(si);
    }
    check_cmdline(si);
    check_modules(si);
    check_acpi(si);

    if (!xtf_failures())
        xtf_success(NULL);
}
