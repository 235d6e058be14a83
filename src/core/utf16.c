/* utf16.c — UTF-8 to UTF-16, for the host's strings.
 *
 * A JavaScript host turns payload bytes into strings. Its UTF-8 decoders are
 * slow on text that is not ASCII (Node 20 decodes 100 KB of accented and CJK
 * text in ~1 ms), while a string made from UTF-16 units is a copy. So the
 * host asks the core to decode bytes it is about to read as text
 * (ms_ctx_utf16, effects.c), and builds the string from the units.
 *
 * The decoding is the WHATWG Encoding standard's utf-8 decoder, as
 * TextDecoder("utf-8") runs it (BOM aside: none is removed here): a
 * well-formed sequence becomes its code point (two surrogates above U+FFFF);
 * each maximal subpart of an ill-formed sequence — a byte that cannot start
 * a sequence, or a valid start with the valid continuation bytes that follow
 * it, up to the first byte that does not fit or the end of the input —
 * becomes one U+FFFD, and a byte that did not fit is decoded anew. Lone
 * surrogates cannot come out: their encodings (ED A0..BF ..) are ill-formed.
 *
 * Cost: 16 bytes at a time while 18 remain (bytescan.h): runs of ASCII are
 * widened; a window with other bytes is decoded at once when its characters
 * are ASCII, 2- or 3-byte sequences (mixed16 below), up to the first byte it
 * does not handle. From that byte on (a 4-byte sequence, anything ill-formed,
 * the last 17 bytes), one character at a time, by the code that defines the
 * decoding here (one()); after an ill-formed byte, for 16 bytes, so that
 * text with errors every few bytes pays for few windows. Nothing is
 * allocated. */
#include "bytescan.h"
#include "internal.h"

/* eight UTF-16 units */
typedef uint16_t ms_w8 __attribute__((vector_size(16)));

/* an unaligned 8-byte load (a plain load in wasm; memcpy stays a call at -Oz) */
typedef uint64_t __attribute__((aligned(1), may_alias)) u64_unaligned;
#define LOAD8(q) (*(const u64_unaligned *)(const void *)(q))
#define HIGH_BITS 0x8080808080808080ull

