# Crash safety of `supcon train` (tests/kill_resume.py): 20 SIGKILLs at
# random moments, each followed by --resume, must end with exactly the
# weights of an uninterrupted run; --resume on a run directory with no
# checkpoint starts from the beginning; a corrupted or truncated
# RUNDIR/checkpoint is refused with one line naming it.  About 40 s in a
# Release build; the slower sanitizer build kills 5 times (~30 s).  The
# script needs only Python's standard library; the seed it prints repeats
# a failing sequence of kill times (--seed).
if(SUPCON_SANITIZE)
  set(KILL_RESUME_KILLS 5)
else()
  set(KILL_RESUME_KILLS 20)
endif()
if(DEBIAN_PYTHON)
  add_test(NAME kill_resume
    COMMAND ${DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/kill_resume.py
            --supcon $<TARGET_FILE:supcon> --work ${SUPCON_TEST_WORK}/kill_resume
            --kills ${KILL_RESUME_KILLS})
  set_tests_properties(kill_resume PROPERTIES LABELS crash TIMEOUT 600)
else()
  add_test(NAME kill_resume COMMAND ${CMAKE_COMMAND} -E echo
           "kill_resume: needs /usr/bin/python3; run tools/install-deps.sh")
  set_tests_properties(kill_resume PROPERTIES
    FAIL_REGULAR_EXPRESSION "kill_resume: " LABELS crash)
endif()
