/* Conv-FSENet streaming engine, C backend: one STFT frame in, one enhanced frame out.
 *
 * The same algorithm, array layouts and frame pipeline as the numba kernels (bench/engine/kernels.py, whose
 * docstring is the reference); bench/engine/cengine.py builds this file and passes the arrays of a
 * bench.engine.StreamingEngine through the Engine struct below. Why C next to numba: numba's loop vectoriser
 * emits 256-bit loops that reload and store the output row for every input row; in a kernel micro-benchmark on
 * the Sapphire Rapids Xeon of reports/benchmarks/engine.json the small config's 1x1 convs ran at ~25-30 GMAC/s
 * dense and ~15-20 gathered there, ~35-45 and ~30 here. With AVX-512 this file keeps 64 outputs of a 1x1 conv in
 * registers across all input rows (dense) or all active channels (gathered), reduces gathered dot products four
 * at a time, fuses the gate's last layer with its decisions and their vcompress compaction, skips 16-channel
 * chunks without a kept channel in the norms and the depthwise conv, and uses libmvec's vector logf/expf for
 * |X|^c and the sigmoid. Without AVX-512 the plain loops below are used (same results up to summation order).
 *
 * One layout difference: this backend keeps the delayed input spectra sr interleaved, (RS, F, 2) floats (a row is
 * one memcpy of the frame), where the numba kernels keep (RS, 2, F); the array is private state of one engine.
 *
 * Floating point: float32 as the PyTorch model; summation order differs from it (vectorised reductions, fused
 * multiply-adds) and, with AVX-512, |X|^c = exp(c/2 * log(re^2 + im^2)) and exp come from libmvec (within a few
 * ulp of libm's scalar functions); no fast-math flags.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

/* rows of vh, parts of a channel record, columns of geo, scratch rows: as kernels.py */
enum { V_B1, V_G1, V_BE1, V_DWB, V_G2, V_BE2, V_DW };
enum { P_W1, P_W2 };
enum { E_K, E_DIL, E_SPAN, E_DR, E_GR, E_RX, E_RA, E_RK, N_GEO };
enum { W_X, W_Y, W_FEAT, W_H, W_POOL, W_G0, W_G1 };

typedef struct {
    int64_t nF, nB, nH, nb, nvh, pool;
    int64_t O1, Lm, G, Hg;            /* gate: first-layer outputs, middle layers and width, last-layer outputs (0: one layer) */
    int64_t RX, RA, RK, RS, W;        /* allocated ring lengths (max over blocks), scratch row width */
    int64_t ldb;                      /* row length of wb (F padded to 16 floats) */
    double cexp;
    const float *wf, *bf, *wb, *bb, *chan, *w1t, *w2t, *vh, *b2, *sc, *gf, *gbf, *gm, *gbm, *gl, *gbl;
    const int64_t *geo;
    float *xr, *ar;
    int32_t *kr, *kc;
    float *fr, *sr, *wk;
    int64_t *cnt;
} Engine;

/* ------------------------------------------------------------------ inner products */
#ifdef __AVX512F__
static inline __mmask16 tail16(int64_t rem) { return rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (rem > 0 ? rem : 0)) - 1u); }
#endif

#ifdef __AVX512F__
/* a[0:4] (outputs o .. o+63, lanes masked by k) += sum_{i<n} row(i)[o:o+64] * v[r_i], row(i) = base + r_i * ldr,
 * r_i = idx[i] (idx NULL: i). Two sets of 4 accumulators (even and odd i: 8 independent FMA chains hide the FMA
 * latency), added at the end. The one register-blocked loop behind the dense 1x1 convs, the gathered columns of
 * the second conv and the gate's last layer. */
static inline void acc64(const float *base, int64_t ldr, const int32_t *idx, int64_t n, int64_t o,
                         const __mmask16 k[4], const float *v, __m512 a[4])
{
    __m512 b[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    int64_t i = 0;
    for (; i + 2 <= n; i += 2) {
        const int64_t rc = idx ? idx[i] : i, rd = idx ? idx[i + 1] : i + 1;
        const float *r = base + rc * ldr + o, *q = base + rd * ldr + o;
        const __m512 vc = _mm512_set1_ps(v[rc]), vd = _mm512_set1_ps(v[rd]);
        for (int u = 0; u < 4; u++) {
            a[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k[u], r + 16 * u), vc, a[u]);
            b[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k[u], q + 16 * u), vd, b[u]);
        }
    }
    if (i < n) {
        const int64_t rc = idx ? idx[i] : i;
        const float *r = base + rc * ldr + o;
        const __m512 vc = _mm512_set1_ps(v[rc]);
        for (int u = 0; u < 4; u++) a[u] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k[u], r + 16 * u), vc, a[u]);
    }
    for (int u = 0; u < 4; u++) a[u] = _mm512_add_ps(a[u], b[u]);
}

static inline void tails64(int64_t rem, __mmask16 k[4])
{
    for (int u = 0; u < 4; u++) k[u] = tail16(rem - 16 * u);
}
#endif

