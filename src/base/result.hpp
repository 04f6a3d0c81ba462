// Result<T>: a value or an Error, for paths where failure is expected input
// (config files, images, guest arguments) rather than a bug.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace xenolith {

// A human-readable failure. `what` names the file, key or argument at fault.
struct Error {
    std::string what;
};

inline Error make_error(std::string what) { return Error{std::move(what)}; }

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
    Result(Error err) : v_(std::move(err)) {}          // NOLINT: implicit by design

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace xenolith
