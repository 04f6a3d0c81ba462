// Writes seeds/domain-image for migration_stream_fuzz mode 5: a small saved
// domain written by xenolith's own ImageWriter (make_seeds.py lays out the
// other layers by hand; a whole image with a valid HVM context is easier
// to get right from the writer the daemon uses).
//   ninja -C build-fuzz migration_seed_writer
//   build-fuzz/tests/fuzz/migration/migration_seed_writer tests/fuzz/migration/seeds/domain-image
#include <cstdint>
#include <cstdio>
#include <cstring>

extern "C" {
#include <xen/hvm/params.h>
}

#include "save/domain_image.hpp"
#include "save/page_sender.hpp"

using namespace xenolith;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s OUTPUT\n", argv[0]);
        return 2;
    }
    auto memory = GuestMemory::create(4 << 20, "seed", 8 << 20);
    if (!memory) return 1;
    GuestMemory& m = **memory;
    // A few frames populated, two ballooned out: a small seed of every kind.
    for (std::uint64_t gfn = 4; gfn < 1024; ++gfn) m.remove_page(gfn);
    std::memset(m.host_ptr(0x1000, kPageSize), 0xab, kPageSize);

    save::DomainState s;
    s.hvm_header.gtsc_khz = 2000000;
    s.vcpus.resize(2);
    for (auto& v : s.vcpus) v.sregs.cr0 = 0x60000010;
    s.vcpus[0].regs.rip = 0x100000;
    s.vcpus[0].regs.rflags = 2;
    s.vcpus[1].online = false;
    s.params = {{HVM_PARAM_STORE_PFN, m.special_page_gpa(kXenstoreSpecialPage) >> kPageShift},
                {HVM_PARAM_CONSOLE_PFN, m.special_page_gpa(kConsoleSpecialPage) >> kPageShift}};
    s.tsc = {0, 2000000, 5, 1};

    migration::VectorSink sink;
    save::ImageWriter writer(sink);
    if (!writer.write_headers(std::string(R"({"c_info":{"type":"pvh","name":"g"}})"))) return 1;
    save::PageSender pages(m, sink);
    const std::uint64_t gfns[] = {0, 1, 2, 3, 4, 5, m.special_page_gpa(0) >> kPageShift,
                                  m.special_page_gpa(1) >> kPageShift};
    if (!pages.send(gfns)) return 1;
    if (auto st = writer.write_state(s); !st) {
        std::fprintf(stderr, "%s\n", st.error().what.c_str());
        return 1;
    }
    const auto bytes = sink.take();
    std::FILE* f = std::fopen(argv[1], "wb");
    if (!f) return 1;
    std::fputc(5, f);  // the fuzz target's mode byte
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    return std::fclose(f) == 0 ? 0 : 1;
}
