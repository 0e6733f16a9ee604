# Round trip through onnx_save_file, judged by other tools.
#
# test_roundtrip (the cmocka program) saves every official ONNX test model it
# can load into ${SUPCON_TEST_WORK}/roundtrip; then
#   roundtrip_checker    onnx.checker, and a field-by-field comparison with
#                        the original read by onnx's own decoder;
#   roundtrip_ort_inputs converts the test inputs to JSON for node;
#   roundtrip_ort        ONNX Runtime's outputs on each saved model must be
#                        bitwise those on its original.
# The roundtrip_torchvision* tests do the same for the torchvision exports
# of cli.cmake (real exporter output: large initializers, external data,
# opsets 7-17), with generated inputs.
#
# The minimum counts are what the suite gives today (1072 saved, 973
# compared by ONNX Runtime 1.30) minus a margin, so a change that quietly
# stops saving or comparing most models fails instead of passing on nothing.
# The Python and node checks carry the label `reference`, like the other
# reference checks, so that the sanitizer build can leave them out.

set(SUPCON_ORT_DIR ${CMAKE_BINARY_DIR}/ort CACHE PATH
    "Prefix where tools/install-ort.sh installed onnxruntime-node")

set(ROUNDTRIP_WORK ${SUPCON_TEST_WORK}/roundtrip)
set(ROUNDTRIP_ORT_CASES ${SUPCON_TEST_WORK}/roundtrip_ort_cases.json)

set_tests_properties(test_roundtrip PROPERTIES
  FIXTURES_SETUP roundtrip_models
  TIMEOUT 600)

if(NOT EXISTS ${SUPCON_ORT_DIR}/node_modules/onnxruntime-node)
  message(STATUS "onnxruntime-node is not in ${SUPCON_ORT_DIR}: the roundtrip ORT "
                 "tests will fail until tools/install-ort.sh ${SUPCON_ORT_DIR} is run")
endif()

# A test that exists, fails, and says why: better than a test that silently
# disappears when a tool is missing.
function(roundtrip_missing_tool_test name fixture message)
  add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E echo "${name}: ${message}")
  set_tests_properties(${name} PROPERTIES
    FAIL_REGULAR_EXPRESSION "${name}: "
    FIXTURES_REQUIRED ${fixture}
    LABELS reference)
endfunction()

# NAME_checker, NAME_ort_inputs and NAME_ort on what fixture FIXTURE saved;
# SOURCE_ARGS tells the Python scripts where the models are.
function(roundtrip_judges name fixture min_checked min_compared)
  set(source_args ${ARGN})
  set(cases ${SUPCON_TEST_WORK}/${name}_ort_cases.json)
  if(NOT DEBIAN_PYTHON)
    roundtrip_missing_tool_test(${name}_checker ${fixture}
      "/usr/bin/python3 not found; run tools/install-deps.sh")
    roundtrip_missing_tool_test(${name}_ort_inputs ${fixture}
      "/usr/bin/python3 not found; run tools/install-deps.sh")
  else()
    add_test(NAME ${name}_checker
      COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/roundtrip_check.py
              ${source_args} --min-checked ${min_checked})
    add_test(NAME ${name}_ort_inputs
      COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/pb_to_json.py
              ${source_args} --out ${cases})
    set_tests_properties(${name}_checker ${name}_ort_inputs PROPERTIES
      FIXTURES_REQUIRED ${fixture}
      LABELS reference
      TIMEOUT 600)
  endif()
  set_tests_properties(${name}_ort_inputs PROPERTIES
    FIXTURES_SETUP ${name}_ort_inputs)

  if(NOT NODE)
    roundtrip_missing_tool_test(${name}_ort ${fixture} "node not found; install nodejs")
  else()
    # ort_compare.js looks for the module when it runs, so installing it
    # after configuring is enough; its message names tools/install-ort.sh.
    add_test(NAME ${name}_ort
      COMMAND ${NODE} ${CMAKE_CURRENT_SOURCE_DIR}/ort_compare.js
              --cases ${cases} --ort ${SUPCON_ORT_DIR}
              --min-compared ${min_compared})
    set_tests_properties(${name}_ort PROPERTIES
      FIXTURES_REQUIRED "${fixture};${name}_ort_inputs"
      LABELS reference
      TIMEOUT 600)
  endif()
endfunction()

roundtrip_judges(roundtrip roundtrip_models 1000 900
  --work ${ROUNDTRIP_WORK} --testdata ${ONNX_TESTDATA})

# The torchvision exports exist only where cli.cmake declares them.
if(TEST export_resnet50_op13)
  set(tv_dir ${SUPCON_TEST_WORK}/torchvision)
  set(tv_saved ${SUPCON_TEST_WORK}/roundtrip-torchvision)
  set(tv_models resnet50_op13 resnet18_op7_folded resnet18_op9
                resnet18_op11_external resnet18_op17_folded)
  set(tv_paths)
  set(tv_pairs)
  foreach(name ${tv_models})
    if(name STREQUAL "resnet18_op11_external")
      set(path ${tv_dir}/${name}/model.onnx)
    else()
      set(path ${tv_dir}/${name}.onnx)
    endif()
    list(APPEND tv_paths ${path})
    list(APPEND tv_pairs --pair ${path} ${tv_saved}/${name}.onnx)
  endforeach()

  add_test(NAME roundtrip_torchvision
    COMMAND $<TARGET_FILE:test_roundtrip> --models ${tv_saved} ${tv_paths})
  set_tests_properties(roundtrip_torchvision PROPERTIES
    FIXTURES_REQUIRED torchvision
    FIXTURES_SETUP roundtrip_torchvision
    LABELS reference
    TIMEOUT 600)
  list(LENGTH tv_models tv_count)
  roundtrip_judges(roundtrip_torchvision roundtrip_torchvision
    ${tv_count} ${tv_count} ${tv_pairs})
endif()
