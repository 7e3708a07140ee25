/*
 * oa_masks.c -- the observed-variable masks of order-agnostic training
 * (docs/order_agnostic.md §4; contract in nade.h): per row a split s uniform in
 * {0, ..., n-1} and a uniformly random set of s observed features, from the
 * row's own counter-based Philox stream, so that a mask depends on the key
 * and the row only -- not on the thread or the block that draws it.
 */
#include "nade.h"
#include "philox.h"

/* A row's 32-bit draws in the order of nade_uniform_bits: eight per Philox
   block, block m at counter (m + 1, row, 0, 0), low half of each word first. */
typedef struct {
    const uint64_t *key;
    uint64_t ctr[4];
    uint32_t buf[8];
    int next;
} nade_row_stream;

static void stream_init(nade_row_stream *st, const uint64_t key[2], uint64_t row)
{
    st->key = key;
    st->ctr[0] = 0;
    st->ctr[1] = row;
    st->ctr[2] = 0;
    st->ctr[3] = 0;
    st->next = 8;
}

static uint32_t stream_next(nade_row_stream *st)
{
    if (st->next == 8) {
        uint64_t w[4];
        st->ctr[0] += 1;
        nade_philox4x64_10(st->ctr, st->key, w);
        for (int i = 0; i < 8; i++) st->buf[i] = (uint32_t)(w[i >> 1] >> (32 * (i & 1)));
        st->next = 0;
    }
    return st->buf[st->next++];
}

/* uniform in [0, range), range >= 1: Lemire's multiply-shift, with the
   rejection step that removes its bias (Lemire 2019, "Fast random integer
   generation in an interval") */
static uint32_t stream_below(nade_row_stream *st, uint32_t range)
{
    uint64_t m = (uint64_t)stream_next(st) * range;
    uint32_t low = (uint32_t)m;
    if (low < range) {
        const uint32_t threshold = (uint32_t)(0u - range) % range;
        while (low < threshold) {
            m = (uint64_t)stream_next(st) * range;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

int nade_oa_masks(const uint64_t key[2], uint64_t row0, ptrdiff_t n, ptrdiff_t nrows,
                  uint8_t *mask, ptrdiff_t ldm, ptrdiff_t *perm)
{
    /* n bounds 32-bit draws (stream_below) */
    if (key == NULL || n < 1 || (uint64_t)n > UINT32_MAX || nrows < 0 || ldm < n ||
        mask == NULL || perm == NULL)
        return NADE_EINVAL;
    for (ptrdiff_t r = 0; r < nrows; r++) {
        nade_row_stream st;
        stream_init(&st, key, row0 + (uint64_t)r);
        uint8_t *m = mask + r * ldm;
        for (ptrdiff_t j = 0; j < n; j++) {
            m[j] = 0;
            perm[j] = j;
        }
        const ptrdiff_t s = (ptrdiff_t)stream_below(&st, (uint32_t)n);
        for (ptrdiff_t i = 0; i < s; i++) { /* the first s entries of a random shuffle */
            const ptrdiff_t k = i + (ptrdiff_t)stream_below(&st, (uint32_t)(n - i));
            const ptrdiff_t t = perm[k];
            perm[k] = perm[i];
            perm[i] = t;
            m[t] = 1;
        }
    }
    return NADE_OK;
}