/* y[0:m] += sum_{i<n} row(i)[0:m] * v[r_i], row(i) = base + r_i * ldr, r_i = idx[i] (idx NULL: i, the dense
 * row-axpys of a (n, ldr) matrix; else gathered rows, e.g. the kept channels' columns of the second 1x1 conv).
 * AVX-512: 64 outputs held in registers over all n rows (acc64). */
static inline void axpy(const float *base, int64_t ldr, const int32_t *idx, int64_t n, int64_t m, const float *v,
                        float *y)
{
#ifdef __AVX512F__
    for (int64_t o = 0; o < m; o += 64) {
        __mmask16 k[4];
        __m512 a[4];
        tails64(m - o, k);
        for (int u = 0; u < 4; u++) a[u] = _mm512_maskz_loadu_ps(k[u], y + o + 16 * u);
        acc64(base, ldr, idx, n, o, k, v, a);
        for (int u = 0; u < 4; u++) _mm512_mask_storeu_ps(y + o + 16 * u, k[u], a[u]);
    }
#else
    for (int64_t i = 0; i < n; i++) {
        const int64_t rc = idx ? idx[i] : i;
        const float vc = v[rc], *r = base + rc * ldr;
        for (int64_t o = 0; o < m; o++) y[o] += r[o] * vc;
    }
#endif
}

/* out[c] = bias[c] + rec(c)[0:m] . x[0:m] for c = idx[i] (c = i when idx is NULL), i < n; rec(c) = base + c*ldr */
static inline void dot_scatter(const float *base, int64_t ldr, const int32_t *idx, int64_t n, int64_t m,
                               const float *x, const float *bias, float *out)
{
#ifdef __AVX512F__
    if (m <= 64) {                    /* x in registers; one record = up to 4 vectors */
        const __mmask16 k0 = tail16(m), k1 = tail16(m - 16), k2 = tail16(m - 32), k3 = tail16(m - 48);
        const __m512 x0 = _mm512_maskz_loadu_ps(k0, x), x1 = _mm512_maskz_loadu_ps(k1, x + 16);
        const __m512 x2 = _mm512_maskz_loadu_ps(k2, x + 32), x3 = _mm512_maskz_loadu_ps(k3, x + 48);
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) {      /* 4 records, their 4 sums reduced together (11 shuffles/adds, not 4 x 8) */
            int64_t c[4];
            __m512 s[4];
            for (int u = 0; u < 4; u++) {
                c[u] = idx ? idx[i + u] : i + u;
                const float *r = base + c[u] * ldr;
                __m512 a = _mm512_mul_ps(_mm512_maskz_loadu_ps(k0, r), x0);
                __m512 b = _mm512_mul_ps(_mm512_maskz_loadu_ps(k1, r + 16), x1);
                a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k2, r + 32), x2, a);
                b = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k3, r + 48), x3, b);
                s[u] = _mm512_add_ps(a, b);
            }
            /* fold 16 -> 8 (two records per vector), 8 -> 4 (one record per 128-bit lane), 4 -> 1 within lanes */
            const __m512 t01 = _mm512_add_ps(_mm512_shuffle_f32x4(s[0], s[1], 0x44), _mm512_shuffle_f32x4(s[0], s[1], 0xEE));
            const __m512 t23 = _mm512_add_ps(_mm512_shuffle_f32x4(s[2], s[3], 0x44), _mm512_shuffle_f32x4(s[2], s[3], 0xEE));
            __m512 q = _mm512_add_ps(_mm512_shuffle_f32x4(t01, t23, 0x88), _mm512_shuffle_f32x4(t01, t23, 0xDD));
            q = _mm512_add_ps(q, _mm512_permute_ps(q, 0x4E));
            q = _mm512_add_ps(q, _mm512_permute_ps(q, 0xB1));
            float tot[16];
            _mm512_storeu_ps(tot, q);
            for (int u = 0; u < 4; u++) out[c[u]] = bias[c[u]] + tot[4 * u];
        }
        for (; i < n; i++) {
            const int64_t c = idx ? idx[i] : i;
            const float *r = base + c * ldr;
            __m512 s = _mm512_mul_ps(_mm512_maskz_loadu_ps(k0, r), x0);
            __m512 t = _mm512_mul_ps(_mm512_maskz_loadu_ps(k1, r + 16), x1);
            s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k2, r + 32), x2, s);
            t = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k3, r + 48), x3, t);
            out[c] = bias[c] + _mm512_reduce_add_ps(_mm512_add_ps(s, t));
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = idx ? idx[i] : i;
        const float *r = base + c * ldr;
        __m512 s = _mm512_setzero_ps();
        for (int64_t j = 0; j < m; j += 16) {
            const __mmask16 k = tail16(m - j);
            s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, r + j), _mm512_maskz_loadu_ps(k, x + j), s);
        }
        out[c] = bias[c] + _mm512_reduce_add_ps(s);
    }
#else
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = idx ? idx[i] : i;
        const float *r = base + c * ldr;
        float s = 0.0f;
        for (int64_t j = 0; j < m; j++) s += r[j] * x[j];
        out[c] = bias[c] + s;
    }
#endif
}

