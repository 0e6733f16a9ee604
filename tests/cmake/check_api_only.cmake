# cmake -DDIR=tools -P check_api_only.cmake: fails naming every file of
# DIR (*.c, *.h) that includes a library header other than the public
# runtime/supcon.h (runtime/, onnx/, ops/, models/, or a path climbing out
# of DIR), or oneDNN.  Not a test fragment: tests/cmake/api_only.cmake
# runs it.  (Named check_*.cmake, it is still globbed by
# tests/CMakeLists.txt; it does nothing when included without DIR.)
if(NOT DEFINED DIR)
  return()
endif()
file(GLOB sources ${DIR}/*.c ${DIR}/*.h)
if(NOT sources)
  message(FATAL_ERROR "check_api_only: no sources in ${DIR}")
endif()
set(bad "")
foreach(src ${sources})
  file(STRINGS ${src} lines REGEX "^[ \t]*#[ \t]*include")
  foreach(line ${lines})
    if(line MATCHES "[\"<](runtime|onnx|ops|models)/([^\">]*)[\">]")
      if(NOT "${CMAKE_MATCH_1}/${CMAKE_MATCH_2}" STREQUAL "runtime/supcon.h")
        list(APPEND bad "${src}: ${line}")
      endif()
    elseif(line MATCHES "[\"<]\\.\\./" OR line MATCHES "[\"<]dnnl")
      list(APPEND bad "${src}: ${line}")
    endif()
  endforeach()
endforeach()
if(bad)
  list(JOIN bad "\n  " text)
  message(FATAL_ERROR "the CLI may include only runtime/supcon.h of the "
                      "library:\n  ${text}")
endif()
list(LENGTH sources n)
message(STATUS "check_api_only: ${n} files of ${DIR} use the public API only")
