# The fuzz harnesses (tests/fuzz/fuzz_*.c) in the normal builds.  Each is
# linked with tests/fuzz/replay.c instead of libFuzzer, and replays
#   tests/fuzz/regressions/NAME/  every crasher fuzzing ever found (fixed;
#                                 kept so that it stays fixed), and
#   the committed seeds           so that the harness's own checks (round
#                                 trips, decoders agreeing) run on valid
#                                 files in every build, not only in the
#                                 fuzz build;
# the ONNX and TensorProto harnesses also replay a few official test
# models and tensors.  A harness that finds a bug aborts, which fails the
# test, and under ASan+UBSan so does any memory error.  Label `fuzz`.
# The fuzzing itself is the fuzz build's (tests/fuzz/CMakeLists.txt).
set(FUZZ_SRC ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

set(REPLAY_INPUTS_onnx_load
  ${ONNX_TESTDATA}/node/test_add/model.onnx
  ${ONNX_TESTDATA}/node/test_conv_with_strides_padding/model.onnx
  ${ONNX_TESTDATA}/node/test_batchnorm_epsilon/model.onnx
  ${ONNX_TESTDATA}/node/test_maxpool_2d_pads/model.onnx
  ${ONNX_TESTDATA}/node/test_if/model.onnx
  ${ONNX_TESTDATA}/node/test_loop11/model.onnx
  ${ONNX_TESTDATA}/node/test_cast_FLOAT_to_STRING/model.onnx
  ${ONNX_TESTDATA}/simple/test_gradient_of_add/model.onnx
  ${ONNX_TESTDATA}/simple/test_sequence_model1/model.onnx
  ${ONNX_TESTDATA}/node/test_layer_normalization_2d_axis0/model.onnx
  ${ONNX_TESTDATA}/pytorch-operator/test_operator_basic/model.onnx)
set(REPLAY_INPUTS_tensor_pb
  ${ONNX_TESTDATA}/node/test_add/test_data_set_0/input_0.pb
  ${ONNX_TESTDATA}/node/test_cast_FLOAT_to_STRING/test_data_set_0/output_0.pb
  ${ONNX_TESTDATA}/node/test_argmax_default_axis_example/test_data_set_0/output_0.pb
  ${ONNX_TESTDATA}/node/test_cast_FLOAT_to_FLOAT16/test_data_set_0/output_0.pb
  ${ONNX_TESTDATA}/node/test_cast_FLOAT_to_DOUBLE/test_data_set_0/output_0.pb)
set(REPLAY_INPUTS_png ${FUZZ_SRC}/seeds/png)
set(REPLAY_INPUTS_idx ${FUZZ_SRC}/seeds/idx)
set(REPLAY_INPUTS_checkpoint ${FUZZ_SRC}/seeds/checkpoint)

foreach(h onnx_load tensor_pb png idx checkpoint)
  add_executable(replay_${h} ${FUZZ_SRC}/fuzz_${h}.c ${FUZZ_SRC}/replay.c)
  target_include_directories(replay_${h} PRIVATE ${CMAKE_BINARY_DIR}/gen)
  target_link_libraries(replay_${h} PRIVATE supcon_core)
  set(inputs ${REPLAY_INPUTS_${h}})
  if(EXISTS ${FUZZ_SRC}/regressions/${h})
    list(APPEND inputs ${FUZZ_SRC}/regressions/${h})
  endif()
  add_test(NAME replay_${h} COMMAND replay_${h} ${inputs})
  set_tests_properties(replay_${h} PROPERTIES LABELS fuzz TIMEOUT 300)
endforeach()
