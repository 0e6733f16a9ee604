# `supcon build` and models/ judged by torchvision.  test_models (the cmocka
# program, picked up by the test_*.c glob) checks the builders, heads and
# encoder cutting in our own runtime against torchvision's element counts
# and double-precision references; then
#   check_models   tests/check_models.py: for every arch and stem the
#                  initializer names and shapes equal torchvision's
#                  state_dict, onnx.checker (full_check) accepts every file,
#                  resnet50 has 25,610,152 elements, torch and `supcon run`
#                  agree on resnet18/50 logits and embeddings (rel <= 1e-4),
#                  and torch.onnx exports of resnet18 (opsets 11 and 17, BN
#                  kept and folded) cut by `supcon build FILE.onnx` give
#                  torch's avgpool features.
# It carries the label `reference`, like the other reference checks, so
# that the sanitizer build can leave it out.  A missing Debian python makes
# the test fail and say why rather than disappear.

if(DEBIAN_PYTHON)
  add_test(NAME check_models
    COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/check_models.py
      --supcon $<TARGET_FILE:supcon> --work ${SUPCON_TEST_WORK}/check_models
      --threads 2)
  set_tests_properties(check_models PROPERTIES LABELS reference TIMEOUT 900)
else()
  add_test(NAME check_models
    COMMAND ${CMAKE_COMMAND} -E echo
      "check_models: needs /usr/bin/python3 with torch, torchvision and onnx")
  set_tests_properties(check_models PROPERTIES
    FAIL_REGULAR_EXPRESSION "check_models: " LABELS reference)
endif()
