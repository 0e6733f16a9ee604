/* fuzz_onnx_load.c: libFuzzer harness for the ONNX model loader.
 *
 * The input is the bytes of a model file, as a user would download it.
 * It goes where a hostile file goes in `supcon info` and `supcon run`:
 * onnx_load_memory() (wire-format nesting check, protobuf-c decoding,
 * conversion to the IR, function inlining), graph_validate(), and
 * plan_create(), which runs shape inference and schedules the nodes
 * without running them.  External data is refused (no base folder), as
 * for any model loaded from memory.
 *
 * Besides crashes and sanitizer reports, a model that loads must survive
 * the round trip that tests/test_roundtrip.c holds for the conformance
 * suite: saved and loaded again it is equal to itself, and saving again
 * gives the same bytes.  Every failure must be one line with an input-error
 * code (fuzz_util.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "onnx/onnx.h"
#include "runtime/graph.h"
#include "runtime/plan.h"

static void check_round_trip(const graph_model *m)
{
	sc_error err = {0};
	void *buf = NULL, *buf2 = NULL;
	size_t len = 0, len2 = 0;
	int rc = onnx_save_memory(m, &buf, &len, &err);
	if (rc) {
		fuzz_check_error(rc, &err, "onnx_save_memory");
		return;
	}
	graph_model *back = NULL;
	rc = onnx_load_memory(buf, len, NULL, "saved", &back, &err);
	if (rc)
		fuzz_fail("a loaded model, once saved, does not load: %s", err.msg);
	char why[512];
	if (!graph_model_equal(m, back, why, sizeof why))
		fuzz_fail("a loaded model changed in the save/load round trip: %s", why);
	rc = onnx_save_memory(back, &buf2, &len2, &err);
	if (rc)
		fuzz_fail("a reloaded model does not save again: %s", err.msg);
	if (len != len2 || memcmp(buf, buf2, len) != 0)
		fuzz_fail("saving is not a fixed point (%zu then %zu bytes)", len, len2);
	free(buf);
	free(buf2);
	graph_model_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sc_error err = {0};
	graph_model *m = NULL;
	int rc = onnx_load_memory(data, size, NULL, "fuzz.onnx", &m, &err);
	if (rc) {
		fuzz_check_error(rc, &err, "onnx_load_memory");
		if (m)
			fuzz_fail("onnx_load_memory failed but returned a model");
		return 0;
	}
	check_round_trip(m);
	/* names may hold newlines; sc_fail keeps every message one line */
	rc = graph_validate(m, &err);
	if (rc) {
		fuzz_check_error(rc, &err, "graph_validate");
		graph_model_free(m);
		return 0;
	}
	plan_options opt = {.threads = 1};
	plan *p = NULL;
	rc = plan_create(m, &opt, &p, &err);
	if (rc == SC_OK)
		plan_free(p);
	else if (rc != SC_EINTERNAL)    /* oneDNN refusing is not the input's fault */
		fuzz_check_error(rc, &err, "plan_create");
	graph_model_free(m);
	return 0;
}
