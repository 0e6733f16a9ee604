# valgrind memcheck on `supcon info` and `supcon run` over a sample of the
# conformance cases (tests/valgrind_check.py): any memcheck error or
# definite leak fails the test.  Label `valgrind`; ~2-3 minutes on 2
# cores.  Only in builds without sanitizers (ASan and valgrind exclude
# each other); the script caps oneDNN at AVX2, which valgrind 3.19 can
# execute.  A missing valgrind or python makes the test fail and say why.
if(NOT SUPCON_SANITIZE AND NOT SUPCON_FUZZ)
  find_program(VALGRIND valgrind)
  if(VALGRIND AND DEBIAN_PYTHON)
    add_test(NAME valgrind_memcheck
      COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/valgrind_check.py
              --supcon $<TARGET_FILE:supcon> --testdata ${ONNX_TESTDATA}
              --work ${SUPCON_TEST_WORK}/valgrind --valgrind ${VALGRIND} --jobs 2)
    set_tests_properties(valgrind_memcheck PROPERTIES
      LABELS valgrind TIMEOUT 900 PROCESSORS 2)
  else()
    add_test(NAME valgrind_memcheck COMMAND ${CMAKE_COMMAND} -E echo
             "valgrind_memcheck: needs valgrind and /usr/bin/python3; run tools/install-deps.sh")
    set_tests_properties(valgrind_memcheck PROPERTIES
      FAIL_REGULAR_EXPRESSION "valgrind_memcheck: " LABELS valgrind)
  endif()
endif()
