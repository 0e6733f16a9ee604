# `supcon run --grad` against PyTorch autograd on graphs torch.onnx exported
# (tests/grad_torch_check.py, issue #4):
#   grad_torch_resnet18  torchvision ResNet-18 + cross-entropy exported in
#                        training mode at opsets 15 and 12: all 62 parameter
#                        gradients, the loss, and every BatchNormalization's
#                        updated running statistics (as node outputs, and
#                        through the `supcon grad` training graph);
#   grad_torch_supcon    SupContrast's loss in plain PyTorch on a small conv
#                        net, exported as standard ops at opsets 9, 13 and 17
#                        and with a symbolic batch: the loss and the
#                        gradients of every parameter and of the input.
#   grad_torch_supcon_scatter  the same with SupContrast's own self-mask,
#                        torch.scatter(ones, 1, arange(N).view(-1, 1), 0):
#                        Scatter at opset 9, ScatterElements at 13, and at
#                        13 with a symbolic batch.
# Together about 50 s on 2 cores.  Label `reference`: the sanitizer build
# leaves them out.  Without /usr/bin/python3 the tests fail and say why.

if(DEBIAN_PYTHON)
  set(GRAD_TORCH ${CMAKE_CURRENT_SOURCE_DIR}/grad_torch_check.py)
  add_test(NAME grad_torch_resnet18
    COMMAND ${DEBIAN_PYTHON} ${GRAD_TORCH} --supcon $<TARGET_FILE:supcon>
      --work ${SUPCON_TEST_WORK}/grad_torch --threads 2
      resnet18 --opset 15 --opset 12 --batch 4 --size 64)
  add_test(NAME grad_torch_supcon
    COMMAND ${DEBIAN_PYTHON} ${GRAD_TORCH} --supcon $<TARGET_FILE:supcon>
      --work ${SUPCON_TEST_WORK}/grad_torch --threads 2
      supcon --opset 9 --opset 13 --opset 17)
  add_test(NAME grad_torch_supcon_scatter
    COMMAND ${DEBIAN_PYTHON} ${GRAD_TORCH} --supcon $<TARGET_FILE:supcon>
      --work ${SUPCON_TEST_WORK}/grad_torch --threads 2
      supcon --self-mask scatter --opset 9 --opset 13)
  set_tests_properties(grad_torch_resnet18 grad_torch_supcon
    grad_torch_supcon_scatter PROPERTIES LABELS reference TIMEOUT 300)
else()
  foreach(name grad_torch_resnet18 grad_torch_supcon grad_torch_supcon_scatter)
    add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -E echo
      "${name}: needs /usr/bin/python3 with python3-torch; run tools/install-deps.sh")
    set_tests_properties(${name} PROPERTIES
      FAIL_REGULAR_EXPRESSION "${name}: " LABELS reference)
  endforeach()
endif()
