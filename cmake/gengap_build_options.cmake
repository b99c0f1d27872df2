# Warnings and sanitizers for gengap's own targets (library, cli, tests,
# benchmarks); third-party headers come in through imported targets, which
# CMake includes as SYSTEM, so their warnings stay out.

option(GENGAP_WARNINGS_AS_ERRORS "Add -Werror to gengap's own targets" OFF)
set(GENGAP_SANITIZE "" CACHE STRING
    "Sanitizers compiled and linked into every gengap target, a list: address;undefined (empty: none)")

# -fsanitize=a,b,... with frame pointers (readable ASan stacks); UBSan findings
# abort, so a test that hits undefined behaviour fails instead of printing on.
set(GENGAP_SANITIZE_FLAGS "")
if(GENGAP_SANITIZE)
  foreach(sanitizer IN LISTS GENGAP_SANITIZE)
    if(NOT sanitizer MATCHES "^(address|undefined|leak|thread)$")
      message(FATAL_ERROR "GENGAP_SANITIZE: unknown sanitizer '${sanitizer}' (expected address, undefined, leak, thread)")
    endif()
  endforeach()
  if("thread" IN_LIST GENGAP_SANITIZE AND ("address" IN_LIST GENGAP_SANITIZE OR "leak" IN_LIST GENGAP_SANITIZE))
    message(FATAL_ERROR "GENGAP_SANITIZE: thread cannot be combined with address or leak")
  endif()
  list(JOIN GENGAP_SANITIZE "," joined)
  list(APPEND GENGAP_SANITIZE_FLAGS "-fsanitize=${joined}" -fno-omit-frame-pointer)
  if("undefined" IN_LIST GENGAP_SANITIZE)
    list(APPEND GENGAP_SANITIZE_FLAGS -fno-sanitize-recover=undefined)
  endif()
  message(STATUS "gengap: sanitizers ${joined}")
endif()

# gengap_warnings(target...): the library's warning set on each target, and
# -Werror with GENGAP_WARNINGS_AS_ERRORS.
function(gengap_warnings)
  foreach(target IN LISTS ARGN)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(GENGAP_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endforeach()
endfunction()
