/*
 * philox.h -- Philox4x64-10 (Salmon et al., "Parallel random numbers: as
 * easy as 1, 2, 3", SC 2011), the counter-based generator behind
 * numpy.random.Philox.  A pure function of (counter, key): the sampler
 * derives every uniform from (seed, row, position), never from a thread.
 */
#ifndef NADE_PHILOX_H
#define NADE_PHILOX_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t nade_mulhilo64(uint64_t a, uint64_t b, uint64_t *hi)
{
#if defined(__SIZEOF_INT128__)
    unsigned __int128 p = (unsigned __int128)a * b;
    *hi = (uint64_t)(p >> 64);
    return (uint64_t)p;
#else
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return (mid << 32) | (uint32_t)p00;
#endif
}

/* out = Philox4x64-10(ctr, key) */
static inline void nade_philox4x64_10(const uint64_t ctr[4], const uint64_t key[2], uint64_t out[4])
{
    uint64_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint64_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += 0x9E3779B97F4A7C15ull; /* golden ratio */
            k1 += 0xBB67AE8584CAA73Bull; /* sqrt(3) - 1 */
        }
        uint64_t hi0, hi1;
        uint64_t lo0 = nade_mulhilo64(0xD2E7470EE14C6C93ull, c0, &hi0);
        uint64_t lo1 = nade_mulhilo64(0xCA5A826395121157ull, c2, &hi1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* out[k], k in [0, n): 32-bit draws of one row, in stream order: word m of
   the row's stream is Philox(counter = (m / 4 + 1, row, 0, 0))[m % 4] (the
   stream numpy.random.Philox(key=key, counter=[0, row, 0, 0]).random_raw()
   produces), and position k takes the low (even k) or high (odd k) half of
   word k / 2. */
static inline void nade_uniform_bits_row(const uint64_t key[2], uint64_t row, ptrdiff_t n,
                                         uint32_t *out)
{
    uint64_t ctr[4] = {0, row, 0, 0}, w[4];
    for (ptrdiff_t k0 = 0; k0 < n; k0 += 8) {
        ctr[0] = (uint64_t)(k0 / 8) + 1;
        nade_philox4x64_10(ctr, key, w);
        for (int i = 0; i < 8 && k0 + i < n; i++)
            out[k0 + i] = (uint32_t)(w[i >> 1] >> (32 * (i & 1)));
    }
}

#endif /* NADE_PHILOX_H */