/* the 0/1 keep row kf (n,) -> indices of its ones in idx; returns their count */
static inline int32_t compact(const float *kf, int64_t n, int32_t *idx)
{
    int32_t na = 0;
    int64_t c = 0;
#ifdef __AVX512F__
    const __m512i step = _mm512_set1_epi32(16);
    __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; c + 16 <= n; c += 16, ids = _mm512_add_epi32(ids, step)) {
        const __mmask16 k = _mm512_cmp_ps_mask(_mm512_loadu_ps(kf + c), _mm512_setzero_ps(), _CMP_NEQ_OQ);
        _mm512_mask_compressstoreu_epi32(idx + na, k, ids);
        na += __builtin_popcount((unsigned)k);
    }
#endif
    for (; c < n; c++) {              /* branch-free (decisions are unpredictable) */
        idx[na] = (int32_t)c;
        na += kf[c] != 0.0f;
    }
    return na;
}

/* ------------------------------------------------------------------ norms (the model's MaskedChannelNorm) */
#define ALL_CHUNKS (~(uint64_t)0)
/* bit j set when a channel of chunk j (channels 16j .. 16j+15) has kf != 0; chunks past 64 are always "set" */
static inline uint64_t chunk_bits(const float *kf, int64_t n)
{
    if (n > 1024) return ALL_CHUNKS;
    uint64_t cm = 0;
#ifdef __AVX512F__
    for (int64_t i = 0, j = 0; i < n; i += 16, j++) {
        const __mmask16 k = tail16(n - i);
        cm |= (uint64_t)(_mm512_mask_cmp_ps_mask(k, _mm512_maskz_loadu_ps(k, kf + i), _mm512_setzero_ps(), _CMP_NEQ_OQ) != 0) << j;
    }
#else
    for (int64_t i = 0; i < n; i++) cm |= (uint64_t)(kf[i] != 0.0f) << (i >> 4);
#endif
    return cm;
}
#define CHUNK_ON(cm, j) ((j) >= 64 || (((cm) >> (j)) & 1))

/* in place on v[0:n]: LayerNorm over channels (statistics over those with kf == 1, cnt of them; all when kf is
 * NULL), affine g/be, PReLU; times kf when zero_skipped. Two passes for the statistics, as the model. Only the
 * 16-channel chunks with their bit in cm are read or written (a chunk without kept channels adds nothing to
 * the masked statistics; its values are never read: norm2's feed conv2's kept columns only, and norm1's skipped
 * channels were zeroed before). */
#ifdef __AVX512F__
/* every chunk: 4 accumulators over 64 channels per step (the dense reference's path: measured faster than the
 * chunk-by-chunk loop below when no chunk is skipped) */
static inline void norm_act_all(float *v, const float *kf, int64_t n, int64_t cnt, const float *g, const float *be,
                            float eps, float slope, int zero_skipped)
{
    /* each statistic: 4 accumulators over 64 channels per step (one chain was FMA-latency bound) */
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int64_t i = 0; i < n; i += 64) {
        const __mmask16 k0 = tail16(n - i), k1 = tail16(n - i - 16), k2 = tail16(n - i - 32), k3 = tail16(n - i - 48);
        const __m512 x0 = _mm512_maskz_loadu_ps(k0, v + i), x1 = _mm512_maskz_loadu_ps(k1, v + i + 16);
        const __m512 x2 = _mm512_maskz_loadu_ps(k2, v + i + 32), x3 = _mm512_maskz_loadu_ps(k3, v + i + 48);
        if (kf) {
            s0 = _mm512_fmadd_ps(x0, _mm512_maskz_loadu_ps(k0, kf + i), s0);
            s1 = _mm512_fmadd_ps(x1, _mm512_maskz_loadu_ps(k1, kf + i + 16), s1);
            s2 = _mm512_fmadd_ps(x2, _mm512_maskz_loadu_ps(k2, kf + i + 32), s2);
            s3 = _mm512_fmadd_ps(x3, _mm512_maskz_loadu_ps(k3, kf + i + 48), s3);
        } else {
            s0 = _mm512_add_ps(s0, x0); s1 = _mm512_add_ps(s1, x1); s2 = _mm512_add_ps(s2, x2); s3 = _mm512_add_ps(s3, x3);
        }
    }
    const float mean = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))) / (float)cnt;
    const __m512 mv = _mm512_set1_ps(mean);
    __m512 q0 = _mm512_setzero_ps(), q1 = q0, q2 = q0, q3 = q0;
    for (int64_t i = 0; i < n; i += 64) {
        const __mmask16 k0 = tail16(n - i), k1 = tail16(n - i - 16), k2 = tail16(n - i - 32), k3 = tail16(n - i - 48);
        const __m512 d0 = _mm512_maskz_sub_ps(k0, _mm512_maskz_loadu_ps(k0, v + i), mv);
        const __m512 d1 = _mm512_maskz_sub_ps(k1, _mm512_maskz_loadu_ps(k1, v + i + 16), mv);
        const __m512 d2 = _mm512_maskz_sub_ps(k2, _mm512_maskz_loadu_ps(k2, v + i + 32), mv);
        const __m512 d3 = _mm512_maskz_sub_ps(k3, _mm512_maskz_loadu_ps(k3, v + i + 48), mv);
        if (kf) {
            q0 = _mm512_fmadd_ps(_mm512_mul_ps(d0, d0), _mm512_maskz_loadu_ps(k0, kf + i), q0);
            q1 = _mm512_fmadd_ps(_mm512_mul_ps(d1, d1), _mm512_maskz_loadu_ps(k1, kf + i + 16), q1);
            q2 = _mm512_fmadd_ps(_mm512_mul_ps(d2, d2), _mm512_maskz_loadu_ps(k2, kf + i + 32), q2);
            q3 = _mm512_fmadd_ps(_mm512_mul_ps(d3, d3), _mm512_maskz_loadu_ps(k3, kf + i + 48), q3);
        } else {
            q0 = _mm512_fmadd_ps(d0, d0, q0); q1 = _mm512_fmadd_ps(d1, d1, q1);
            q2 = _mm512_fmadd_ps(d2, d2, q2); q3 = _mm512_fmadd_ps(d3, d3, q3);
        }
    }
    const float var = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(q0, q1), _mm512_add_ps(q2, q3))) / (float)cnt;
    const __m512 r = _mm512_set1_ps(1.0f / sqrtf(var + eps));
    const __m512 sl = _mm512_set1_ps(slope), zero = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = tail16(n - i);
        const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, v + i), mv);
        __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(d, r), _mm512_maskz_loadu_ps(k, g + i), _mm512_maskz_loadu_ps(k, be + i));
        y = _mm512_mask_mul_ps(y, _mm512_cmp_ps_mask(y, zero, _CMP_LT_OQ), y, sl);     /* PReLU */
        if (kf && zero_skipped) y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(k, kf + i));
        _mm512_mask_storeu_ps(v + i, k, y);
    }
}

