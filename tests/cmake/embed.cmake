# Plotting, embeddings and sweeps (issue #6).  The plotting and embedding
# code is part of the library's run layer (runtime/run/), so test_plot,
# test_embed and test_train need nothing beyond supcon_core.  test_embed
# compares with numpy references that
# tests/make_golden_embed.py wrote into tests/data/embed/; test_corrupt
# with tests/make_golden_corrupt.py's tests/data/corrupt/.

# The tiny sweep trains 8 cells and a CE reference on real data.
if(TARGET test_sweep)
  set_tests_properties(test_sweep PROPERTIES TIMEOUT 900)
endif()
