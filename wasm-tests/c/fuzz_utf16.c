/* fuzz_utf16.c — libFuzzer target for UTF-8 to UTF-16 (src/core/utf16.c).
 * The input is the bytes. The core's decoder must give exactly what a
 * byte-by-byte transcription of the WHATWG Encoding standard's utf-8 decoder
 * (below: its state variables and steps, one byte at a time, "prepend the
 * byte to the stream" as decoding it again) gives, and write no more units
 * than the input has bytes; ms_utf8_ascii_prefix must find the first byte
 * of 0x80 or above; ms_ctx_utf16 must agree too (0 for ASCII), and free
 * nothing it should not (live allocations back to where they were).
 *
 * Random bytes are seldom long runs of well-formed text, which is what the
 * decoder's 16-byte windows take at once (and stop in at the first shape
 * they do not handle). So the input is also read a second way, as a recipe:
 * each byte picks a piece (a character of 1 to 4 bytes, among them the
 * bounds of each length, or an ill-formed fragment), or, from F0 on, is
 * itself; the text made so is checked the same way. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#include "fuzz.h"

static void emit(uint16_t *out, size_t *o, uint32_t cp) {
  if (cp > 0xFFFF) {
    cp -= 0x10000;
    out[(*o)++] = (uint16_t)(0xD800 + (cp >> 10));
    out[(*o)++] = (uint16_t)(0xDC00 + (cp & 0x3FF));
  } else {
    out[(*o)++] = (uint16_t)cp;
  }
}

/* https://encoding.spec.whatwg.org/#utf-8-decoder, step by step */
static size_t reference(const uint8_t *s, size_t n, uint16_t *out) {
  uint32_t cp = 0;
  unsigned seen = 0, needed = 0, lower = 0x80, upper = 0xBF;
  size_t o = 0;
  size_t i = 0;
  while (i < n) {
    uint8_t b = s[i];
    if (needed == 0) {
      if (b <= 0x7F) emit(out, &o, b);
      else if (b >= 0xC2 && b <= 0xDF) { needed = 1; cp = b & 0x1F; }
      else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2; cp = b & 0xF;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3; cp = b & 0x7;
      } else emit(out, &o, 0xFFFD);
      i++;
      continue;
    }
    if (b < lower || b > upper) {
      cp = needed = seen = 0;
      lower = 0x80; upper = 0xBF;
      emit(out, &o, 0xFFFD);
      continue; /* the byte is prepended to the stream: decoded again */
    }
    lower = 0x80; upper = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    seen++;
    i++;
    if (seen == needed) {
      emit(out, &o, cp);
      cp = needed = seen = 0;
    }
  }
  if (needed != 0) emit(out, &o, 0xFFFD); /* end of stream inside a sequence */
  return o;
}

static const char *const pieces[] = {
    "a", " ", "z", "\x7f", "\n",                                         /* ASCII */
    "\xc2\x80", "\xc3\xa9", "\xce\xbb", "\xd1\x80", "\xdf\xbf",               /* 2 bytes */
    "\xe0\xa0\x80", "\xe3\x83\x86", "\xe6\x97\xa5", "\xea\xb5\xad", "\xed\x95\x9c", /* 3 bytes */
    "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xef\xbb\xbf",
    "\xf0\x90\x80\x80", "\xf0\x9f\x99\x82", "\xf4\x8f\xbf\xbf",             /* 4 bytes */
    "\x80", "\xbf", "\xc0\x80", "\xc1", "\xe0\x80", "\xed\xa0\x80",           /* ill-formed */
    "\xf4\x90", "\xf5", "\xe6\x97", "\xc3",
};

/* The decoder against the reference on s[0..n). */
static void check(const uint8_t *data, size_t size) {
  uint16_t *want = malloc((size + 1) * sizeof *want);
  uint16_t *got = malloc((size + 2) * sizeof *got);
  CHECK(want && got);
  size_t nw = reference(data, size, want);
  got[size] = got[size + 1] = 0xABCD; /* must stay untouched */
  size_t ng = ms_utf8_to_utf16(data, size, got);
  CHECK(ng == nw);
  CHECK(ng <= size);
  CHECK(memcmp(got, want, nw * sizeof *got) == 0);
  CHECK(got[size] == 0xABCD && got[size + 1] == 0xABCD);

  size_t ascii = 0;
  while (ascii < size && data[ascii] < 0x80) ascii++;
  CHECK(ms_utf8_ascii_prefix(data, size) == ascii);

  int before = ms_live_allocations();
  ms_ctx *ctx = ms_ctx_new();
  CHECK(ctx != NULL);
  int32_t n = ms_ctx_utf16(ctx, data, (uint32_t)size);
  if (ascii == size) {
    CHECK(n == 0);
  } else {
    CHECK(n == (int32_t)nw);
    CHECK(memcmp(ms_ctx_utf16_ptr(ctx), want, nw * sizeof *want) == 0);
  }
  ms_ctx_free(ctx);
  CHECK(ms_live_allocations() == before);
  free(want);
  free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check(data, size);
  uint8_t *text = malloc(size * 4 + 1);
  CHECK(text != NULL);
  size_t n = 0;
  for (size_t i = 0; i < size; i++) {
    if (data[i] >= 0xF0) {
      text[n++] = data[i];
    } else {
      const char *p = pieces[data[i] % (sizeof pieces / sizeof *pieces)];
      size_t len = strlen(p);
      memcpy(text + n, p, len);
      n += len;
    }
  }
  check(text, n);
  free(text);
  return 0;
}
