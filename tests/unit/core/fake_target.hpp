// A domain stand-in for event-channel tests: shared_info (one page, in the
// layout the test sets) and vcpu_info in plain memory, upcalls and poller wake-ups counted, and a few guest frames
// (gfn kFirstGfn .. kFirstGfn + kFrames - 1) for FIFO control blocks and
// event arrays.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "evtchn/event_channels.hpp"
#include "evtchn/two_level.hpp"

namespace xenolith::test {

class FakeTarget : public evtchn::EventTarget {
public:
    explicit FakeTarget(domid_t id, unsigned vcpus = 2) : upcalls(vcpus), id_(id), vcpus_(vcpus) {}
    domid_t domid() const override { return id_; }
    unsigned max_vcpus() const override { return vcpus_; }
    shared_info_t* shared_info() override { return &shared_; }
    vcpu_info_t* vcpu_info(unsigned v) override {
        return v < XEN_LEGACY_MAX_VCPUS ? &shared_.vcpu_info[v] : nullptr;
    }
    evtchn::SharedInfoLayout shared_info_layout() const override { return layout; }
    void raise_upcall(unsigned v) override { ++upcalls.at(v); }
    void notify_pollers(unsigned) override { ++poller_wakeups; }
    std::uint8_t* guest_frame(std::uint64_t gfn) override {
        if (gfn < kFirstGfn || gfn >= kFirstGfn + kFrames) return nullptr;
        return frames_[gfn - kFirstGfn].bytes;
    }

    static constexpr std::uint64_t kFirstGfn = 0x100;
    static constexpr unsigned kFrames = 8;

    // What a guest's upcall handler does: clear the flags, collect ports.
    std::vector<unsigned> take_pending(unsigned v = 0) {
        std::vector<unsigned> ports;
        vcpu_info_t* vi = vcpu_info(v);
        vi->evtchn_upcall_pending = 0;
        xen_ulong_t sel = vi->evtchn_pending_sel;
        vi->evtchn_pending_sel = 0;
        for (unsigned w = 0; w < 64; ++w) {
            if (!(sel & (xen_ulong_t{1} << w))) continue;
            xen_ulong_t bits = shared_.evtchn_pending[w] & ~shared_.evtchn_mask[w];
            for (unsigned b = 0; b < 64; ++b)
                if (bits & (xen_ulong_t{1} << b)) {
                    ports.push_back(w * 64 + b);
                    shared_.evtchn_pending[w] &= ~(xen_ulong_t{1} << b);
                }
        }
        return ports;
    }
    void mask(unsigned port) { shared_.evtchn_mask[port / 64] |= xen_ulong_t{1} << (port % 64); }
    bool pending(unsigned port) const {
        return shared_.evtchn_pending[port / 64] & (xen_ulong_t{1} << (port % 64));
    }

    // The shared_info page as bytes, for tests that check the compat
    // layout at hand-computed offsets.
    std::uint8_t* page() { return page_.bytes; }
    const std::uint8_t* page() const { return page_.bytes; }

    std::vector<unsigned> upcalls;
    unsigned poller_wakeups = 0;
    evtchn::SharedInfoLayout layout = evtchn::SharedInfoLayout::native64;

private:
    struct alignas(4096) Frame {
        std::uint8_t bytes[4096];
    };

    domid_t id_;
    unsigned vcpus_;
    Frame page_{};  // the shared_info page
    shared_info_t& shared_ = *reinterpret_cast<shared_info_t*>(page_.bytes);
    std::vector<Frame> frames_ = std::vector<Frame>(kFrames);
};

// The registry the tables of a test find each other through: add(domid,
// target) makes a 2-level table for it (or domain 0's, with no target).
class FakeDomains : public evtchn::Registry {
public:
    std::shared_ptr<evtchn::EventChannels> find(domid_t d) override {
        auto it = tables.find(d);
        return it == tables.end() ? nullptr : it->second;
    }
    std::shared_ptr<evtchn::EventChannels> add(domid_t d, FakeTarget* t,
                                               unsigned max_ports = 1024) {
        auto table = t ? std::make_shared<evtchn::EventChannels>(
                             d, t, std::make_unique<evtchn::TwoLevelDelivery>(), *this, max_ports)
                       : std::make_shared<evtchn::EventChannels>(d, nullptr, nullptr, *this,
                                                                 max_ports);
        tables[d] = table;
        return table;
    }
    std::map<domid_t, std::shared_ptr<evtchn::EventChannels>> tables;
};

}  // namespace xenolith::test
