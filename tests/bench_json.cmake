# vits-bench --json ends with one line holding a JSON object that has every
# figure the README and the issue name, each a number: run it briefly
# (--quick --reps 1; the figures themselves are not judged here) and check
# the keys. Usage: cmake -DBENCH=path/to/vits-bench -P bench_json.cmake
execute_process(COMMAND ${BENCH} --quick --reps 1 --json
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "vits-bench exited with ${rc}")
endif()
string(STRIP "${out}" out)
string(REGEX MATCH "[^\n]*$" last "${out}")
set(keys int_ns mapti_ns mapd_ns movi_ns inv_ns invall_small_ns invall_large_ns
    movall_small_ns msi_ns_1 msi_ns_1m route_ns_1 route_ns_1m floor_ns_1m msi_per_s_1t
    msi_per_s_2t msi_speedup_2t bytes_per_event bytes_per_device msi_ns_1m_pending
    route_ns_1m_pending msi_1m_over_1 msi_1m_over_floor mapti_sync_ns page_fault_ns)
foreach(k ${keys})
  string(JSON v ERROR_VARIABLE err GET "${last}" ${k})
  if(err)
    message(FATAL_ERROR "key ${k}: ${err}\nlast line: ${last}")
  endif()
  if(NOT v MATCHES "^[0-9]+(\\.[0-9]+)?$" OR v EQUAL 0)
    message(FATAL_ERROR "key ${k} is not a positive number: ${v}")
  endif()
endforeach()
list(LENGTH keys n)
message(STATUS "vits-bench --json: the ${n} keys checked are positive numbers")
