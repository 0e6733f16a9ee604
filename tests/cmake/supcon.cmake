# ai.supcon SupConLoss judged by other tools.  test_supcon_loss (the cmocka
# program) checks the fused kernel, its gradient and the FunctionProto body
# in our own runtime, and writes models that call SupConLoss, with their
# inputs and the fused kernel's outputs, into ${SUPCON_TEST_WORK}/supcon;
# then
#   supcon_ort      ONNX Runtime, which has no ai.supcon kernel and so runs
#                   the FunctionProto body the saver attached, must give
#                   the fused kernel's outputs (tests/supcon_ort.js);
#   supcon_checker  onnx.checker (full_check) accepts the models and onnx's
#                   shape inference infers the output through the body
#                   (tests/supcon_check.py).
# Both carry the label `reference`, like the other reference checks, so that
# the sanitizer build can leave them out.  A missing tool makes the test
# fail and say why rather than disappear.

set(SUPCON_ORT_DIR ${CMAKE_BINARY_DIR}/ort CACHE PATH
    "Prefix where tools/install-ort.sh installed onnxruntime-node")
set(SUPCON_CASES ${SUPCON_TEST_WORK}/supcon/cases.json)
set(SUPCON_MIN_CASES 10)

set_tests_properties(test_supcon_loss PROPERTIES FIXTURES_SETUP supcon_cases)

function(supcon_missing_tool_test name message)
  add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E echo "${name}: ${message}")
  set_tests_properties(${name} PROPERTIES
    FAIL_REGULAR_EXPRESSION "${name}: "
    FIXTURES_REQUIRED supcon_cases
    LABELS reference)
endfunction()

if(NODE)
  add_test(NAME supcon_ort
    COMMAND ${NODE} ${CMAKE_CURRENT_SOURCE_DIR}/supcon_ort.js
            --ort ${SUPCON_ORT_DIR} --cases ${SUPCON_CASES}
            --min-cases ${SUPCON_MIN_CASES})
  set_tests_properties(supcon_ort PROPERTIES
    FIXTURES_REQUIRED supcon_cases
    LABELS reference
    TIMEOUT 300)
else()
  supcon_missing_tool_test(supcon_ort "node not found; install nodejs")
endif()

if(DEBIAN_PYTHON)
  add_test(NAME supcon_checker
    COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/supcon_check.py
            --cases ${SUPCON_CASES} --min-cases ${SUPCON_MIN_CASES})
  set_tests_properties(supcon_checker PROPERTIES
    FIXTURES_REQUIRED supcon_cases
    LABELS reference
    TIMEOUT 300)
else()
  supcon_missing_tool_test(supcon_checker
    "/usr/bin/python3 not found; run tools/install-deps.sh")
endif()