size_t ms_utf8_ascii_prefix(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (n - i >= 16 && !ms_v16_any_high(ms_v16_load(s + i))) i += 16;
  while (i + 8 <= n && !(LOAD8(s + i) & HIGH_BITS)) i += 8;
  while (i < n && s[i] < 0x80) i++;
  return i;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define MIXED16 1

/* pack[m]: the byte indices that bring the 16-bit lanes that m keeps (bit k:
 * lane k) to the front of a vector, in order (a swizzle by it); 0 past the
 * last one. Lane k goes to lane popcount(m & ((1 << k) - 1)): its bytes 2k,
 * 2k + 1 to the bytes of that lane; lanes 0..3 are the first half. */
#define PKL(m, k, h) \
  ((((m) >> (k)) & 1) && __builtin_popcount((m) & ((1u << (k)) - 1)) / 4 == (h) \
       ? (uint64_t)(2 * (k) | (2 * (k) + 1) << 8) << (16 * (__builtin_popcount((m) & ((1u << (k)) - 1)) % 4)) \
       : 0)
#define PKH(m, h) (PKL(m, 0, h) | PKL(m, 1, h) | PKL(m, 2, h) | PKL(m, 3, h) | PKL(m, 4, h) | PKL(m, 5, h) | PKL(m, 6, h) | PKL(m, 7, h))
#define PK(m) {PKH(m, 0), PKH(m, 1)}
#define PK4(m) PK(m), PK((m) + 1), PK((m) + 2), PK((m) + 3)
#define PK16(m) PK4(m), PK4((m) + 4), PK4((m) + 8), PK4((m) + 12)
#define PK64(m) PK16(m), PK16((m) + 16), PK16((m) + 32), PK16((m) + 48)
static const uint64_t pack[256][2] = {PK64(0), PK64(64), PK64(128), PK64(192)};

typedef int8_t ms_s16 __attribute__((vector_size(16)));

/* (a & m) | (b & ~m): a where m is 0xFF, b where it is 0 */
static inline __attribute__((always_inline)) ms_v16 sel(ms_v16 m, ms_v16 a, ms_v16 b) { return (a & m) | (b & ~m); }

/* The constants of mixed16, read from memory once per call. In wasm the
 * compilers must not see them as constants: LLVM would rewrite the signed
 * compares into forms that V8 lowers poorly (range checks as add + unsigned
 * compare, masks as 8-bit shifts), and V8 would rebuild each one in every
 * window (3 to 4 instructions each); read from memory they stay in
 * registers. An empty asm that "changes" the table's address hides it. */
typedef struct {
  ms_v16 c0, c2, e0, f0, ed, a0, x0d, x3f, x0f, ones;
} consts;

#define SPLAT(c) {c, c, c, c, c, c, c, c, c, c, c, c, c, c, c, c}
static const consts the_consts = {SPLAT(0xC0), SPLAT(0xC2), SPLAT(0xE0), SPLAT(0xF0), SPLAT(0xED),
                                  SPLAT(0xA0), SPLAT(0x0D), SPLAT(0x3F), SPLAT(0x0F), SPLAT(0xFF)};

static inline __attribute__((always_inline)) consts make_consts(void) {
  const consts *t = &the_consts;
#if defined(__wasm_simd128__)
  __asm__("" : "+r"(t));
#endif
  return *t;
}

/* The window p[0..16) (x, with h = its high bits, not 0), whose bytes p[16],
 * p[17] may be read too: the characters that start in it, decoded into out
 * (up to 16 units are written, *units of them are the text), as long as
 * each of them is ASCII or a well-formed 2- or 3-byte sequence (whose last
 * bytes may be p[16], p[17]). Stops before the first position that is none
 * of these: a byte that is not one of them (C0, C1, F0..FF), a lead without
 * its continuation bytes, a continuation byte that no lead before it asks
 * for, an overlong 3-byte form (E0 80..9F) or a surrogate (ED A0..BF).
 * Returns the number of bytes read (0 when p[0] is such a position: nothing
 * is written then).
 *
 * Every byte is classified at once: signed compares with a negative bound
 * (80..FF are -128..-1, ASCII is 0..127) give "80 up to the bound", and the
 * classes are the differences of their 16-bit masks. The shape is checked on
 * the masks. Every position computes the unit it would be as a lead, from
 * its byte and the next two (the lanes of x and of the loads at p+1, p+2);
 * the positions that are not continuation bytes are kept. */
static inline __attribute__((always_inline)) size_t mixed16(const uint8_t *p, ms_v16 x, uint32_t h, uint16_t *out,
                                                            size_t *units, const consts *k) {
  ms_v16 x1 = ms_v16_load(p + 1), x2 = ms_v16_load(p + 2);
  ms_s16 s0 = (ms_s16)x;
  ms_v16 below_e0 = (ms_v16)(s0 < (ms_s16)k->e0); /* 80..DF */
  /* bit k: position k */
  uint32_t cont = ms_v16_bitmask((ms_v16)(s0 < (ms_s16)k->c0)); /* 80..BF */
  uint32_t below_c2 = ms_v16_bitmask((ms_v16)(s0 < (ms_s16)k->c2));
  uint32_t below_f0 = ms_v16_bitmask((ms_v16)(s0 < (ms_s16)k->f0));
  uint32_t lead = below_f0 ^ below_c2;                                /* C2..EF */
  uint32_t lead3 = below_f0 ^ ms_v16_bitmask(below_e0);               /* E0..EF */
  uint32_t wrong = (below_c2 ^ cont) | (h ^ below_f0);                /* C0, C1, F0..FF */
  /* E0 80..9F (overlong) and ED A0..BF (a surrogate) are the lanes where
   * x + (0D if x1 is 80..9F, else 0) is ED: x + 0D is ED only for E0 */
  wrong |= ms_v16_bitmask((ms_v16)(x + ((ms_v16)((ms_s16)x1 < (ms_s16)k->a0) & k->x0d) == k->ed));
  /* bits 16, 17: p[16], p[17] */
  uint32_t conts = cont | (ms_v16_bitmask((ms_v16)((ms_s16)x2 < (ms_s16)k->c0)) >> 14) << 16;
  uint32_t asked = lead << 1 | lead3 << 2; /* the continuation bytes the leads ask for */
  uint32_t keep = ~cont & 0xFFFF;
  size_t len;
  /* all well: the continuation bytes are the ones asked for (those after the
   * window: at least) */
  if (!(wrong | ((conts ^ asked) & (asked | 0xFFFF)))) {
    len = 16 + (size_t)__builtin_popcount(asked >> 16); /* the last characters may end in p[16], p[17] */
  } else {
    uint32_t bad = wrong | (cont & ~asked) |                      /* a continuation no lead asks for */
                   (lead & ~(conts >> 1)) | (lead3 & ~(conts >> 2)); /* a lead without its continuations */
    len = (size_t)__builtin_ctz(bad);
    if (len == 0) return 0;
    keep &= (1u << len) - 1;
  }
  /* each position as a lead: ASCII b0; 2 bytes (b0 & 1F) << 6 | (b1 & 3F);
   * 3 bytes (b0 & 0F) << 12 | (b1 & 3F) << 6 | (b2 & 3F). As bytes: high
   * (a >> 2) & 0F | (3 bytes: b0 << 4), low a << 6 | (b & 3F), where a, b are
   * b0, b1 (2 bytes) or b1, b2 (3 bytes); the bit 5 of a 2-byte lead is 0.
   * The byte shifts are 16-bit shifts whose bits from the other byte are
   * masked off (wasm has no 8-bit shift of its own on x64). ASCII lanes
   * go the 3-byte way (not below_e0), then take b0 and 0. */
  ms_v16 ascii = (ms_v16)(s0 > (ms_s16)k->ones);
  ms_v16 a = sel(below_e0, x, x1), b = sel(below_e0, x1, x2);
  ms_v16 lo = sel(ascii, x, ((ms_v16)((ms_w8)a << 6) & k->c0) | (b & k->x3f));
  ms_v16 hi = ((ms_v16)((ms_w8)a >> 2) & k->x0f) | ((ms_v16)((ms_w8)(x & k->x0f) << 4) & ~below_e0);
  hi &= ~ascii;
  /* units: low, high byte pairs; the kept ones of each half to its front */
  ms_v16 u0 = __builtin_shufflevector(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  ms_v16 u1 = __builtin_shufflevector(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  u0 = ms_v16_swizzle(u0, ms_v16_load(pack[keep & 0xFF]));
  u1 = ms_v16_swizzle(u1, ms_v16_load(pack[keep >> 8]));
  size_t n0 = (size_t)__builtin_popcount(keep & 0xFF);
  __builtin_memcpy(out, &u0, 16);
  __builtin_memcpy(out + n0, &u1, 16);
  *units = n0 + (size_t)__builtin_popcount(keep >> 8);
  return len;
}
#endif

/* The character at s[*pi] (or the run of ASCII there), decoded as this file
 * defines it (the reference of the windows): its units at out + *po; *pi
 * and *po are moved past them. */
static inline __attribute__((always_inline)) void one(const uint8_t *s, size_t n, uint16_t *out, size_t *pi, size_t *po) {
  size_t i = *pi, o = *po;
  uint8_t c = s[i];
  if (c < 0x80) { /* ASCII: 16, then 8 at a time while the run lasts */
    while (n - i >= 16) {
      ms_v16 x = ms_v16_load(s + i);
      if (ms_v16_any_high(x)) break;
      ms_w8 lo = __builtin_convertvector(__builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7), ms_w8);
      ms_w8 hi = __builtin_convertvector(__builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15), ms_w8);
      __builtin_memcpy(out + o, &lo, 16);
      __builtin_memcpy(out + o + 8, &hi, 16);
      i += 16;
      o += 16;
    }
    while (i + 8 <= n && !(LOAD8(s + i) & HIGH_BITS)) {
      for (int k = 0; k < 8; k++) out[o + k] = s[i + k];
      i += 8;
      o += 8;
    }
    while (i < n && s[i] < 0x80) out[o++] = s[i++];
    goto done;
  }
  /* well-formed sequences, whole in the input: at once */
  if (c >= 0xC2 && c <= 0xDF && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
    out[o++] = (uint16_t)((c & 0x1F) << 6 | (s[i + 1] & 0x3F));
    i += 2;
    goto done;
  }
  if (c >= 0xE0 && c <= 0xEF && i + 2 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
    uint32_t u = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
    if (u >= 0x800 && (u < 0xD800 || u > 0xDFFF)) { /* not overlong, not a surrogate */
      out[o++] = (uint16_t)u;
      i += 3;
      goto done;
    }
  }
  if (c >= 0xF0 && c <= 0xF4 && i + 3 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80 &&
      (s[i + 3] & 0xC0) == 0x80) {
    uint32_t u = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3F) << 12 |
                 (uint32_t)(s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
    if (u >= 0x10000 && u <= 0x10FFFF) { /* not overlong, not beyond Unicode */
      u -= 0x10000;
      out[o++] = (uint16_t)(0xD800 | (u >> 10));
      out[o++] = (uint16_t)(0xDC00 | (u & 0x3FF));
      i += 4;
      goto done;
    }
  }
  /* ill-formed (or cut at the end): step by step */
  uint32_t cp;
  int need;
  uint8_t lo = 0x80, hi = 0xBF; /* the range of the next continuation byte */
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    cp = c & 0x0F;
    if (c == 0xE0) lo = 0xA0;      /* no overlong forms */
    else if (c == 0xED) hi = 0x9F; /* no surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    cp = c & 0x07;
    if (c == 0xF0) lo = 0x90;      /* no overlong forms */
    else if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
  } else { /* a continuation byte, C0, C1, F5..FF: cannot start a sequence */
    out[o++] = 0xFFFD;
    i++;
    goto done;
  }
  size_t j = i + 1;
  int got = 0;
  while (got < need && j < n && s[j] >= lo && s[j] <= hi) {
    cp = cp << 6 | (s[j] & 0x3F);
    lo = 0x80;
    hi = 0xBF;
    got++;
    j++;
  }
  i = j; /* a byte that did not fit (s[j]) is decoded anew */
  if (got < need) {
    out[o++] = 0xFFFD;
  } else if (cp >= 0x10000) {
    cp -= 0x10000;
    out[o++] = (uint16_t)(0xD800 | (cp >> 10));
    out[o++] = (uint16_t)(0xDC00 | (cp & 0x3FF));
  } else {
    out[o++] = (uint16_t)cp;
  }
done:
  *pi = i;
  *po = o;
}

