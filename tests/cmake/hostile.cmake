# test_hostile (the cmocka program, picked up by the test_*.c glob) also
# has a case that is run on its own: the first plan_run of a 100k-node
# chain must take at most 25x the time of a 10k one (linear: 10x), which
# holds because runtime/plan.c's build_arena compares only values whose
# lifetimes meet.
add_test(NAME hostile_plan_run_scaling COMMAND test_hostile --run-scaling
         WORKING_DIRECTORY ${SUPCON_TEST_WORK})
set_tests_properties(hostile_plan_run_scaling PROPERTIES TIMEOUT 300)
