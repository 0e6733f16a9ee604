# ONNX conformance: tests/conformance.c runs every official backend test case
# under ${ONNX_TESTDATA}/{node,pytorch-converted,pytorch-operator,simple}
# through the engine and prints passed/failed/unsupported counts per op.
#
#   conformance           every case listed in tests/conformance_expected.txt
#                         must pass; cases that pass without being listed
#                         are reported, not failed.  Regenerate the list
#                         with tests/update_conformance_expected.sh.
#   conformance_selftest  the comparison itself (ONNX's rtol/atol rule) on
#                         hand-picked values and on perturbed copies of the
#                         suite's own tensors: a runner whose comparison
#                         accepts anything would pass everything.
#
# It is a plain program, not a cmocka test, so it is declared here rather
# than picked up by the test_*.c glob.  Both carry the label `conformance`
# (ctest -L conformance).

add_executable(conformance ${CMAKE_CURRENT_SOURCE_DIR}/conformance.c)
target_include_directories(conformance PRIVATE ${CMAKE_BINARY_DIR}/gen)
target_link_libraries(conformance PRIVATE supcon_core)
target_compile_definitions(conformance PRIVATE
  SUPCON_BIN="$<TARGET_FILE:supcon>"
  ONNX_TESTDATA="${ONNX_TESTDATA}"
  SUPCON_TEST_DATA="${SUPCON_TEST_DATA}"
  SUPCON_TEST_WORK="${SUPCON_TEST_WORK}")

add_test(NAME conformance
  COMMAND conformance
          --expected ${CMAKE_CURRENT_SOURCE_DIR}/conformance_expected.txt)
add_test(NAME conformance_selftest COMMAND conformance --selftest)
set_tests_properties(conformance conformance_selftest PROPERTIES
  LABELS conformance
  WORKING_DIRECTORY ${SUPCON_TEST_WORK}
  TIMEOUT 1800)
