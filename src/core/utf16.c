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
 * Cost: runs of ASCII are crossed 16 bytes at a time (bytescan.h); nothing
 * is allocated. */
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

size_t ms_utf8_to_utf16(const uint8_t *s, size_t n, uint16_t *out) {
  size_t i = 0, o = 0;
  while (i < n) {
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
      continue;
    }
    /* well-formed sequences, whole in the input: at once */
    if (c >= 0xC2 && c <= 0xDF && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
      out[o++] = (uint16_t)((c & 0x1F) << 6 | (s[i + 1] & 0x3F));
      i += 2;
      continue;
    }
    if (c >= 0xE0 && c <= 0xEF && i + 2 < n && (s[i + 1] & 0xC0) == 0x80 && (s[i + 2] & 0xC0) == 0x80) {
      uint32_t u = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
      if (u >= 0x800 && (u < 0xD800 || u > 0xDFFF)) { /* not overlong, not a surrogate */
        out[o++] = (uint16_t)u;
        i += 3;
        continue;
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
        continue;
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
      continue;
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
  }
  return o;
}