static inline void norm_act(float *v, const float *kf, int64_t n, int64_t cnt, const float *g, const float *be,
                            float eps, float slope, int zero_skipped, uint64_t cm)
{
    if (cm == ALL_CHUNKS) { norm_act_all(v, kf, n, cnt, g, be, eps, slope, zero_skipped); return; }
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t i = 0, j = 0; i < n; i += 16, j++) {      /* 4 accumulators: one chain was FMA-latency bound */
        if (!CHUNK_ON(cm, j)) continue;
        const __mmask16 k = tail16(n - i);
        const __m512 x = _mm512_maskz_loadu_ps(k, v + i);
        s[j & 3] = kf ? _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(k, kf + i), s[j & 3]) : _mm512_add_ps(s[j & 3], x);
    }
    const float mean = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]))) / (float)cnt;
    const __m512 mv = _mm512_set1_ps(mean);
    __m512 q[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int64_t i = 0, j = 0; i < n; i += 16, j++) {
        if (!CHUNK_ON(cm, j)) continue;
        const __mmask16 k = tail16(n - i);
        const __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, v + i), mv);
        q[j & 3] = kf ? _mm512_fmadd_ps(_mm512_mul_ps(d, d), _mm512_maskz_loadu_ps(k, kf + i), q[j & 3])
                      : _mm512_fmadd_ps(d, d, q[j & 3]);
    }
    const float var = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(q[0], q[1]), _mm512_add_ps(q[2], q[3]))) / (float)cnt;
    const __m512 r = _mm512_set1_ps(1.0f / sqrtf(var + eps));
    const __m512 sl = _mm512_set1_ps(slope), zero = _mm512_setzero_ps();
    for (int64_t i = 0, j = 0; i < n; i += 16, j++) {
        if (!CHUNK_ON(cm, j)) continue;
        const __mmask16 k = tail16(n - i);
        const __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, v + i), mv);
        __m512 y = _mm512_fmadd_ps(_mm512_mul_ps(d, r), _mm512_maskz_loadu_ps(k, g + i), _mm512_maskz_loadu_ps(k, be + i));
        y = _mm512_mask_mul_ps(y, _mm512_cmp_ps_mask(y, zero, _CMP_LT_OQ), y, sl);     /* PReLU */
        if (kf && zero_skipped) y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(k, kf + i));
        _mm512_mask_storeu_ps(v + i, k, y);
    }
}
#else
static inline void norm_act(float *v, const float *kf, int64_t n, int64_t cnt, const float *g, const float *be,
                            float eps, float slope, int zero_skipped, uint64_t cm)
{
    (void)cm;                         /* full width: plain loops vectorise better than chunk tests */
    float s = 0.0f, q = 0.0f;
    for (int64_t i = 0; i < n; i++) s += kf ? v[i] * kf[i] : v[i];
    const float mean = s / (float)cnt;
    for (int64_t i = 0; i < n; i++) { const float d = v[i] - mean; q += kf ? d * d * kf[i] : d * d; }
    const float r = 1.0f / sqrtf(q / (float)cnt + eps);
    for (int64_t i = 0; i < n; i++) {
        const float y = (v[i] - mean) * r * g[i] + be[i];
        v[i] = (y >= 0.0f ? y : slope * y) * (kf && zero_skipped ? kf[i] : 1.0f);
    }
}
#endif

