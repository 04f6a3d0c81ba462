#include "memory/dirty_bitmap.hpp"

#include <bit>

namespace xenolith {

DirtyBitmap::DirtyBitmap(std::uint64_t frames)
    : frames_(frames), words_(new std::atomic<std::uint64_t>[(frames + 63) / 64]), nwords_((frames + 63) / 64) {
    for (std::uint64_t i = 0; i < nwords_; ++i) words_[i].store(0, std::memory_order_relaxed);
}

void DirtyBitmap::mark(std::uint64_t gfn) {
    if (gfn >= frames_) return;
    words_[gfn / 64].fetch_or(std::uint64_t{1} << (gfn % 64), std::memory_order_relaxed);
}

void DirtyBitmap::mark_range(std::uint64_t gfn, std::uint64_t count) {
    if (gfn >= frames_) return;
    if (count > frames_ - gfn) count = frames_ - gfn;
    while (count != 0) {
        const unsigned bit = static_cast<unsigned>(gfn % 64);
        const std::uint64_t n = count < 64 - bit ? count : 64 - bit;
        const std::uint64_t mask = (n == 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << n) - 1)) << bit;
        words_[gfn / 64].fetch_or(mask, std::memory_order_relaxed);
        gfn += n;
        count -= n;
    }
}

std::vector<std::uint64_t> DirtyBitmap::take() {
    std::vector<std::uint64_t> out;
    for (std::uint64_t i = 0; i < nwords_; ++i) {
        if (words_[i].load(std::memory_order_relaxed) == 0) continue;
        std::uint64_t w = words_[i].exchange(0, std::memory_order_acq_rel);
        while (w != 0) {
            out.push_back(i * 64 + static_cast<unsigned>(std::countr_zero(w)));
            w &= w - 1;
        }
    }
    return out;
}

void DirtyBitmap::merge_words(std::uint64_t first, const std::uint64_t* bits, std::uint64_t count) {
    for (std::uint64_t w = 0; w * 64 < count; ++w) {
        std::uint64_t word = bits[w];
        if (count - w * 64 < 64) word &= (std::uint64_t{1} << (count - w * 64)) - 1;
        while (word != 0) {
            mark(first + w * 64 + static_cast<unsigned>(std::countr_zero(word)));
            word &= word - 1;
        }
    }
}

}  // namespace xenolith
