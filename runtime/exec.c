/* exec.c: the per-plan oneDNN engine, stream and scratch; see exec.h. */
#include "exec.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* AddressSanitizer, as GCC and clang announce it */
#if defined(__SANITIZE_ADDRESS__)
#define EXEC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EXEC_ASAN 1
#endif
#endif
#ifndef EXEC_ASAN
#define EXEC_ASAN 0
#endif

int exec_env_init(exec_env *env, int threads, sc_error *err)
{
	memset(env, 0, sizeof *env);
	env->threads = threads;
	int rc = exec_dnnl_check(dnnl_engine_create(&env->engine, dnnl_cpu, 0),
				 "creating the oneDNN CPU engine", err);
	if (rc)
		return rc;
	rc = exec_dnnl_check(dnnl_stream_create(&env->stream, env->engine,
						dnnl_stream_default_flags),
			     "creating the oneDNN stream", err);
	if (rc) {
		dnnl_engine_destroy(env->engine);
		env->engine = NULL;
	}
	return rc;
}

void exec_env_destroy(exec_env *env)
{
	if (env->stream)
		dnnl_stream_destroy(env->stream);
	if (env->engine)
		dnnl_engine_destroy(env->engine);
	exec_buffer_free(env->scratch, env->scratch_bytes);
	memset(env, 0, sizeof *env);
}

static int exec_buffer_mapped(size_t bytes)
{
	return !EXEC_ASAN && bytes >= EXEC_BUFFER_MAP_MIN;
}

void *exec_buffer_alloc(size_t bytes)
{
	size_t cap = (bytes + 63) & ~(size_t)63;
	if (cap < bytes)
		return NULL;
	if (!exec_buffer_mapped(bytes))
		return aligned_alloc(64, cap ? cap : 64);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void exec_buffer_free(void *p, size_t bytes)
{
	if (!p)
		return;
	if (exec_buffer_mapped(bytes))
		munmap(p, bytes);
	else
		free(p);
}

void exec_scratch_request(exec_env *env, size_t bytes)
{
	if (bytes > env->scratch_request)
		env->scratch_request = bytes;
	if (bytes > env->node_request)
		env->node_request = bytes;
}

void *exec_scratch(exec_env *env)
{
	return env->scratch;
}

/* Grows the scratch buffer to the largest request; called by the executor
 * between prepare and run, so run itself never allocates. */
int exec_scratch_reserve(exec_env *env, sc_error *err)
{
	if (env->scratch_request <= env->scratch_bytes)
		return SC_OK;
	size_t bytes = (env->scratch_request + 63) & ~(size_t)63;
	void *p = exec_buffer_alloc(bytes);
	if (!p)
		return sc_fail(err, SC_ENOMEM, "cannot allocate %zu bytes of scratch",
			       bytes);
	exec_buffer_free(env->scratch, env->scratch_bytes);
	env->scratch = p;
	env->scratch_bytes = bytes;
	return SC_OK;
}

void exec_scratch_shrink(exec_env *env, size_t bytes)
{
	env->scratch_request = bytes;
	if (env->scratch_bytes > ((bytes + 63) & ~(size_t)63)) {
		exec_buffer_free(env->scratch, env->scratch_bytes);
		env->scratch = NULL;
		env->scratch_bytes = 0;
	}
}

int exec_dnnl_check(dnnl_status_t st, const char *what, sc_error *err)
{
	if (st == dnnl_success)
		return SC_OK;
	const char *why;
	switch (st) {
	case dnnl_out_of_memory: return sc_fail(err, SC_ENOMEM, "%s: oneDNN is out of memory", what);
	case dnnl_invalid_arguments: why = "invalid arguments"; break;
	case dnnl_unimplemented: why = "no implementation for these shapes"; break;
	case dnnl_runtime_error: why = "runtime error"; break;
	default: why = "failure"; break;
	}
	return sc_fail(err, st == dnnl_unimplemented ? SC_EUNSUPPORTED : SC_EINTERNAL,
		       "%s: oneDNN %s (status %d)", what, why, (int)st);
}