/* h[c] = b[c] + sum_j w[j, c] * a(frame base + j*dil)[c] for the channels of the chunks in cm (k taps; rows of
 * the depthwise ring ar, ring mask ma) */
static inline void depthwise(const float *ar, int64_t ma, int64_t n, int64_t base, int64_t dil, int64_t kk,
                             const float *w, const float *b, uint64_t cm, float *h)
{
#ifdef __AVX512F__
    for (int64_t i = 0, j = 0; i < n; i += 16, j++) {
        if (!CHUNK_ON(cm, j)) continue;
        const __mmask16 k = tail16(n - i);
        __m512 acc = _mm512_maskz_loadu_ps(k, b + i);
        for (int64_t t = 0; t < kk; t++)
            acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, w + t * n + i),
                                  _mm512_maskz_loadu_ps(k, ar + ((base + t * dil) & ma) * n + i), acc);
        _mm512_mask_storeu_ps(h + i, k, acc);
    }
#else
    (void)cm;
    memcpy(h, b, (size_t)n * sizeof(float));
    for (int64_t t = 0; t < kk; t++) {
        const float *a = ar + ((base + t * dil) & ma) * n, *wt = w + t * n;
#pragma omp simd
        for (int64_t c = 0; c < n; c++) h[c] += wt[c] * a[c];
    }
#endif
}

/* ------------------------------------------------------------------ transcendentals
 * AVX-512: glibc's libmvec vector logf/expf (16 lanes; the scalar libm powf/expf calls were ~15 % of a
 * small-config frame), documented to within a few ulp of the scalar functions; elsewhere libm's scalar powf/expf. */
#ifdef __AVX512F__
__m512 _ZGVeN16v_expf(__m512 x);
__m512 _ZGVeN16v_logf(__m512 x);
#endif

/* feats[f] = |frame[f]| ** cexp for the (n,) complex64 frame stored as (n, 2) floats */
static inline void compress_mag(const float *frame, int64_t n, float cexp, float *feats)
{
    int64_t f = 0;
#ifdef __AVX512F__
    const __m512 c = _mm512_set1_ps(0.5f * cexp);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (; f < n; f += 16) {
        const __mmask16 k = tail16(n - f);
        const __mmask16 lo = tail16(2 * (n - f)), hi = tail16(2 * (n - f) - 16);
        const __m512 a = _mm512_maskz_loadu_ps(lo, frame + 2 * f), b = _mm512_maskz_loadu_ps(hi, frame + 2 * f + 16);
        const __m512 re = _mm512_permutex2var_ps(a, even, b), im = _mm512_permutex2var_ps(a, odd, b);
        const __m512 sq = _mm512_fmadd_ps(re, re, _mm512_mul_ps(im, im));
        _mm512_mask_storeu_ps(feats + f, k, _ZGVeN16v_expf(_mm512_mul_ps(c, _ZGVeN16v_logf(sq))));
    }
#endif
    for (; f < n; f++) {
        const float re = frame[2 * f], im = frame[2 * f + 1];
        feats[f] = powf(sqrtf(re * re + im * im), cexp);
    }
}

/* in place on z[0:n]: 1 / (1 + exp(-z)) */
static inline void sigmoid(float *z, int64_t n)
{
    int64_t f = 0;
#ifdef __AVX512F__
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; f < n; f += 16) {
        const __mmask16 k = tail16(n - f);
        const __m512 e = _ZGVeN16v_expf(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_maskz_loadu_ps(k, z + f)));
        _mm512_mask_storeu_ps(z + f, k, _mm512_div_ps(one, _mm512_add_ps(one, e)));
    }
#endif
    for (; f < n; f++) z[f] = 1.0f / (1.0f + expf(-z[f]));
}

/* out[f] = spec[f] * m[f] for n complex bins stored as (n, 2) floats */
static inline void apply_mask(const float *spec, const float *m, int64_t n, float *out)
{
    int64_t f = 0;
#ifdef __AVX512F__
    const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (; f + 8 <= n; f += 8) {
        const __m512 mm = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(m + f)));
        _mm512_storeu_ps(out + 2 * f, _mm512_mul_ps(_mm512_loadu_ps(spec + 2 * f), mm));
    }
#endif
    for (; f < n; f++) { out[2 * f] = spec[2 * f] * m[f]; out[2 * f + 1] = spec[2 * f + 1] * m[f]; }
}

/* ------------------------------------------------------------------ gate MLP of block k on pooled (B,) */
#ifdef __AVX512F__
/* The gate's last layer fused with its decisions and their compaction: scores = b + sum_j w[j, :] * v[j] (the
 * same summation as axpy, so the same floats), kf = scores > 0, idx = indices of the kept channels, without
 * storing the scores and reading them back twice; returns the count. w (n1, m) rows of length m. */
