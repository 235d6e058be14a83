/* bytescan.h — 16 bytes at a time, for the loops that cross big runs of
 * text: the JSON scanner's strings (jscan.c), the newline search of the
 * NDJSON framer (ndjson.c), the ASCII runs of UTF-8 to UTF-16 (utf16.c),
 * the CR/LF check of params sent as the host wrote them (session_api.c),
 * the windows of mixed UTF-8 that utf16.c decodes at once.
 *
 * Written with the compiler's generic vectors (GCC/clang vector_size), so
 * that one source is what runs everywhere: wasm SIMD128 in the .wasm
 * (build.sh passes -msimd128: Node 20, Chromium, workerd have it), SSE2 in
 * the native tests and fuzz targets, which therefore check the very code
 * the .wasm runs. Only the last step, "which byte is the first one flagged",
 * has a wasm-specific form (i8x16.bitmask); elsewhere it is read from the two
 * 64-bit halves of the mask. So do the masks of top bits (ms_v16_bitmask)
 * and the shuffle by indices that are data (ms_v16_swizzle: i8x16.swizzle;
 * elsewhere its definition, byte by byte).
 *
 * Every load reads exactly 16 bytes the caller owns (p[0..16)); nothing is
 * kept. Header-only: static inline functions. */
#ifndef MS_BYTESCAN_H
#define MS_BYTESCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

typedef uint8_t ms_v16 __attribute__((vector_size(16)));

/* p[0..16), at any alignment */
static inline __attribute__((always_inline)) ms_v16 ms_v16_load(const void *p) {
  ms_v16 v;
  __builtin_memcpy(&v, p, 16);
  return v;
}

static inline __attribute__((always_inline)) ms_v16 ms_v16_splat(uint8_t c) {
  ms_v16 v = {c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c};
  return v;
}

/* 0xFF in every byte of x equal to c, else 0 */
static inline __attribute__((always_inline)) ms_v16 ms_v16_eq(ms_v16 x, uint8_t c) { return (ms_v16)(x == ms_v16_splat(c)); }

/* 0xFF in every byte of x below c (unsigned), else 0 */
static inline __attribute__((always_inline)) ms_v16 ms_v16_lt(ms_v16 x, uint8_t c) { return (ms_v16)(x < ms_v16_splat(c)); }

/* The index (0..15) of the first nonzero byte of a mask made of the above
 * (every byte 0 or 0xFF), or 16 when none is. */
