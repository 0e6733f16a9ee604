/* infer_util.h: helpers shared by the ops' shape-inference functions.
 *
 * Inference works on infer_tensor, a fixed-size view of a tensor type whose
 * symbolic dim names are borrowed from the graph (they stay valid for the
 * duration of one op_infer_fn call).  Outputs are written back with
 * infer_set_output(), which merges with whatever the value already declares
 * and fails when the two contradict, so ops never overwrite a declared type.
 *
 * Dims follow ONNX: a known size (value >= 0), a symbolic name (param), or
 * unknown (value -1, param NULL).  When combining dims, known beats
 * symbolic beats unknown.
 *
 * Attribute accessors trust types: op_check_attrs() has run on the node
 * before its infer function, so a wrong type is treated as absent. */
#ifndef SUPCON_OPS_INFER_UTIL_H
#define SUPCON_OPS_INFER_UTIL_H

#include <stdint.h>

#include "op.h"

typedef struct infer_dim {
	int64_t value;        /* >= 0 when known, -1 otherwise */
	const char *param;    /* borrowed symbolic name, or NULL */
} infer_dim;

typedef struct infer_tensor {
	int elem;             /* dtype, 0 when unknown */
	int rank;             /* -1 when unknown */
	infer_dim dims[SC_MAX_RANK];
} infer_tensor;

/* --- messages ------------------------------------------------------------ */

