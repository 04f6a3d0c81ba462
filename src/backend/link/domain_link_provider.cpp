#include "backend/link/domain_link_provider.hpp"

#include <sys/stat.h>

#include <cerrno>

#include <fmt/format.h>

#include "grant/grant_table.hpp"
#include "memory/guest_memory.hpp"

namespace xenolith::backend::link {
namespace {

// A cookie names a map handle, or a copy pin: ref and kind.
constexpr LinkProvider::Cookie kCopyBit = LinkProvider::Cookie{1} << 63;
constexpr LinkProvider::Cookie kWritableBit = LinkProvider::Cookie{1} << 62;

}  // namespace

Result<std::unique_ptr<DomainLinkProvider>> DomainLinkProvider::create(
    domid_t self, domid_t frontend, grant::DomainLookup lookup, unsigned max_maptrack_frames,
    evtchn::EventChannels& host, std::shared_ptr<evtchn::EventChannels> guest) {
    std::optional<grant::ForeignDomain> dom = lookup(frontend);
    if (!dom || !dom->memory || !dom->table || !guest)
        return make_error(fmt::format("link: no domain {}", frontend));
    struct stat st {};
    if (::fstat(dom->memory->memfd(), &st) != 0 || st.st_size <= 0)
        return make_error(fmt::format("link: d{} memory: {}", frontend, std::strerror(errno)));
    const auto bytes = static_cast<std::uint64_t>(st.st_size) / kXenPageSize * kXenPageSize;
    return std::unique_ptr<DomainLinkProvider>(new DomainLinkProvider(
        self, std::move(*dom), std::move(lookup), max_maptrack_frames, host, std::move(guest), bytes));
}

DomainLinkProvider::DomainLinkProvider(domid_t self, grant::ForeignDomain frontend,
                                       grant::DomainLookup lookup, unsigned max_maptrack_frames,
                                       evtchn::EventChannels& host,
                                       std::shared_ptr<evtchn::EventChannels> guest,
                                       std::uint64_t memory_bytes)
    : self_(self), frontend_(std::move(frontend)), lookup_(lookup),
      mapper_(self, max_maptrack_frames, std::move(lookup)), host_(host), guest_(std::move(guest)), memory_bytes_(memory_bytes) {}

// The mapper unmaps whatever is left; ports are the LinkServer's to close.
DomainLinkProvider::~DomainLinkProvider() = default;

int DomainLinkProvider::memory_fd() const { return frontend_.memory->memfd(); }

std::int16_t DomainLinkProvider::acquire(GrantRef ref, bool writable, bool for_copy, Acquired* out) {
    if (!for_copy) {
        grant::Mapping m;
        const std::uint32_t flags = GNTMAP_host_map | (writable ? 0 : GNTMAP_readonly);
        if (std::int16_t st = mapper_.map(frontend_.domid, ref, flags, &m); st != GNTST_okay) return st;
        // The domain's memfd is the one the back-end was given; a mapping of
        // anything else (the domain was replaced under its id) is refused.
        if (m.memfd != memory_fd()) {
            mapper_.unmap(m.handle);
            return GNTST_bad_domain;
        }
        out->page_offset = m.offset;
        out->start = 0;
        out->length = kXenPageSize;
        out->cookie = m.handle;
        return GNTST_okay;
    }
    // acquire_grant_for_copy, held until the back-end's copy is done. The
    // domain is looked up as a map would (gone or replaced: bad_domain).
    std::optional<grant::ForeignDomain> now = lookup_(frontend_.domid);
    if (!now || now->memory != frontend_.memory || now->table != frontend_.table) return GNTST_bad_domain;
    grant::GrantTable::Acquired got;
    if (std::int16_t st = frontend_.table->acquire(ref, self_, !writable, grant::GrantTable::Use::copy,
                                                   *frontend_.memory, &got);
        st != GNTST_okay)
        return st;
    std::optional<std::uint64_t> offset = frontend_.memory->frame_offset(got.gfn);
    if (!offset) {
        frontend_.table->release(ref, !writable, *frontend_.memory);
        return GNTST_bad_page;
    }
    out->page_offset = *offset;
    out->start = got.offset;
    out->length = got.length;
    out->cookie = kCopyBit | (writable ? kWritableBit : 0) | ref;
    return GNTST_okay;
}

void DomainLinkProvider::release(Cookie cookie) {
    if (!(cookie & kCopyBit)) {
        mapper_.unmap(static_cast<grant_handle_t>(cookie));
        return;
    }
    const auto ref = static_cast<grant_ref_t>(cookie & 0xffffffffu);
    frontend_.table->release(ref, !(cookie & kWritableBit), *frontend_.memory);
}

std::pair<Port, int> DomainLinkProvider::bind(DomId remote, Port remote_port,
                                              std::function<void()> on_guest_notify) {
    if (remote != frontend_.domid) return {0, -ESRCH};
    Port local = 0;
    const long rc = host_.bind_host(*guest_, remote_port,
                                    [cb = std::move(on_guest_notify)](Port) { cb(); }, &local);
    if (rc != 0) return {0, static_cast<int>(rc)};
    return {local, 0};
}

int DomainLinkProvider::notify(Port local) { return static_cast<int>(host_.send(local)); }

void DomainLinkProvider::unbind(Port local) { host_.close(local); }

}  // namespace xenolith::backend::link