static inline __attribute__((always_inline)) unsigned ms_v16_first(ms_v16 m) {
#if defined(__wasm_simd128__)
  uint32_t bits = (uint32_t)wasm_i8x16_bitmask((v128_t)m);
  return bits ? (unsigned)__builtin_ctz(bits) : 16u;
#else
  uint64_t lo, hi;
  memcpy(&lo, &m, 8);
  memcpy(&hi, (const uint8_t *)&m + 8, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (lo) return (unsigned)__builtin_ctzll(lo) / 8;
  if (hi) return 8 + (unsigned)__builtin_ctzll(hi) / 8;
  return 16;
#else
  if (!(lo | hi)) return 16;
  for (unsigned k = 0; k < 16; k++)
    if (((const uint8_t *)&m)[k]) return k;
  return 16;
#endif
#endif
}

/* 1 when any byte of the mask is nonzero */
static inline __attribute__((always_inline)) int ms_v16_any(ms_v16 m) {
#if defined(__wasm_simd128__)
  return wasm_v128_any_true((v128_t)m);
#else
  uint64_t lo, hi;
  memcpy(&lo, &m, 8);
  memcpy(&hi, (const uint8_t *)&m + 8, 8);
  return (lo | hi) != 0;
#endif
}

/* The lower (unsigned) of each pair of bytes of a and b. */
static inline __attribute__((always_inline)) ms_v16 ms_v16_min(ms_v16 a, ms_v16 b) {
#if defined(__wasm_simd128__)
  return (ms_v16)wasm_u8x16_min((v128_t)a, (v128_t)b);
#else
  ms_v16 m = (ms_v16)(a < b);
  return (a & m) | (b & ~m);
#endif
}

/* 1 when one of the 64 bytes p[0..64) is c1 or c2 (one test for the four
 * blocks: loops that look for a rare byte step 64 at a time with it). */
static inline __attribute__((always_inline)) int ms_v64_any_eq2(const void *p, uint8_t c1, uint8_t c2) {
  const uint8_t *q = (const uint8_t *)p;
  ms_v16 a = ms_v16_load(q), b = ms_v16_load(q + 16), c = ms_v16_load(q + 32), d = ms_v16_load(q + 48);
  return ms_v16_any((ms_v16_eq(a, c1) | ms_v16_eq(a, c2)) | (ms_v16_eq(b, c1) | ms_v16_eq(b, c2)) |
                    (ms_v16_eq(c, c1) | ms_v16_eq(c, c2)) | (ms_v16_eq(d, c1) | ms_v16_eq(d, c2)));
}

/* 1 when a byte of x is 0x80 or above */
static inline __attribute__((always_inline)) int ms_v16_any_high(ms_v16 x) { return ms_v16_any(x & ms_v16_splat(0x80)); }

/* The top bit of each byte of x, byte k at bit k (a mask made of the above
 * gives 1 for each flagged byte). */
static inline __attribute__((always_inline)) unsigned ms_v16_bitmask(ms_v16 x) {
#if defined(__wasm_simd128__)
  return (unsigned)wasm_i8x16_bitmask((v128_t)x);
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  /* bit 7 + 8k of each half to bit 56 + k: one product, no carries */
  uint64_t lo, hi;
  memcpy(&lo, &x, 8);
  memcpy(&hi, (const uint8_t *)&x + 8, 8);
  lo = ((lo & 0x8080808080808080ull) * 0x0002040810204081ull) >> 56;
  hi = ((hi & 0x8080808080808080ull) * 0x0002040810204081ull) >> 56;
  return (unsigned)(lo | hi << 8);
#else
  unsigned bits = 0;
  for (unsigned k = 0; k < 16; k++) bits |= (unsigned)(x[k] >> 7) << k;
  return bits;
#endif
}

/* Byte k of the result is x[idx[k]] when idx[k] < 16, else 0 (wasm's
 * i8x16.swizzle; the native form is its definition, byte by byte). */
static inline __attribute__((always_inline)) ms_v16 ms_v16_swizzle(ms_v16 x, ms_v16 idx) {
#if defined(__wasm_simd128__)
  return (ms_v16)wasm_i8x16_swizzle((v128_t)x, (v128_t)idx);
#else
  ms_v16 r;
  for (unsigned k = 0; k < 16; k++) r[k] = idx[k] < 16 ? x[idx[k] & 15] : 0;
  return r;
#endif
}

/* The index of the first byte c in p[0..n), or n. 64 bytes at a time while
 * none is c (one test per 64: long lines are the case that costs), then 16. */
static inline __attribute__((always_inline)) size_t ms_find_byte(const uint8_t *p, size_t n, uint8_t c) {
  size_t i = 0;
  for (; n - i >= 64; i += 64) {
    ms_v16 m = ms_v16_eq(ms_v16_load(p + i), c) | ms_v16_eq(ms_v16_load(p + i + 16), c) |
               ms_v16_eq(ms_v16_load(p + i + 32), c) | ms_v16_eq(ms_v16_load(p + i + 48), c);
    if (ms_v16_any(m)) break;
  }
  for (; n - i >= 16; i += 16) {
    ms_v16 m = ms_v16_eq(ms_v16_load(p + i), c);
    if (ms_v16_any(m)) return i + ms_v16_first(m);
  }
  while (i < n && p[i] != c) i++;
  return i;
}

#endif
