// Writes the fuzz_loader seed corpus: small PVH ELFs and bzImages in every
// payload codec. Usage: loader_make_seeds <dir>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "image_builder.hpp"

using namespace xenolith::loader::testing;

namespace {

void write(const std::filesystem::path& dir, const std::string& name, const Bytes& b) {
    std::ofstream(dir / name, std::ios::binary)
        .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: loader_make_seeds <dir>\n";
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    write(dir, "elf64-pvh", pvh_kernel(true, "FreeBSD").build());
    write(dir, "elf32-pvh-section-notes",
          pvh_kernel(false, "Mini-OS").note_placement(NotePlacement::section_only).build());
    write(dir, "elf64-linux-old-hypercall-page", linux_elf(true, RetStyle::ret, true));
    write(dir, "elf32-linux-direct-ret", linux_elf(false, RetStyle::ret_int3));
    const Bytes linux64 = linux_elf(true, RetStyle::return_thunk);
    write(dir, "elf64-linux-direct-thunk", linux64);
    write(dir, "elf64-linux-direct-endbr", linux_elf(true, RetStyle::return_thunk, false, true));
    struct {
        const char* name;
        Bytes (*compress)(const Bytes&);
    } codecs[] = {{"gzip", gzip_compress},      {"xz", xz_compress},     {"lzma", lzma_compress},
                  {"lz4", lz4_legacy_compress}, {"zstd", zstd_compress}, {"bzip2", bzip2_compress}};
    for (const auto& c : codecs) {
        BzImageSpec spec;
        spec.setup_sects = 1;  // keep the seeds small
        spec.uncompressed_size = static_cast<std::uint32_t>(linux64.size());
        write(dir, std::string("bzimage-") + c.name, make_bzimage(c.compress(linux64), spec));
    }
    write(dir, "gzip-elf64", gzip_compress(linux64));
    return 0;
}
