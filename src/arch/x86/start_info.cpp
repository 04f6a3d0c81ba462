#include "arch/x86/start_info.hpp"

#include <cstring>
#include <string_view>

#include <xen/arch-x86/hvm/start_info.h>

namespace xenolith::x86 {
namespace {

constexpr std::uint64_t kFourGiB = 0x100000000;

constexpr std::uint64_t align8(std::uint64_t v) { return (v + 7) & ~std::uint64_t{7}; }

template <class T>
void put(std::vector<std::uint8_t>& buf, std::uint64_t off, const T& v) {
    std::memcpy(buf.data() + off, &v, sizeof(T));
}

Status check_string(std::string_view s, std::string_view what) {
    if (s.size() >= kMaxCmdlineBytes)
        return make_error(std::string(what) + " too long (" + std::to_string(s.size()) +
                          " bytes, limit " + std::to_string(kMaxCmdlineBytes - 1) + ")");
    if (s.find('\0') != std::string_view::npos)
        return make_error(std::string(what) + " contains a NUL byte");
    return ok_status();
}

Status validate(const StartInfoSpec& spec) {
    if (spec.base_gpa == 0 || spec.base_gpa % 8 != 0)
        return make_error("start info base address must be non-zero and 8-byte aligned");
    if (spec.modules.size() > kMaxStartInfoModules)
        return make_error("too many boot modules (" + std::to_string(spec.modules.size()) +
                          ", limit " + std::to_string(kMaxStartInfoModules) + ")");
    if (spec.memmap.size() > kMaxMemmapEntries)
        return make_error("too many memory map entries (" + std::to_string(spec.memmap.size()) +
                          ")");
    for (const auto& e : spec.memmap)
        if (e.type < XEN_HVM_MEMMAP_TYPE_RAM || e.type > XEN_HVM_MEMMAP_TYPE_PMEM)
            return make_error("memory map entry has invalid type " + std::to_string(e.type));
    if (auto st = check_string(spec.cmdline, "command line"); !st) return st;
    for (const auto& m : spec.modules)
        if (m.cmdline)
            if (auto st = check_string(*m.cmdline, "module command line"); !st) return st;
    return ok_status();
}

}  // namespace

Result<StartInfoBlock> build_start_info(const StartInfoSpec& spec) {
    if (auto st = validate(spec); !st) return st.error();

    // Offsets of each part; every count and length is bounded by validate(),
    // so none of this can overflow.
    const std::uint64_t memmap_off = align8(sizeof(hvm_start_info));
    const std::uint64_t modlist_off =
        align8(memmap_off + spec.memmap.size() * sizeof(hvm_memmap_table_entry));
    const std::uint64_t cmdline_off =
        align8(modlist_off + spec.modules.size() * sizeof(hvm_modlist_entry));
    std::uint64_t end = cmdline_off + (spec.cmdline.empty() ? 0 : spec.cmdline.size() + 1);
    std::vector<std::uint64_t> mod_cmdline_off;
    for (const auto& m : spec.modules) {
        mod_cmdline_off.push_back(m.cmdline ? end : 0);
        if (m.cmdline) end += m.cmdline->size() + 1;
    }
    const std::uint64_t size = align8(end);

    if (size > spec.max_bytes)
        return make_error("start info block needs " + std::to_string(size) +
                          " bytes, only " + std::to_string(spec.max_bytes) + " reserved");
    if (spec.base_gpa >= kFourGiB || kFourGiB - spec.base_gpa < size)
        return make_error("start info block must lie below 4 GiB");

    StartInfoBlock out;
    out.start_info_gpa = spec.base_gpa;
    out.bytes.assign(size, 0);
    const auto gpa = [&](std::uint64_t off) { return spec.base_gpa + off; };

    hvm_start_info si{};
    si.magic = XEN_HVM_START_MAGIC_VALUE;
    si.version = 1;
    si.flags = spec.flags;
    si.nr_modules = static_cast<std::uint32_t>(spec.modules.size());
    si.modlist_paddr = spec.modules.empty() ? 0 : gpa(modlist_off);
    si.cmdline_paddr = spec.cmdline.empty() ? 0 : gpa(cmdline_off);
    si.rsdp_paddr = spec.rsdp_paddr;
    si.memmap_paddr = spec.memmap.empty() ? 0 : gpa(memmap_off);
    si.memmap_entries = static_cast<std::uint32_t>(spec.memmap.size());
    put(out.bytes, 0, si);

    for (std::size_t i = 0; i < spec.memmap.size(); ++i) {
        hvm_memmap_table_entry e{};
        e.addr = spec.memmap[i].addr;
        e.size = spec.memmap[i].size;
        e.type = spec.memmap[i].type;
        put(out.bytes, memmap_off + i * sizeof(e), e);
    }
    for (std::size_t i = 0; i < spec.modules.size(); ++i) {
        hvm_modlist_entry e{};
        e.paddr = spec.modules[i].paddr;
        e.size = spec.modules[i].size;
        e.cmdline_paddr = mod_cmdline_off[i] ? gpa(mod_cmdline_off[i]) : 0;
        put(out.bytes, modlist_off + i * sizeof(e), e);
        if (spec.modules[i].cmdline)
            std::memcpy(out.bytes.data() + mod_cmdline_off[i], spec.modules[i].cmdline->data(),
                        spec.modules[i].cmdline->size());
    }
    if (!spec.cmdline.empty())
        std::memcpy(out.bytes.data() + cmdline_off, spec.cmdline.data(), spec.cmdline.size());
    return out;
}

}  // namespace xenolith::x86
