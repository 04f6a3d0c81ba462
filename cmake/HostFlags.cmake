# Flags for everything that runs on the host (daemon, xl, tests). The
# freestanding guests have their own flags and never link this.
add_library(xenolith_host_flags INTERFACE)
target_compile_options(xenolith_host_flags INTERFACE
  -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Wunused -Woverloaded-virtual -Wpedantic -Wnull-dereference
  -Wimplicit-fallthrough -Wformat=2)
target_compile_definitions(xenolith_host_flags INTERFACE
  __XEN_TOOLS__=1 __XEN_INTERFACE_VERSION__=0x00040e00)
if(XENOLITH_SANITIZE)
  target_compile_options(xenolith_host_flags INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(xenolith_host_flags INTERFACE -fsanitize=address,undefined)
endif()

# Fuzzing builds instrument every library for coverage; each target under
# tests/fuzz links libFuzzer's main itself.
if(XENOLITH_FUZZ AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  target_compile_options(xenolith_host_flags INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  target_link_options(xenolith_host_flags INTERFACE -fsanitize=address,undefined)
endif()
