// One bit per guest frame that was written since the last look: what a
// live migration's next round must send again.
//
// KVM logs the guest's own writes per memory slot; writes made on the
// guest's behalf outside KVM (a back-end filling a granted page, a grant
// copy, a frame ballooned in or out) never reach KVM's log, and are marked
// here instead, from any thread. A round merges both.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace xenolith {

class DirtyBitmap {
public:
    // Covers frames [0, frames). Marks beyond that are ignored: the
    // bitmap is sized for every frame a save can send.
    explicit DirtyBitmap(std::uint64_t frames);

    std::uint64_t frames() const { return frames_; }

    // Thread-safe, lock-free.
    void mark(std::uint64_t gfn);
    void mark_range(std::uint64_t gfn, std::uint64_t count);

    // The marked frames in increasing order; clears them. A mark racing
    // with take() lands either in this answer or in the next one.
    std::vector<std::uint64_t> take();
    // Adds the set bits of `bits` (little-endian words, bit i = frame
    // first + i), as KVM_GET_DIRTY_LOG hands a slot's log back.
    void merge_words(std::uint64_t first, const std::uint64_t* bits, std::uint64_t count);

private:
    std::uint64_t frames_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
    std::uint64_t nwords_;
};

}  // namespace xenolith
