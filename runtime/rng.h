/* rng.h: the one seeded random number generator of supcon.
 *
 * xoshiro256** seeded through splitmix64.  Everything random in training
 * (weight initialisation, shuffling, augmentation, synthetic data) draws
 * from an rng made by rng_init(seed, stream): the same seed and stream give
 * the same sequence on every machine and thread count, and different
 * streams of one seed are independent.  Deriving a stream per image
 * (stream = epoch * 2^32 + index, say) makes per-image work deterministic
 * whatever thread runs it.  An rng is a small value; it is not thread-safe,
 * give each thread its own. */
#ifndef SUPCON_RNG_H
#define SUPCON_RNG_H

#include <stdint.h>

typedef struct rng {
	uint64_t s[4];
} rng;

void rng_init(rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rng_uniform(rng *r);
/* Uniform in [lo, hi). */
double rng_range(rng *r, double lo, double hi);
/* Uniform integer in [0, n), without modulo bias; 0 when n == 0. */
uint64_t rng_below(rng *r, uint64_t n);
/* Standard normal (Box-Muller, one value per call). */
double rng_normal(rng *r);
/* Fisher-Yates shuffle of n int64 indices. */
void rng_shuffle(rng *r, int64_t *v, int64_t n);

#endif
