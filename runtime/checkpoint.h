/* checkpoint.h: the checkpoint file, a list of named tensors plus a text
 * blob (JSON, the caller's), protected by a CRC-32.
 *
 * Layout, little-endian:
 *   "SCCKPT01"                 magic and format version
 *   u64 meta_len, meta bytes   the caller's text
 *   u32 n                      entries, then for each:
 *     u32 name_len, name bytes, u32 dtype, u32 rank, i64 dims[rank],
 *     u64 nbytes, data
 *   u32 crc32 of everything before it, "END!"
 * The reader checks the size, the trailer and the checksum before it
 * parses anything, then every length against what is left of the file,
 * so a truncated or corrupted checkpoint is refused with one line naming
 * it and is never half-loaded.  Writes are atomic (fileio.h). */
#ifndef SUPCON_CHECKPOINT_H
#define SUPCON_CHECKPOINT_H

#include "status.h"
#include "tensor.h"

typedef struct ckpt_entry {
	char *name;
	sc_tensor t;       /* owned */
} ckpt_entry;

typedef struct ckpt {
	char *meta;        /* NUL-terminated */
	int n;
	ckpt_entry *e;
} ckpt;

/* Writes n tensors (names[i], t[i]) and meta to path atomically. */
int ckpt_write(const char *path, const char *meta, int n,
	       const char *const *names, const sc_tensor *const *t,
	       sc_error *err);

/* Reads path.  SC_EINVAL "PATH: corrupted checkpoint (...)" for any
 * damage; SC_EINVAL for a missing file. */
int ckpt_read(const char *path, ckpt **out, sc_error *err);
void ckpt_free(ckpt *c);

/* The entry called name, or NULL. */
const sc_tensor *ckpt_find(const ckpt *c, const char *name);

#endif