#ifdef MIXED16
/* one(), from s[i] until 16 bytes are decoded (or more: the character or
 * the run of ASCII that crosses the 16th byte); returns the new i. Not
 * inlined: V8 compiles the loop of ms_utf8_to_utf16 worse with a second copy. */
static __attribute__((noinline)) size_t scalar16(const uint8_t *s, size_t n, uint16_t *out, size_t i, size_t *o) {
  for (size_t end = i + 16; i < end && i < n;) one(s, n, out, &i, o);
  return i;
}
#endif

/* out has room for n units, and o <= i all along (no character has more
 * units than bytes): so the 16 units a window may write at out + o, with 18
 * bytes left at i, stay inside it. */
size_t ms_utf8_to_utf16(const uint8_t *s, size_t n, uint16_t *out) {
  size_t i = 0, o = 0;
#ifdef MIXED16
  consts kc = make_consts();
#endif
  while (i < n) {
#ifdef MIXED16
    if (n - i >= 18) {
      ms_v16 x = ms_v16_load(s + i);
      uint32_t h = ms_v16_bitmask(x);
      if (!h) { /* ASCII: widened while the run lasts */
        do {
          ms_w8 lo = __builtin_convertvector(__builtin_shufflevector(x, x, 0, 1, 2, 3, 4, 5, 6, 7), ms_w8);
          ms_w8 hi = __builtin_convertvector(__builtin_shufflevector(x, x, 8, 9, 10, 11, 12, 13, 14, 15), ms_w8);
          __builtin_memcpy(out + o, &lo, 16);
          __builtin_memcpy(out + o + 8, &hi, 16);
          i += 16;
          o += 16;
        } while (n - i >= 16 && !ms_v16_any_high(x = ms_v16_load(s + i)));
        continue;
      }
      if (s[i] < 0xF0) { /* a 4-byte sequence cannot start a window: no need to try */
        size_t units, len = mixed16(s + i, x, h, out + o, &units, &kc);
        if (len) {
          i += len;
          o += units;
          continue;
        }
        /* ill-formed at s[i] (well-formed text never comes here: a window
         * starts at a character, and one of 4 bytes does not try): the next
         * 16 bytes one character at a time, so that text with an error every
         * few bytes does not pay for a window or two per character */
        i = scalar16(s, n, out, i, &o);
        continue;
      }
    }
#endif
    one(s, n, out, &i, &o);
  }
  return o;
}
