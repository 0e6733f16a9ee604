# Exported classifiers and embedding models judged by onnx.checker and
# ONNX Runtime (tests/export_check.py): same outputs as supcon within 1e-4
# and the same test-set accuracy.  Label `reference`, like the other
# checks that need Python or node.
set(SUPCON_ORT_DIR ${CMAKE_BINARY_DIR}/ort CACHE PATH
    "Prefix where tools/install-ort.sh installed onnxruntime-node")

if(DEBIAN_PYTHON AND NODE)
  add_test(NAME export_ort
    COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/export_check.py
            --supcon $<TARGET_FILE:supcon> --ort ${SUPCON_ORT_DIR} --node ${NODE}
            --work ${SUPCON_TEST_WORK}/export)
  set_tests_properties(export_ort PROPERTIES LABELS reference TIMEOUT 900)
else()
  add_test(NAME export_ort COMMAND ${CMAKE_COMMAND} -E echo
           "export_ort: needs /usr/bin/python3 and node")
  set_tests_properties(export_ort PROPERTIES
    FAIL_REGULAR_EXPRESSION "export_ort: " LABELS reference)
endif()
