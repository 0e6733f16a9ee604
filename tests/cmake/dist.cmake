# Data-parallel training (issue #9).  With MPI: tests/dist_check.py runs
# `mpirun -np 2 supcon train` against the single process (same weights
# within 1e-4 with --sync-bn, resume across world sizes, an uneven batch
# refused, a killed or stopped rank ending the job); about 25 s on 2
# cores, 60 s with sanitizers.  Without MPI: supcon started as one of
# several ranks refuses with one line instead of training alone.
if(SUPCON_MPI AND MPI_C_FOUND)
  find_program(SUPCON_MPIRUN NAMES mpirun mpiexec HINTS ${MPIEXEC_EXECUTABLE})
  if(DEBIAN_PYTHON AND SUPCON_MPIRUN)
    # the sanitizer build checks the distributed path too; Open MPI's own
    # allocations at exit are not ours to report
    add_test(NAME dist_check
      COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
              ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/dist_check.py
              --supcon $<TARGET_FILE:supcon> --mpirun ${SUPCON_MPIRUN}
              --work ${SUPCON_TEST_WORK}/dist)
    # label `dist` only: unlike the slow `reference` checks it also runs
    # in CI's sanitizer build
    set_tests_properties(dist_check PROPERTIES LABELS "dist" TIMEOUT 600)
  else()
    add_test(NAME dist_check COMMAND ${CMAKE_COMMAND} -E echo
             "dist_check: needs /usr/bin/python3 and mpirun (openmpi-bin)")
    set_tests_properties(dist_check PROPERTIES
      FAIL_REGULAR_EXPRESSION "dist_check: " LABELS "reference;dist")
  endif()
else()
  add_test(NAME dist_refuses_without_mpi
    COMMAND ${CMAKE_COMMAND} -E env OMPI_COMM_WORLD_SIZE=2
            $<TARGET_FILE:supcon> train --steps 1 --out ${SUPCON_TEST_WORK}/dist_refused)
  set_tests_properties(dist_refuses_without_mpi PROPERTIES
    PASS_REGULAR_EXPRESSION "built without MPI" LABELS dist)
endif()
