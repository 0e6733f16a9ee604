/* wire.c: a pre-pass over protobuf wire format that bounds message nesting.
 *
 * protobuf-c decodes nested messages recursively with no depth limit, so a
 * hostile file of a few megabytes that nests GraphProto inside
 * AttributeProto inside NodeProto a hundred thousand times would overflow
 * the stack.  This walk uses an explicit stack and protobuf-c's own
 * descriptors to find message-typed fields, and refuses files nested deeper
 * than any real model.  Malformed wire data is left for protobuf-c to
 * reject with its own error. */
#include "internal.h"

#define WIRE_MAX_DEPTH 200

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return -1;
		uint8_t b = *(*p)++;
		x |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

static const ProtobufCFieldDescriptor *
field_by_number(const ProtobufCMessageDescriptor *d, uint64_t number)
{
	for (unsigned i = 0; i < d->n_fields; i++)
		if (d->fields[i].id == number)
			return &d->fields[i];
	return NULL;
}

int onnx_check_nesting(const void *buf, size_t len,
		       const ProtobufCMessageDescriptor *desc,
		       const char *label, sc_error *err)
{
	struct frame {
		const ProtobufCMessageDescriptor *desc;
		const uint8_t *end;
	} stack[WIRE_MAX_DEPTH];
	int depth = 0;
	const uint8_t *p = buf;
	stack[0].desc = desc;
	stack[0].end = p + len;
	for (;;) {
		while (depth > 0 && p >= stack[depth].end)
			depth--;
		if (p >= stack[depth].end)
			return SC_OK;
		uint64_t tag, v;
		if (read_varint(&p, stack[depth].end, &tag))
			return SC_OK;
		switch (tag & 7) {
		case 0:
			if (read_varint(&p, stack[depth].end, &v))
				return SC_OK;
			break;
		case 1:
		case 5: {
			/* fixed64 and fixed32: stop at a field cut short rather
			 * than form a pointer past the buffer */
			size_t width = (tag & 7) == 1 ? 8 : 4;
			if (width > (size_t)(stack[depth].end - p))
				return SC_OK;
			p += width;
			break;
		}
		case 2: {
			if (read_varint(&p, stack[depth].end, &v) ||
			    v > (uint64_t)(stack[depth].end - p))
				return SC_OK;
			const ProtobufCFieldDescriptor *f =
				field_by_number(stack[depth].desc, tag >> 3);
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (depth + 1 >= WIRE_MAX_DEPTH)
					return sc_fail(err, SC_EINVAL,
						       "%s: messages nest deeper than %d levels",
						       label, WIRE_MAX_DEPTH);
				depth++;
				stack[depth].desc = f->descriptor;
				stack[depth].end = p + v;
			} else {
				p += v;
			}
			break;
		}
		default:
			return SC_OK;
		}
		if (p > stack[depth].end)
			return SC_OK;
	}
}