static inline int32_t last_layer_decide(const float *w, const float *b, int64_t n1, int64_t m, const float *v,
                                        float *kf, int32_t *idx)
{
    int32_t na = 0;
    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    __m512i ids = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512i step = _mm512_set1_epi32(16);
    for (int64_t o = 0; o < m; o += 64) {
        __mmask16 k[4];
        __m512 a[4];
        tails64(m - o, k);
        for (int u = 0; u < 4; u++) a[u] = _mm512_maskz_loadu_ps(k[u], b + o + 16 * u);
        acc64(w, m, NULL, n1, o, k, v, a);
        for (int u = 0; u < 4; u++, ids = _mm512_add_epi32(ids, step)) {
            if (!k[u]) continue;
            const __mmask16 keep = _mm512_mask_cmp_ps_mask(k[u], a[u], zero, _CMP_GT_OQ);
            _mm512_mask_storeu_ps(kf + o + 16 * u, k[u], _mm512_maskz_mov_ps(keep, one));
            _mm512_mask_compressstoreu_epi32(idx + na, keep, ids);
            na += __builtin_popcount((unsigned)keep);
        }
    }
    return na;
}
#endif

static const float *gate_scores(const Engine *e, int64_t k, const float *pooled, float *h0, float *h1)
{
    const int64_t n1 = e->O1, nB = e->nB;
    const float *gf = e->gf + k * n1 * nB, *gbf = e->gbf + k * n1;
    dot_scatter(gf, nB, NULL, n1, nB, pooled, gbf, h0);     /* h0[o] = gbf[o] + gf[o] . pooled */
    if (e->Hg == 0) return h0;
    float *src = h0, *dst = h1;
    for (int64_t li = 0; li < e->Lm; li++) {
        const float *gm = e->gm + (k * e->Lm + li) * e->G * e->G, *gbm = e->gbm + (k * e->Lm + li) * e->G;
        for (int64_t o = 0; o < n1; o++) { src[o] = src[o] > 0.0f ? src[o] : 0.0f; dst[o] = gbm[o]; }
        axpy(gm, e->G, NULL, n1, n1, src, dst);
        float *t = src; src = dst; dst = t;
    }
    for (int64_t o = 0; o < n1; o++) src[o] = src[o] > 0.0f ? src[o] : 0.0f;
    const int64_t nH = e->Hg;
    memcpy(dst, e->gbl + k * nH, (size_t)nH * sizeof(float));
    axpy(e->gl + k * n1 * nH, nH, NULL, n1, nH, src, dst);
    return dst;
}

/* kf[c] = 1 if scores[c] > 0 else 0 (the gate's decision) */
static inline void keep_row_from_scores(const float *restrict scores, int64_t n, float *restrict kf)
{
#pragma omp simd
    for (int64_t c = 0; c < n; c++) kf[c] = scores[c] > 0.0f ? 1.0f : 0.0f;
}

/* decisions of block k's gate for its pooled input: kf (0/1 row) and idx (their indices); returns the count.
 * AVX-512 and a two-layer gate (the default): the last layer fused with the decisions (last_layer_decide). */
static inline int32_t gate_decide(const Engine *e, int64_t k, const float *pooled, float *h0, float *h1, float *kf,
                                  int32_t *idx)
{
#ifdef __AVX512F__
    if (e->Hg > 0 && e->Lm == 0) {
        const int64_t n1 = e->O1, nB = e->nB;
        dot_scatter(e->gf + k * n1 * nB, nB, NULL, n1, nB, pooled, e->gbf + k * n1, h0);
        for (int64_t o = 0; o < n1; o++) h0[o] = h0[o] > 0.0f ? h0[o] : 0.0f;
        return last_layer_decide(e->gl + k * n1 * e->Hg, e->gbl + k * e->Hg, n1, e->Hg, h0, kf, idx);
    }
#endif
    keep_row_from_scores(gate_scores(e, k, pooled, h0, h1), e->nH, kf);
    return compact(kf, e->nH, idx);
}

/* pooled[0:nB] = mean of the block-input ring's rows for frames t_in - pool + 1 .. t_in (oldest first, frames < 0
 * are zeros: the model's zero padding) */
static inline void pool_inputs(const float *restrict xr, int64_t mx, int64_t nB, int64_t t_in, int64_t pool,
                               float *restrict pooled)
{
#ifdef __AVX512F__
    for (int64_t i = 0; i < nB; i += 64) {          /* 64 sums in registers over the pool frames */
        const __mmask16 k0 = tail16(nB - i), k1 = tail16(nB - i - 16), k2 = tail16(nB - i - 32), k3 = tail16(nB - i - 48);
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t j = pool - 1; j >= 0; j--) {
            const int64_t tt = t_in - j;
            if (tt < 0) continue;
            const float *xs = xr + (tt & mx) * nB + i;
            a0 = _mm512_add_ps(a0, _mm512_maskz_loadu_ps(k0, xs));
            a1 = _mm512_add_ps(a1, _mm512_maskz_loadu_ps(k1, xs + 16));
            a2 = _mm512_add_ps(a2, _mm512_maskz_loadu_ps(k2, xs + 32));
            a3 = _mm512_add_ps(a3, _mm512_maskz_loadu_ps(k3, xs + 48));
        }
        const __m512 p = _mm512_set1_ps((float)pool);
        _mm512_mask_storeu_ps(pooled + i, k0, _mm512_div_ps(a0, p));
        _mm512_mask_storeu_ps(pooled + i + 16, k1, _mm512_div_ps(a1, p));
        _mm512_mask_storeu_ps(pooled + i + 32, k2, _mm512_div_ps(a2, p));
        _mm512_mask_storeu_ps(pooled + i + 48, k3, _mm512_div_ps(a3, p));
    }
