# The CLI is a client of the public C API and uses nothing private
# (issue 10).  bin/supcon links libsupcon.a, whose only global symbols are
# supcon_*, so the linker already refuses private calls; this test also
# holds the sources to it (and covers the fuzz build, whose CLI links
# supcon_core): no tools/*.c or tools/*.h may include a runtime/, onnx/,
# ops/ or models/ header other than runtime/supcon.h, nor oneDNN.
# check_api_only.cmake is the check; the self-test runs it on a file
# that breaks the rule and must see it fail.
add_test(NAME cli_uses_api_only
  COMMAND ${CMAKE_COMMAND} -DDIR=${CMAKE_SOURCE_DIR}/tools
          -P ${CMAKE_CURRENT_SOURCE_DIR}/cmake/check_api_only.cmake)
set(API_ONLY_BAD ${SUPCON_TEST_WORK}/api_only_bad)
file(MAKE_DIRECTORY ${API_ONLY_BAD})
file(WRITE ${API_ONLY_BAD}/cmd_bad.c
  "/* a command that reaches past the public API */\n"
  "#include \"cli.h\"\n#include <stdio.h>\n#include \"runtime/graph.h\"\n")
add_test(NAME cli_uses_api_only_selftest
  COMMAND ${CMAKE_COMMAND} -DDIR=${API_ONLY_BAD}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/cmake/check_api_only.cmake)
set_tests_properties(cli_uses_api_only_selftest PROPERTIES WILL_FAIL TRUE)
