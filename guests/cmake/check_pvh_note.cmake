# Fail the build when a guest ELF lacks the Xen XEN_ELFNOTE_PHYS32_ENTRY
# note (type 18 = 0x12), without which no PVH loader accepts it.
# Usage: cmake -DREADELF=<readelf> -DELF=<file> -P check_pvh_note.cmake
execute_process(COMMAND ${READELF} -n ${ELF}
  OUTPUT_VARIABLE notes RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf -n ${ELF} failed")
endif()
if(NOT notes MATCHES "Xen[ \t]+0x0*4[ \t]+[^\n]*(\\(0x0*12\\)|PHYS32_ENTRY)")
  message(FATAL_ERROR "${ELF}: no Xen PHYS32_ENTRY note (type 0x12)")
endif()
