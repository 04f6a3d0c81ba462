#include "toolstack/config/keys.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

namespace xenolith::config {

namespace {

using K = KeyKind;
constexpr bool yes = true;
constexpr bool no = false;

// Order and grouping follow xl.cfg(5).
constexpr KeyInfo kKeys[] = {
    // Mandatory, guest type
    {"name", K::string, yes},
    {"type", K::string, yes},
    {"builder", K::string, yes},  // deprecated spelling of type
    // CPU allocation and scheduling
    {"pool", K::string, no},
    {"vcpus", K::number, yes},
    {"maxvcpus", K::number, yes},
    {"cpus", K::string_or_list, yes},
    {"cpus_soft", K::string_or_list, yes},
    {"cpu_weight", K::number, no},
    {"cap", K::number, no},
    {"period", K::number, no},     // RTDS; read by xl, not in the manual
    {"slice", K::number, no},      // removed SEDF scheduler; still read by xl
    {"latency", K::number, no},    // likewise
    {"extratime", K::number, no},  // likewise
    // Memory
    {"memory", K::number, yes},
    {"maxmem", K::number, yes},
    {"vnuma", K::list_of_lists, no},
    // Event actions
    {"on_poweroff", K::string, yes},
    {"on_reboot", K::string, yes},
    {"on_watchdog", K::string, yes},
    {"on_crash", K::string, yes},
    {"on_soft_reset", K::string, yes},
    // Direct kernel boot
    {"kernel", K::string, yes},
    {"ramdisk", K::string, yes},
    {"cmdline", K::string, yes},
    {"root", K::string, yes},
    {"extra", K::string, yes},
    // Non direct kernel boot
    {"firmware", K::string, no},
    {"firmware_override", K::string, yes},  // HVM: path of hvmloader's replacement
    {"pvshim", K::boolean, no},
    {"pvshim_path", K::string, no},
    {"pvshim_cmdline", K::string, no},
    {"pvshim_extra", K::string, no},
    // Other options
    {"uuid", K::string, yes},
    {"seclabel", K::string, no},
    {"init_seclabel", K::string, no},
    {"max_grant_frames", K::number, yes},
    {"max_maptrack_frames", K::number, yes},
    {"max_grant_version", K::number, no},
    {"nomigrate", K::boolean, no},
    {"driver_domain", K::boolean, no},
    {"device_tree", K::string, no},
    {"passthrough", K::string, no},
    {"xend_suspend_evtchn_compat", K::boolean, no},
    {"vmtrace_buf_kb", K::number, no},
    {"vpmu", K::boolean, no},
    {"xenstore_feature_mask", K::number, no},
    {"xenstore_quota", K::list, no},
    // Devices
    {"disk", K::list, yes},  // parsed and checked; not attached yet (no back-end)
    {"vif", K::list, yes},   // likewise
    {"vif2", K::list, no},  // netchannel2; xl warns that it is unsupported
    {"vtpm", K::list, no},
    {"p9", K::list, no},
    {"pvcalls", K::list, no},
    {"vfb", K::list, no},
    {"channel", K::list, no},
    {"rdm", K::string, no},
    {"usbctrl", K::list, no},
    {"usbdev", K::list, no},
    {"pci", K::list, no},
    {"pci_permissive", K::boolean, no},
    {"pci_msitranslate", K::boolean, no},
    {"pci_seize", K::boolean, no},
    {"pci_power_mgmt", K::boolean, no},
    {"gfx_passthru", K::number_or_string, no},
    {"rdm_mem_boundary", K::number, no},
    {"dtdev", K::list, no},
    {"ioports", K::list, no},
    {"iomem", K::list, no},
    {"irqs", K::list, no},
    {"max_event_channels", K::number, yes},
    {"vdispl", K::list, no},
    {"dm_restrict", K::boolean, no},
    {"device_model_user", K::string, no},
    {"vsnd", K::list_of_lists, no},
    {"vkb", K::list, no},
    {"virtio", K::list, no},
    {"tee", K::string, no},
    // PV (and PVH) guests
    {"bootloader", K::string, no},
    {"bootloader_args", K::string_or_list, no},
    {"bootloader_restrict", K::boolean, no},
    {"bootloader_user", K::string, no},
    {"e820_host", K::boolean, no},
    // HVM guests
    {"boot", K::string, no},
    {"hdtype", K::string, no},
    {"hap", K::boolean, no},
    {"oos", K::boolean, no},
    {"shadow_memory", K::number, no},
    {"bios", K::string, no},
    {"bios_path_override", K::string, no},
    {"pae", K::boolean, no},
    {"acpi", K::boolean, no},
    {"acpi_s3", K::boolean, no},
    {"acpi_s4", K::boolean, no},
    {"acpi_laptop_slate", K::boolean, no},
    {"apic", K::boolean, no},
    {"nx", K::boolean, no},
    {"hpet", K::boolean, no},
    {"altp2m", K::string, no},
    {"altp2mhvm", K::boolean, no},
    {"altp2m_count", K::number, no},
    {"nestedhvm", K::boolean, no},
    {"cpuid", K::string_or_list, no},
    {"acpi_firmware", K::string, no},
    {"smbios_firmware", K::string, no},
    {"smbios", K::list, no},
    {"ms_vm_genid", K::string, no},
    {"tsc_mode", K::number_or_string, no},
    {"localtime", K::boolean, no},
    {"rtc_timeoffset", K::number, no},
    {"vpt_align", K::boolean, no},
    {"timer_mode", K::number_or_string, no},
    {"mmio_hole", K::number, no},
    {"xen_platform_pci", K::boolean, no},
    {"xen_platform_pci_bar_uc", K::boolean, no},
    {"viridian", K::boolean_or_list, no},
    {"hvm_pirq", K::boolean, no},
    {"videoram", K::number, no},
    {"stdvga", K::boolean, no},
    {"vga", K::string, no},
    {"vnc", K::boolean, no},
    {"vnclisten", K::string, no},
    {"vncdisplay", K::number, no},
    {"vncunused", K::boolean, no},
    {"vncpasswd", K::string, no},
    {"vncviewer", K::boolean, no},  // xl ignores it: use xl create -V
    {"keymap", K::string, no},
    {"sdl", K::boolean, no},
    {"opengl", K::boolean, no},
    {"display", K::string, no},
    {"xauthority", K::string, no},
    {"nographic", K::boolean, no},
    {"spice", K::boolean, no},
    {"spicehost", K::string, no},
    {"spiceport", K::number, no},
    {"spicetls_port", K::number, no},
    {"spicedisable_ticketing", K::boolean, no},
    {"spicepasswd", K::string, no},
    {"spiceagent_mouse", K::boolean, no},
    {"spicevdagent", K::boolean, no},
    {"spice_clipboard_sharing", K::boolean, no},
    {"spiceusbredirection", K::number, no},
    {"spice_image_compression", K::string, no},
    {"spice_streaming_video", K::string, no},
    {"serial", K::string_or_list, no},
    {"soundhw", K::string, no},
    {"vkb_device", K::boolean, no},
    {"usb", K::boolean, no},
    {"usbversion", K::number, no},
    {"usbdevice", K::string_or_list, no},
    {"vendor_device", K::string, no},
    // Device model
    {"device_model_version", K::string, no},
    {"device_model_override", K::string, no},
    {"device_model", K::string, no},  // xl ignores it in favour of device_model_override
    {"stubdomain_kernel", K::string, no},
    {"stubdomain_cmdline", K::string, no},
    {"stubdomain_ramdisk", K::string, no},
    {"stubdomain_memory", K::number, no},
    {"device_model_stubdomain_override", K::boolean, no},
    {"device_model_stubdomain_seclabel", K::string, no},
    {"device_model_args", K::list, no},
    {"device_model_args_pv", K::list, no},
    {"device_model_args_hvm", K::list, no},
    // Arm
    {"gic_version", K::string, no},
    {"vuart", K::string, no},
    {"sve", K::string, no},
    {"llc_colors", K::list, no},
    {"nr_spis", K::number, no},
    {"trap_unmapped_accesses", K::boolean, no},
    {"arm_sci", K::string, no},
    // x86
    {"mca_caps", K::list, no},
    {"msr_relaxed", K::boolean, no},
    // xenolith extensions (not in xl.cfg(5); src/toolstack/config/README.md)
    {"global_virqs", K::list, yes},
    {"start_after", K::string_or_list, yes},  // xenolith-domains: start/stop order
};

struct XmHint {
    std::string_view key;
    std::string_view hint;
};

constexpr std::string_view kIpHint =
    "xm built the kernel's ip= argument from it; put ip=... into extra= instead";

constexpr XmHint kXmHints[] = {
    {"nics", "xl creates one network interface per vif= entry"},
    {"ip", kIpHint},
    {"netmask", kIpHint},
    {"gateway", kIpHint},
    {"hostname", kIpHint},
    {"dhcp", kIpHint},
    {"interface", kIpHint},
    {"bootargs", "use bootloader_args=[...]"},
    {"cpu", "use cpus=\"N\""},
    {"cpu_cap", "use cap="},
    {"vcpu_avail", "use vcpus= and maxvcpus="},
    {"irq", "use irqs=[...]"},
    {"blkif", "use driver_domain=1"},
    {"netif", "use driver_domain=1"},
    {"tpmif", "use driver_domain=1"},
    {"security", "use seclabel="},
    {"on_xend_start", "there is no xend; start domains from your init system"},
    {"on_xend_stop", "there is no xend; stop domains from your init system"},
    {"vncconsole", "use xl create -V"},
};

const std::vector<const KeyInfo*>& sorted_keys() {
    static const std::vector<const KeyInfo*> sorted = [] {
        std::vector<const KeyInfo*> v;
        for (const auto& k : kKeys) v.push_back(&k);
        std::sort(v.begin(), v.end(),
                  [](const KeyInfo* a, const KeyInfo* b) { return a->name < b->name; });
        return v;
    }();
    return sorted;
}

// Edit distance, giving up (returning limit + 1) once it must exceed limit.
std::size_t bounded_distance(std::string_view a, std::string_view b, std::size_t limit) {
    if ((a.size() > b.size() ? a.size() - b.size() : b.size() - a.size()) > limit) return limit + 1;
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        std::size_t row_min = cur[0];
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
            row_min = std::min(row_min, cur[j]);
        }
        if (row_min > limit) return limit + 1;
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace

std::string_view to_string(KeyKind kind) {
    switch (kind) {
    case K::string: return "string";
    case K::number: return "number";
    case K::boolean: return "boolean";
    case K::list: return "list";
    case K::string_or_list: return "string or list";
    case K::number_or_string: return "number or string";
    case K::boolean_or_list: return "boolean or list";
    case K::list_of_lists: return "list of lists";
    }
    return "?";
}

std::span<const KeyInfo> known_keys() { return kKeys; }

const KeyInfo* find_key(std::string_view name) {
    const auto& v = sorted_keys();
    auto it = std::lower_bound(v.begin(), v.end(), name,
                               [](const KeyInfo* k, std::string_view n) { return k->name < n; });
    if (it != v.end() && (*it)->name == name) return *it;
    return nullptr;
}

std::string_view suggest_key(std::string_view unknown) {
    constexpr std::size_t kMaxLength = 40;
    if (unknown.size() > kMaxLength) return {};
    // One edit for short names, two for longer ones.
    const std::size_t limit = unknown.size() <= 4 ? 1 : 2;
    std::string_view best;
    std::size_t best_distance = limit + 1;
    for (const auto& k : kKeys) {
        const std::size_t d = bounded_distance(unknown, k.name, limit);
        if (d < best_distance) {
            best_distance = d;
            best = k.name;
        }
    }
    return best;
}

std::string_view xm_key_hint(std::string_view name) {
    for (const auto& h : kXmHints) {
        if (h.key == name) return h.hint;
    }
    return {};
}

}  // namespace xenolith::config
