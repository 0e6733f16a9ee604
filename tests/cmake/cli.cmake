# CLI tests: the option parser is linked into test_cli, and `supcon info` is
# compared with the onnx Python package on torchvision exports and on ONNX's
# own test models.  The Python checks carry the label `reference` so that
# the sanitizer build can leave them out (ctest -LE reference).

if(TARGET test_cli)
  target_sources(test_cli PRIVATE ${CMAKE_SOURCE_DIR}/tools/cli_util.c)
endif()

if(DEBIAN_PYTHON)
  set(TV_DIR ${SUPCON_TEST_WORK}/torchvision)
  set(MAKE_TV ${CMAKE_CURRENT_SOURCE_DIR}/make_torchvision.py)

  # name|file|make_torchvision.py options, comma separated.  Together they cover opsets
  # 7-17, BN kept and folded, initializers listed as inputs, external data.
  set(TV_EXPORTS
    "resnet50_op13|resnet50_op13.onnx|--arch,resnet50,--opset,13"
    "resnet18_op7_folded|resnet18_op7_folded.onnx|--arch,resnet18,--opset,7,--fold-bn,--initializers-as-inputs"
    "resnet18_op9|resnet18_op9.onnx|--arch,resnet18,--opset,9,--initializers-as-inputs"
    "resnet18_op11_external|resnet18_op11_external/model.onnx|--arch,resnet18,--opset,11,--external-data"
    "resnet18_op17_folded|resnet18_op17_folded.onnx|--arch,resnet18,--opset,17,--fold-bn")

  set(TV_MODEL_ARGS)
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
