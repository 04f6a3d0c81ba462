// Guest-visible xenstore errors. Each value is an errno from the xsd_errors
// table of xs_wire.h; it travels on the wire as its name ("EINVAL").
// Internal failures use base/result.hpp instead.
#pragma once

#include <cerrno>
#include <string_view>
#include <utility>
#include <variant>

namespace xenolith::xenstore {

enum class XsErr : int {
    ok = 0,
    inval = EINVAL,
    acces = EACCES,
    exist = EEXIST,
    isdir = EISDIR,
    noent = ENOENT,
    nomem = ENOMEM,
    nospc = ENOSPC,
    io = EIO,
    notempty = ENOTEMPTY,
    nosys = ENOSYS,
    rofs = EROFS,
    busy = EBUSY,
    again = EAGAIN,
    isconn = EISCONN,
    toobig = E2BIG,
    perm = EPERM,
};

// The wire name of `e` from xs_wire.h's table ("EINVAL" for anything the
// table lacks, as C xenstored does).
std::string_view error_name(XsErr e);

// A value or a guest-visible error (std::expected is C++23).
template <class T>
class [[nodiscard]] XsResult {
public:
    XsResult(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    XsResult(XsErr err) : v_(err) {}             // NOLINT: implicit by design

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    XsErr error() const { return ok() ? XsErr::ok : std::get<1>(v_); }

private:
    std::variant<T, XsErr> v_;
};

}  // namespace xenolith::xenstore
