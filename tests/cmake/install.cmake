# Installation and the public C API's clients (issue 10):
# tests/install/check_install.sh installs this build into
# ${SUPCON_TEST_WORK}/install/prefix, checks that libsupcon.so and
# libsupcon.a export only the supcon_* functions of supcon.h, builds the
# examples of tests/install (classify.c, finetune.c) with pkg-config and
# with find_package(supcon), shared and static, and runs them against
# models made by `supcon build`.  Needs bash, pkg-config, nm and readelf
# (binutils).  Label `install` (ctest -L install).
if(NOT TARGET supcon_shared)
  return()   # the fuzz build makes no installable libraries
endif()
find_program(BASH bash)
find_program(PKG_CONFIG_BIN pkg-config)
if(BASH AND PKG_CONFIG_BIN)
  add_test(NAME install_check
    COMMAND ${BASH} ${CMAKE_CURRENT_SOURCE_DIR}/install/check_install.sh
            --build ${CMAKE_BINARY_DIR} --work ${SUPCON_TEST_WORK}/install
            --supcon $<TARGET_FILE:supcon> --cc ${CMAKE_C_COMPILER})
  set_tests_properties(install_check PROPERTIES LABELS install TIMEOUT 900)
else()
  add_test(NAME install_check COMMAND ${CMAKE_COMMAND} -E echo
           "install_check: needs bash and pkg-config; run tools/install-deps.sh")
  set_tests_properties(install_check PROPERTIES
    FAIL_REGULAR_EXPRESSION "install_check: " LABELS install)
endif()