#else
    for (int64_t i = 0; i < nB; i++) pooled[i] = 0.0f;
    for (int64_t j = pool - 1; j >= 0; j--) {
        const int64_t tt = t_in - j;
        if (tt >= 0) {
            const float *restrict xs = xr + (tt & mx) * nB;
#pragma omp simd
            for (int64_t i = 0; i < nB; i++) pooled[i] += xs[i];
        }
    }
    const float inv = (float)pool;
#pragma omp simd
    for (int64_t i = 0; i < nB; i++) pooled[i] = pooled[i] / inv;
#endif
}

/* kf[c] = 1 if forced[c] != 0 else 0 (forced decisions, uint8) */
static inline void keep_row_from_bytes(const uint8_t *restrict forced, int64_t n, float *restrict kf)
{
#pragma omp simd
    for (int64_t c = 0; c < n; c++) kf[c] = forced[c] != 0 ? 1.0f : 0.0f;
}

/* ------------------------------------------------------------------ one frame (kernels.engine_step) */
int64_t se_step(const Engine *e, const float *frame, int pad, int skip, const uint8_t *forced, int64_t forced_T,
                uint8_t *glog, int64_t glog_T, float *out, float *mask_out)
{
    const int64_t nF = e->nF, nB = e->nB, nb = e->nb, nH = e->nH, W = e->W;
    int64_t *cnt = e->cnt;
    const int64_t n = cnt[0];
    if (pad && cnt[1] < 0) cnt[1] = n;
    const int64_t T = cnt[1];
    cnt[0] = n + 1;
    float *x = e->wk + W_X * W, *y = e->wk + W_Y * W, *feats = e->wk + W_FEAT * W, *h = e->wk + W_H * W;
    float *pooled = e->wk + W_POOL * W, *h0 = e->wk + W_G0 * W, *h1 = e->wk + W_G1 * W;
    const int use_forced = forced_T > 0, log = glog_T > 0;
    const int64_t ms = e->RS - 1;
    const float cexp = (float)e->cexp;

    /* ---- front-end: |X| ** c -> 1x1 conv F->B -> ReLU; X kept for the delayed output */
    if (!pad) {
        compress_mag(frame, nF, cexp, feats);
        memcpy(x, e->bf, (size_t)nB * sizeof(float));
        axpy(e->wf, nB, NULL, nF, nB, feats, x);
        for (int64_t i = 0; i < nB; i++) x[i] = x[i] < 0.0f ? 0.0f : x[i];
        memcpy(e->sr + (n & ms) * 2 * nF, frame, (size_t)(2 * nF) * sizeof(float));   /* interleaved (re, im) */
    }

    /* ---- blocks */
    int64_t t_in = n;
    for (int64_t k = 0; k < nb; k++) {
        if (t_in < 0) return -1;
        const int64_t *geo = e->geo + k * N_GEO;
        const int64_t span = geo[E_SPAN], dr = geo[E_DR], gr = geo[E_GR], kk = geo[E_K], dil = geo[E_DIL];
        const int64_t mx = geo[E_RX] - 1, ma = geo[E_RA] - 1, mk = geo[E_RK] - 1;
        float *xr = e->xr + k * e->RX * nB, *ar = e->ar + k * e->RA * nH, *fr = e->fr + k * e->RK * nH;
        int32_t *kr = e->kr + k * e->RK * nH, *kc = e->kc + k * e->RK;
        const float *vh = e->vh + k * e->nvh * nH, *sc = e->sc + 4 * k;
        const float *chan = e->chan + k * nH * 2 * nB;
        if (T < 0 || t_in < T) memcpy(xr + (t_in & mx) * nB, x, (size_t)nB * sizeof(float));
        else memset(xr + (t_in & mx) * nB, 0, (size_t)nB * sizeof(float));

        /* -- gate and first half (conv1, norm1, PReLU) for frame t_g */
        const int64_t t_g = t_in - gr;
        if (t_g >= 0) {
            float *arow = ar + (t_g & ma) * nH;
            if (T < 0 || t_g < T) {
                const float *xg = xr + (t_g & mx) * nB;
                const int64_t sk = t_g & mk;
                float *kfr = fr + sk * nH;
                int32_t *idx = kr + sk * nH;
                int32_t na = 0;
                if (!skip) {
                    na = (int32_t)nH;
                } else if (use_forced) {
                    keep_row_from_bytes(forced + (t_g * nb + k) * nH, nH, kfr);
                    na = compact(kfr, nH, idx);
                } else {
                    pool_inputs(xr, mx, nB, t_in, e->pool, pooled);
                    na = gate_decide(e, k, pooled, h0, h1, kfr, idx);
                }
                kc[sk] = na;
                if (log && t_g < glog_T) {
                    uint8_t *gz = glog + (t_g * nb + k) * nH;
                    if (skip) { for (int32_t i = 0; i < na; i++) gz[idx[i]] = 1; }
                    else memset(gz, 1, (size_t)nH);
                }
                if (!skip) {
                    memcpy(arow, vh + V_B1 * nH, (size_t)nH * sizeof(float));
                    axpy(e->w1t + k * nB * nH, nH, NULL, nB, nH, xg, arow);
                    norm_act(arow, NULL, nH, nH, vh + V_G1 * nH, vh + V_BE1 * nH, sc[0], sc[1], 0, ALL_CHUNKS);
                } else {
                    memset(arow, 0, (size_t)nH * sizeof(float));
                    if (na > 0) {
                        dot_scatter(chan + P_W1 * nB, 2 * nB, idx, na, nB, xg, vh + V_B1 * nH, arow);
                        norm_act(arow, kfr, nH, na, vh + V_G1 * nH, vh + V_BE1 * nH, sc[0], sc[1], 1, chunk_bits(kfr, nH));
                    }
                }
            } else {
                memset(arow, 0, (size_t)nH * sizeof(float));   /* past the end: the model's zero padding */
            }
        }

        /* -- second half (depthwise, norm2, PReLU, conv2 + residual) for frame t_out */
        const int64_t t_out = t_g - dr;
        if (t_out < 0) return -1;
        if (!(T < 0 || t_out < T)) { t_in = t_out; continue; }   /* a padding frame for the next block */
        const int64_t sk = t_out & mk;
        const int32_t na = kc[sk];
        const int64_t base = t_g - span;
        const float *xo = xr + (t_out & mx) * nB, *b2 = e->b2 + k * nB;
        for (int64_t i = 0; i < nB; i++) y[i] = xo[i] + b2[i];
        if (!skip || na > 0) {
            /* depthwise over the chunks with a kept channel at t_out (all of them when dense) */
            const uint64_t cm = skip ? chunk_bits(fr + sk * nH, nH) : ALL_CHUNKS;
            depthwise(ar, ma, nH, base, dil, kk, vh + V_DW * nH, vh + V_DWB * nH, cm, h);
            if (!skip) {
                norm_act(h, NULL, nH, nH, vh + V_G2 * nH, vh + V_BE2 * nH, sc[2], sc[3], 0, ALL_CHUNKS);
                axpy(e->w2t + k * nH * nB, nB, NULL, nH, nB, h, y);
            } else {                  /* skipped channels' values are computed, never read */
                norm_act(h, fr + sk * nH, nH, na, vh + V_G2 * nH, vh + V_BE2 * nH, sc[2], sc[3], 0, cm);
                axpy(chan + P_W2 * nB, 2 * nB, kr + sk * nH, na, nB, h, y);
            }
        }
        memcpy(x, y, (size_t)nB * sizeof(float));
        t_in = t_out;
    }

    /* ---- back-end for frame t_in: 1x1 conv B->F, sigmoid, mask the delayed spectrum */
    if (t_in < 0 || !(T < 0 || t_in < T)) return -1;
    memcpy(mask_out, e->bb, (size_t)nF * sizeof(float));
    axpy(e->wb, e->ldb, NULL, nB, nF, x, mask_out);
    const float *srow = e->sr + (t_in & ms) * 2 * nF;
    sigmoid(mask_out, nF);
    apply_mask(srow, mask_out, nF, out);
    return t_in;
}