/* Records SC_EINVAL with "<node label>: <message>" and returns SC_EINVAL. */
int infer_fail(const graph *g, const graph_node *n, sc_error *err,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes a type as "float32[N,3,224,224]", "int64[?]", "?" ... into buf. */
const char *infer_type_str(const graph_type *t, char *buf, size_t len);
const char *infer_tensor_str(const infer_tensor *t, char *buf, size_t len);

/* --- dims ---------------------------------------------------------------- */

static inline infer_dim infer_dim_of(int64_t v)
{
	infer_dim d = {v, NULL};
	return d;
}

static inline infer_dim infer_dim_unknown(void)
{
	infer_dim d = {-1, NULL};
	return d;
}

static inline int infer_dim_known(infer_dim d)
{
	return d.value >= 0;
}

/* 1 when a and b are certainly the same size: equal known sizes or the
 * same symbolic name. */
int infer_dim_same(infer_dim a, infer_dim b);

/* Combines two dims that must be equal (e.g. the K of a matmul).  Returns 0
 * and the more specific dim in *out, or -1 when both are known and differ. */
int infer_dim_unify(infer_dim a, infer_dim b, infer_dim *out);

/* Product of dims[from..to): the dim itself for a range of one, a known
 * product when all are known (or any is 0), unknown otherwise. */
infer_dim infer_dims_product(const infer_dim *dims, int from, int to);

/* --- tensors ------------------------------------------------------------- */

/* Sets t to dtype elem, unknown rank. */
void infer_tensor_unknown(infer_tensor *t, int elem);

/* Sets t to dtype elem with rank known dims all unknown. */
void infer_tensor_rank(infer_tensor *t, int elem, int rank);

/* Number of inputs the node really has (trailing omitted ones dropped). */
int infer_n_inputs(const graph_node *n);

/* 1 when input i is given (not omitted, not past the end). */
int infer_has_input(const graph_node *n, int i);
int infer_has_output(const graph_node *n, int i);

/* The value behind input i, or NULL when it is omitted. */
const graph_value *infer_input_value(const graph *g, const graph_node *n,
				     int i);

/* Fills t from input i's declared or inferred type.  Non-tensor types,
 * omitted inputs and ranks above SC_MAX_RANK come back as unknown.  Returns
 * 1 when the input is present, 0 when it is omitted. */
int infer_input(const graph *g, const graph_node *n, int i, infer_tensor *t);

/* Same as infer_input, but fails when the input is present with a known
 * rank other than `rank` ("input 1 (W) has rank 3, expected 4"). */
int infer_input_rank(const graph *g, const graph_node *n, int i, int rank,
		     infer_tensor *t, sc_error *err);

/* Merges t into the type of output i (a no-op when the output is omitted).
 * Fails naming node and value when a known dtype, rank or dim contradicts
 * what the value already declares. */
int infer_set_output(graph *g, const graph_node *n, int i,
		     const infer_tensor *t, sc_error *err);

/* Same for any graph_type (sequences, optionals), copying it. */
int infer_set_output_type(graph *g, const graph_node *n, int i,
			  const graph_type *t, sc_error *err);

/* Merges t into the type of value v; `who` names the definer in messages
 * ("initializer 'w'", "node 'conv1' (Conv)"). */
int infer_merge_value(graph *g, int v, const graph_type *t, const char *who,
		      sc_error *err);

/* Converts between the two representations.  infer_to_type allocates the
 * dims and param strings of dst (release with graph_type_clear). */
int infer_to_type(const infer_tensor *t, graph_type *dst, sc_error *err);
void infer_from_type(const graph_type *t, infer_tensor *dst);

/* dtype agreement for inputs bound to one type variable: unknown (0) takes
 * the other; known and different fails naming both inputs. */
int infer_unify_elem(const graph *g, const graph_node *n, int ia, int a,
		     int ib, int b, int *out, sc_error *err);

/* Numpy (multidirectional) broadcasting of a and b into out.  Fails when two
 * known dims differ and neither is 1. */
int infer_broadcast(const graph *g, const graph_node *n,
		    const infer_tensor *a, const infer_tensor *b,
		    infer_tensor *out, sc_error *err);

/* Normalises axis (may be negative) against rank; -1 when out of range. */
int infer_axis(int64_t axis, int rank, int *out);

/* --- attributes ---------------------------------------------------------- */

int64_t infer_attr_int(const graph_node *n, const char *name, int64_t dflt);
float infer_attr_float(const graph_node *n, const char *name, float dflt);

/* 1 when the string attribute `name` equals s; when it is absent, compares
 * dflt (which may be NULL) instead. */
int infer_attr_is(const graph_node *n, const char *name, const char *dflt,
		  const char *s);

/* The ints attribute `name`: its count, with *vals pointing at the
 * elements; -1 when absent. */
int infer_attr_ints(const graph_node *n, const char *name,
		    const int64_t **vals);

/* --- constants ----------------------------------------------------------- */

/* The tensor behind value v when it is constant: an initializer or the
 * output of a Constant node whose value is a tensor; NULL otherwise. */
const sc_tensor *infer_const_tensor(const graph *g, int v);

/* Reads input i as at most max int64 values when it is constant: an int64
 * or int32 initializer or Constant (value, value_int, value_ints).  Returns
 * the count, or -1 when the input is absent, not constant, not integer or
 * longer than max. */
int infer_const_ints(const graph *g, const graph_node *n, int i,
		     int64_t *out, int max);

/* Same for floating-point constants (float, double, float16, bfloat16,
 * each element widened to double); integer tensors are not accepted. */
int infer_const_floats(const graph *g, const graph_node *n, int i,
		       double *out, int max);

/* --- convolution and pooling geometry ------------------------------------ */

enum infer_auto_pad {
	INFER_PAD_NOTSET,
	INFER_PAD_VALID,
	INFER_PAD_SAME_UPPER,
	INFER_PAD_SAME_LOWER,
};

/* Reads the auto_pad attribute; -1 for an unknown spelling. */
int infer_auto_pad(const graph_node *n);

/* The output size along one spatial axis of a convolution or pooling
 * window of `kernel` taps with stride and dilation, and the padding that
 * goes with it.  For NOTSET, *pad_begin and *pad_end come in as the explicit
 * pads; VALID zeroes them; SAME_* computes them (the extra one going at the
 * end for UPPER, the beginning for LOWER).  ceil_mode rounds up, except that
 * a last window starting in the end padding is dropped (as PyTorch and
 * recent ONNX do).  Returns -1 when the window does not fit the padded
 * input, or when a parameter is out of range. */
int infer_window_out(int64_t in, int64_t kernel, int64_t stride,
		     int64_t dilation, int mode, int ceil_mode,
		     int64_t *pad_begin, int64_t *pad_end, int64_t *out);

/* Shape of the spatial output of Conv/MaxPool/AveragePool: reads
 * kernel_shape (or takes `kernel` when it is not NULL and the attribute is
 * absent), strides, dilations, pads and auto_pad, checks their lengths
 * against the n_spatial axes of x (whose dims 2.. are spatial), and writes
 * out->dims[2..].  Unknown input sizes give unknown outputs, except that
 * a size-preserving window (SAME, or pads adding up to the kernel's reach,
 * with stride 1) keeps a symbolic size.  Explicit pads are ignored when
 * auto_pad is set, as ONNX Runtime does. */
int infer_window_shape(const graph *g, const graph_node *n,
		       const infer_tensor *x, const int64_t *kernel,
		       int ceil_mode, infer_tensor *out, sc_error *err);

/* --- shared infer functions ---------------------------------------------- */

/* Output 0 has input 0's type (unary elementwise ops). */
int infer_same_as_input(graph *g, const graph_node *n, int64_t opset,
			sc_error *err);

#endif
