# CLI tests: the option parser is linked into test_cli, and `supcon info` is
# compared with the onnx Python package on torchvision exports and on ONNX's
# own test models; `supcon run` is compared with ONNX Runtime on the
# torchvision exports (run_check.py).  The Python and node checks carry the
# label `reference` so that the sanitizer build can leave them out
# (ctest -LE reference).

if(TARGET test_cli)
  target_sources(test_cli PRIVATE ${CMAKE_SOURCE_DIR}/tools/cli_util.c)
endif()

if(DEBIAN_PYTHON)
  set(TV_DIR ${SUPCON_TEST_WORK}/torchvision)
  set(MAKE_TV ${CMAKE_CURRENT_SOURCE_DIR}/make_torchvision.py)

  # name|file|make_torchvision.py options, comma separated.  Together they cover opsets
  # 7-17, BN kept and folded, initializers listed as inputs, external data.
  # The ResNet-18s at opsets 9, 13 and 17, kept and folded, and the
  # ResNet-50 are the models `supcon run` must agree with ONNX Runtime on.
  set(TV_EXPORTS
    "resnet50_op13|resnet50_op13.onnx|--arch,resnet50,--opset,13"
    "resnet18_op7_folded|resnet18_op7_folded.onnx|--arch,resnet18,--opset,7,--fold-bn,--initializers-as-inputs"
    "resnet18_op9|resnet18_op9.onnx|--arch,resnet18,--opset,9,--initializers-as-inputs"
    "resnet18_op9_folded|resnet18_op9_folded.onnx|--arch,resnet18,--opset,9,--fold-bn"
    "resnet18_op11_external|resnet18_op11_external/model.onnx|--arch,resnet18,--opset,11,--external-data"
    "resnet18_op13|resnet18_op13.onnx|--arch,resnet18,--opset,13"
    "resnet18_op13_folded|resnet18_op13_folded.onnx|--arch,resnet18,--opset,13,--fold-bn"
    "resnet18_op17|resnet18_op17.onnx|--arch,resnet18,--opset,17"
    "resnet18_op17_folded|resnet18_op17_folded.onnx|--arch,resnet18,--opset,17,--fold-bn")
  set(RUN_CHECK_MODELS resnet18_op9 resnet18_op9_folded resnet18_op13
      resnet18_op13_folded resnet18_op17 resnet18_op17_folded resnet50_op13)

  set(TV_MODEL_ARGS)
  set(RUN_CHECK_ARGS)
  foreach(entry ${TV_EXPORTS})
    string(REPLACE "|" ";" fields "${entry}")
    list(GET fields 0 name)
    list(GET fields 1 file)
    list(GET fields 2 options)
    string(REPLACE "," ";" options "${options}")
    add_test(NAME export_${name}
      COMMAND ${DEBIAN_PYTHON} ${MAKE_TV} ${TV_DIR}/${file} ${options})
    set_tests_properties(export_${name} PROPERTIES
      FIXTURES_SETUP torchvision LABELS reference TIMEOUT 600)
    if(NOT name STREQUAL "resnet50_op13")
      list(APPEND TV_MODEL_ARGS --model ${TV_DIR}/${file})
    endif()
    if(name IN_LIST RUN_CHECK_MODELS)
      list(APPEND RUN_CHECK_ARGS --model ${TV_DIR}/${file})
    endif()
  endforeach()

  add_test(NAME info_check_torchvision
    COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/info_check.py
      --supcon $<TARGET_FILE:supcon>
      --resnet50 ${TV_DIR}/resnet50_op13.onnx ${TV_MODEL_ARGS})
  set_tests_properties(info_check_torchvision PROPERTIES
    FIXTURES_REQUIRED torchvision LABELS reference TIMEOUT 600)

  add_test(NAME info_check_testdata
    COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/info_check.py
      --supcon $<TARGET_FILE:supcon> --testdata ${ONNX_TESTDATA})
  set_tests_properties(info_check_testdata PROPERTIES
    LABELS reference TIMEOUT 1200)
endif()

# `supcon run` and ONNX Runtime on the same seeded input: relative error
# <= 1e-4 per output (defined in run_check.py).  onnxruntime-node is looked
# up when the test runs, so installing it after configuring is enough.
set(SUPCON_ORT_DIR ${CMAKE_BINARY_DIR}/ort CACHE PATH
    "Prefix where tools/install-ort.sh installed onnxruntime-node")
if(DEBIAN_PYTHON AND NODE)
  add_test(NAME run_check_torchvision
    COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/run_check.py
      --supcon $<TARGET_FILE:supcon> --ort ${SUPCON_ORT_DIR} --node ${NODE}
      --work ${SUPCON_TEST_WORK}/run_check --batch 2 --threads 2 ${RUN_CHECK_ARGS}
      --png-model ${TV_DIR}/resnet18_op13.onnx)
  set_tests_properties(run_check_torchvision PROPERTIES
    FIXTURES_REQUIRED torchvision LABELS reference TIMEOUT 900)
else()
  add_test(NAME run_check_torchvision
    COMMAND ${CMAKE_COMMAND} -E echo
      "run_check_torchvision: needs /usr/bin/python3 and node; run tools/install-deps.sh")
  set_tests_properties(run_check_torchvision PROPERTIES
    FAIL_REGULAR_EXPRESSION "run_check_torchvision: " LABELS reference)
endif()