/* whole utterance: frames (T, F) complex64 as (T, F, 2) floats, then `lookahead` pad frames; returns frames written */
int64_t se_run(const Engine *e, const float *frames, int64_t T, int64_t lookahead, int skip, const uint8_t *forced,
               int64_t forced_T, uint8_t *glog, int64_t glog_T, float *out, float *masks)
{
    const int64_t nF = e->nF;
    int64_t done = 0;
    for (int64_t t = 0; t < T + lookahead; t++) {
        const int64_t src = t < T ? t : T - 1;
        const int64_t r = se_step(e, frames + src * 2 * nF, t >= T, skip, forced, forced_T, glog, glog_T,
                                  e->wk + (W_G1 + 1) * e->W, e->wk + (W_G1 + 3) * e->W);
        if (r >= 0) {
            memcpy(out + r * 2 * nF, e->wk + (W_G1 + 1) * e->W, (size_t)(2 * nF) * sizeof(float));
            memcpy(masks + r * nF, e->wk + (W_G1 + 3) * e->W, (size_t)nF * sizeof(float));
            done++;
        }
    }
    return done;
}

/* timed pass for benchmarks/bench_engine.py: every frame through se_step, lat_ns[t] its CLOCK_MONOTONIC time */
void se_timed_pass(const Engine *e, const float *frames, int64_t T, int skip, const uint8_t *forced, int64_t forced_T,
                   int64_t *lat_ns)
{
    struct timespec a, b;
    for (int64_t t = 0; t < T; t++) {
        clock_gettime(CLOCK_MONOTONIC, &a);
        se_step(e, frames + t * 2 * e->nF, 0, skip, forced, forced_T, NULL, 0, e->wk + (W_G1 + 1) * e->W,
                e->wk + (W_G1 + 3) * e->W);
        clock_gettime(CLOCK_MONOTONIC, &b);
        lat_ns[t] = (int64_t)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    }
}
