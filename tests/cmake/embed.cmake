# Plotting, embeddings and sweeps (issue #6).  The plotting and embedding
# code lives in tools/ (it is part of the CLI, not of supcon_core), so
# test_plot and test_embed link those files directly, as test_cli links
# tools/cli_util.c.  test_embed compares with numpy references that
# tests/make_golden_embed.py wrote into tests/data/embed/; test_corrupt
# with tests/make_golden_corrupt.py's tests/data/corrupt/.

if(TARGET test_plot)
  target_sources(test_plot PRIVATE ${CMAKE_SOURCE_DIR}/tools/plot.c)
endif()
if(TARGET test_embed)
  target_sources(test_embed PRIVATE ${CMAKE_SOURCE_DIR}/tools/embed_math.c
                 ${CMAKE_SOURCE_DIR}/tools/tsne.c)
endif()
# test_train checks --label-noise in process, through run_data_open().
if(TARGET test_train)
  target_sources(test_train PRIVATE ${CMAKE_SOURCE_DIR}/tools/train_util.c
                 ${CMAKE_SOURCE_DIR}/tools/train_config.c
                 ${CMAKE_SOURCE_DIR}/tools/cli_util.c
                 ${CMAKE_SOURCE_DIR}/tools/embed_math.c
                 ${CMAKE_SOURCE_DIR}/tools/tsne.c)
endif()
# The tiny sweep trains 8 cells and a CE reference on real data.
if(TARGET test_sweep)
  set_tests_properties(test_sweep PROPERTIES TIMEOUT 900)
endif()
