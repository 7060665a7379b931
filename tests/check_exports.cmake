# SPDX-License-Identifier: MIT
#
# Check that the shared library exports every function declared in the
# public header, and nothing that is not part of the API (every exported
# symbol starts with vits_).
#
#   cmake -DHEADER=include/vits.h -DLIB=libvits.so -DNM=nm -P check_exports.cmake

cmake_minimum_required(VERSION 3.16)

if(NOT NM)
  find_program(NM NAMES nm llvm-nm)
endif()
foreach(var HEADER LIB NM)
  if(NOT ${var})
    message(FATAL_ERROR "check_exports: ${var} is not set")
  endif()
endforeach()

# Functions of the header: drop the comments, then take every
# "vits_name(" (macros are upper case and struct members are not vits_).
file(READ "${HEADER}" text)
string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" "" text "${text}")
string(REGEX REPLACE "//[^\n]*" "" text "${text}")
string(REGEX MATCHALL "vits_[a-z0-9_]+[ \t\n]*\\(" calls "${text}")
set(declared "")
foreach(c IN LISTS calls)
  string(REGEX REPLACE "[ \t\n]*\\($" "" name "${c}")
  list(APPEND declared ${name})
endforeach()
list(REMOVE_DUPLICATES declared)
list(LENGTH declared n)
if(n LESS 10)
  message(FATAL_ERROR "check_exports: only ${n} functions found in ${HEADER}: ${declared}")
endif()

# Dynamic symbols the library defines ("value type name[@@version]").
execute_process(COMMAND "${NM}" -D --defined-only "${LIB}"
  OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_exports: ${NM} -D --defined-only ${LIB} failed (${rc})")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(exported "")
set(bad "")
foreach(line IN LISTS lines)
  if(NOT line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) ([^ @]+)")
    continue()
  endif()
  set(type "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  if(type STREQUAL "A")
    continue() # a version node (VITS_0), not a symbol
  endif()
  if(NOT name MATCHES "^vits_")
    list(APPEND bad ${name})
  elseif(type MATCHES "^[TtWi]$")
    list(APPEND exported ${name})
  else()
    list(APPEND bad "${name}(type ${type})")
  endif()
endforeach()

set(missing "")
foreach(f IN LISTS declared)
  if(NOT f IN_LIST exported)
    list(APPEND missing ${f})
  endif()
endforeach()
set(extra "")
foreach(f IN LISTS exported)
  if(NOT f IN_LIST declared)
    list(APPEND extra ${f})
  endif()
endforeach()

if(missing OR bad OR extra)
  message(FATAL_ERROR "check_exports: ${LIB}\n"
    "  declared in the header but not exported: ${missing}\n"
    "  exported but not vits_ functions: ${bad}\n"
    "  exported vits_ functions the header does not declare: ${extra}")
endif()
message(STATUS "check_exports: the ${n} functions of ${HEADER} are exported, nothing else")
