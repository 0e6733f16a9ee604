/* status.c: error recording; see status.h. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages are one line: names from files may hold any byte, so control
 * characters become '?'. */
static void one_line(char *msg)
{
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			*c = '?';
}

int sc_fail(sc_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	one_line(err->msg);
	err->code = code;
	return code;
}

void sc_error_prefix(sc_error *err, const char *fmt, ...)
{
	if (!err)
		return;
	char prefix[SC_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	one_line(prefix);
	size_t plen = strlen(prefix);
	size_t mlen = strnlen(err->msg, sizeof err->msg - 1);
	if (plen > sizeof err->msg - 1)
		plen = sizeof err->msg - 1;
	if (plen + mlen > sizeof err->msg - 1)
		mlen = sizeof err->msg - 1 - plen;
	memmove(err->msg + plen, err->msg, mlen);
	memcpy(err->msg, prefix, plen);
	err->msg[plen + mlen] = '\0';
}

void sc_error_clear(sc_error *err)
{
	if (!err)
		return;
	err->code = SC_OK;
	err->msg[0] = '\0';
}

int sc_exit_code(int code)
{
	switch (code) {
	case SC_OK: return 0;
	case SC_EINVAL:
	case SC_EUNSUPPORTED: return 2;
	default: return 1;
	}
}

const char *sc_code_name(int code)
{
	switch (code) {
	case SC_OK: return "ok";
	case SC_EINVAL: return "invalid input";
	case SC_EUNSUPPORTED: return "unsupported";
	case SC_EIO: return "i/o error";
	case SC_ENOMEM: return "out of memory";
	case SC_ENUMERIC: return "numerical fault";
	default: return "internal error";
	}
}
