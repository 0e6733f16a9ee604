/* fuzz_tensor_pb.c: libFuzzer harness for the TensorProto .pb reader.
 *
 * The input is a .pb file as `supcon run --in NAME=FILE.pb` reads it
 * (onnx_tensor_load_memory: nesting check, protobuf-c, raw_data or typed
 * fields, every count checked against the dims).  A tensor that loads
 * must be consistent (nbytes = numel x element size, numel = product of
 * dims) and must survive being written back as a TensorProto and read
 * again, equal in dtype, shape and every byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "onnx/internal.h"
#include "runtime/tensor.h"

static void check_tensor(const sc_tensor *t)
{
	int64_t numel = 1;
	if (t->rank < 0 || t->rank > SC_MAX_RANK)
		fuzz_fail("loaded tensor has rank %d", t->rank);
	for (int i = 0; i < t->rank; i++) {
		if (t->dims[i] < 0)
			fuzz_fail("loaded tensor has dim %d = %lld", i,
				  (long long)t->dims[i]);
		numel *= t->dims[i];
	}
	if (numel != t->numel)
		fuzz_fail("numel %lld, dims give %lld", (long long)t->numel,
			  (long long)numel);
	if (t->nbytes != (size_t)t->numel * tensor_dtype_size(t->dtype))
		fuzz_fail("nbytes %zu for %lld elements of %s", t->nbytes,
			  (long long)t->numel, tensor_dtype_name(t->dtype));
	if (t->nbytes && !t->data)
		fuzz_fail("%zu bytes but no data", t->nbytes);
	/* touch every byte, so ASan sees a buffer shorter than nbytes */
	volatile uint8_t sum = 0;
	if (t->dtype == SC_STRING) {
		const sc_bytes *s = t->data;
		for (int64_t i = 0; i < t->numel; i++)
			for (size_t k = 0; k < s[i].len; k++)
				sum ^= (uint8_t)s[i].data[k];
	} else {
		for (size_t k = 0; k < t->nbytes; k++)
			sum ^= ((const uint8_t *)t->data)[k];
	}
	(void)sum;
}

static void check_round_trip(const sc_tensor *t, const char *name)
{
	sc_error err = {0};
	Onnx__TensorProto p;
	int rc = onnx_tensor_to_proto(t, name, &p, &err);
	if (rc)
		fuzz_fail("a loaded tensor cannot be converted back: %s", err.msg);
	size_t len = onnx__tensor_proto__get_packed_size(&p);
	uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		fuzz_fail("out of memory");
	if (onnx__tensor_proto__pack(&p, buf) != len)
		fuzz_fail("packing a tensor gave the wrong length");
	onnx_tensor_proto_clear(&p);
	sc_tensor back;
	char *back_name = NULL;
	rc = onnx_tensor_load_memory(buf, len, "saved", &back, &back_name, &err);
	if (rc)
		fuzz_fail("a loaded tensor, once saved, does not load: %s", err.msg);
	if (!tensor_equal(t, &back))
		fuzz_fail("tensor '%s' changed in the save/load round trip", name);
	if (strcmp(name, back_name) != 0)
		fuzz_fail("tensor name '%s' came back as '%s'", name, back_name);
	tensor_free(&back);
	free(back_name);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sc_error err = {0};
	sc_tensor t;
	char *name = NULL;
	int rc = onnx_tensor_load_memory(data, size, "fuzz.pb", &t, &name, &err);
	if (rc) {
		fuzz_check_error(rc, &err, "onnx_tensor_load_memory");
		if (t.data || name)
			fuzz_fail("onnx_tensor_load_memory failed but kept data");
		return 0;
	}
	check_tensor(&t);
	check_round_trip(&t, name);
	tensor_free(&t);
	free(name);
	return 0;
}
