/* test_utf16.c — tests of UTF-8 to UTF-16 (src/core/utf16.c) and of the
 * context's export for it (ms_ctx_utf16): the WHATWG utf-8 decoder's output,
 * TextDecoder's, for well-formed text and for every kind of ill-formed
 * sequence (the maximal-subpart examples of the Unicode standard, §3.9,
 * table 3-8, among them). fuzz_utf16.c compares it with a byte-by-byte
 * transcription of the standard's algorithm. */
#include <stdint.h>
#include <string.h>

#include "core.h"
#include "t.h"

/* The WHATWG Encoding standard's utf-8 decoder, one byte at a time, its
 * state variables and steps as written (https://encoding.spec.whatwg.org/
 * #utf-8-decoder): the reference the decoder's 16-byte windows are checked
 * against (the same transcription as fuzz_utf16.c's). */
static size_t reference(const uint8_t *s, size_t n, uint16_t *out) {
  uint32_t cp = 0;
  unsigned seen = 0, needed = 0, lower = 0x80, upper = 0xBF;
  size_t o = 0, i = 0;
  while (i < n) {
    uint8_t b = s[i];
    if (needed == 0) {
      if (b <= 0x7F) {
        out[o++] = b;
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
        cp = b & 0x1F;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
        cp = b & 0xF;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
        cp = b & 0x7;
      } else {
        out[o++] = 0xFFFD;
      }
      i++;
      continue;
    }
    if (b < lower || b > upper) { /* the byte is decoded again */
      cp = needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      out[o++] = 0xFFFD;
      continue;
    }
    lower = 0x80;
    upper = 0xBF;
    cp = cp << 6 | (b & 0x3F);
    i++;
    if (++seen == needed) {
      if (cp > 0xFFFF) {
        out[o++] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
        out[o++] = (uint16_t)(0xDC00 + ((cp - 0x10000) & 0x3FF));
      } else {
        out[o++] = (uint16_t)cp;
      }
      cp = needed = seen = 0;
    }
  }
  if (needed) out[o++] = 0xFFFD;
  return o;
}

/* Decodes s[0..n) into a buffer of exactly n units (ASan sees a write past
 * it) and compares with the reference; says which input on failure. */
static int same_as_reference(const uint8_t *s, size_t n, const char *what, size_t a, size_t b) {
  uint16_t *got = malloc((n ? n : 1) * sizeof *got), *want = malloc((n ? n : 1) * sizeof *want);
  if (!got || !want) {
    free(got);
    free(want);
    T_FAIL("out of memory");
    return 0;
  }
  size_t ng = ms_utf8_to_utf16(s, n, got), nw = reference(s, n, want);
  int ok = ng == nw && memcmp(got, want, nw * sizeof *got) == 0;
  if (!ok) {
    size_t k = 0;
    while (k < ng && k < nw && got[k] == want[k]) k++;
    T_FAIL("%s (%zu, %zu): %zu units, want %zu; first difference at unit %zu: %04x, want %04x", what, a, b, ng,
           nw, k, k < ng ? got[k] : 0, k < nw ? want[k] : 0);
    fprintf(stderr, "    input (%zu bytes):", n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %02x", s[i]);
    fputc('\n', stderr);
  }
  free(got);
  free(want);
  t_checks++;
  return ok;
}

/* a small deterministic generator (tests must not depend on the run) */
static uint32_t rng_state = 12345;
static uint32_t rng(void) {
  rng_state = rng_state * 1103515245u + 12345u;
  return rng_state >> 8;
}

/* Decodes `in` (n bytes) and compares with the expected units (want, nw). */
static int same(const char *in, size_t n, const uint16_t *want, size_t nw) {
  uint16_t out[64];
  if (n > 64) return 0;
  size_t got = ms_utf8_to_utf16((const uint8_t *)in, n, out);
  if (got != nw) {
    fprintf(stderr, "    %zu units, want %zu\n", got, nw);
    return 0;
  }
  for (size_t i = 0; i < nw; i++) {
    if (out[i] != want[i]) {
      fprintf(stderr, "    unit %zu: %04x, want %04x\n", i, out[i], want[i]);
      return 0;
    }
  }
  return 1;
}
#define SAME(in, ...)                                                                  \
  do {                                                                                 \
    static const uint16_t w_[] = {__VA_ARGS__};                                        \
    T_OK(same(in, sizeof in - 1, w_, sizeof w_ / sizeof *w_));                         \
  } while (0)

static void utf16_should_decode_well_formed_text_of_every_length(void) {
  SAME("a", 'a');
  SAME("caf\xc3\xa9", 'c', 'a', 'f', 0xE9);
  SAME("\xe6\x97\xa5\xe6\x9c\xac", 0x65E5, 0x672C);
  SAME("\xf0\x9f\x99\x82", 0xD83D, 0xDE42);                         /* U+1F642, a pair */
  SAME("\xc2\x80\xdf\xbf", 0x80, 0x7FF);                             /* 2-byte bounds */
  SAME("\xe0\xa0\x80\xef\xbf\xbf", 0x800, 0xFFFF);                   /* 3-byte bounds */
  SAME("\xed\x9f\xbf\xee\x80\x80", 0xD7FF, 0xE000);                  /* around the surrogates */
  SAME("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 0xD800, 0xDC00, 0xDBFF, 0xDFFF); /* 4-byte bounds */
  SAME("\xef\xbb\xbfx", 0xFEFF, 'x');                                /* a BOM stays */
  SAME("\x00z", 0, 'z');
  /* ASCII runs longer than 8 around other characters */
  SAME("abcdefghij\xc3\xa9klmnopqrstu", 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 0xE9, 'k',
       'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't', 'u');
}

static void utf16_should_replace_each_maximal_subpart_with_one_fffd(void) {
  /* Unicode §3.9 table 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 */
  SAME("a\xf1\x80\x80\xe1\x80\xc2" "b\x80" "c\x80\xbf" "d", 'a', 0xFFFD, 0xFFFD, 0xFFFD, 'b', 0xFFFD,
       'c', 0xFFFD, 0xFFFD, 'd');
  SAME("\x80", 0xFFFD);                                 /* a lone continuation byte */
  SAME("\xc0\xaf", 0xFFFD, 0xFFFD);                     /* C0, C1 never start a sequence */
  SAME("\xc1\xbf", 0xFFFD, 0xFFFD);
  SAME("\xe0\x80\xaf", 0xFFFD, 0xFFFD, 0xFFFD);         /* overlong: E0 wants A0..BF next */
  SAME("\xf0\x80\x80\xaf", 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD);
  SAME("\xed\xa0\x80", 0xFFFD, 0xFFFD, 0xFFFD);         /* a surrogate: ED wants 80..9F next */
  SAME("\xed\xbf\xbf", 0xFFFD, 0xFFFD, 0xFFFD);
  SAME("\xf4\x90\x80\x80", 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD); /* above U+10FFFF */
  SAME("\xf5\x80\x80\x80", 0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD); /* F5..FF never start one */
  SAME("\xff", 0xFFFD);
  SAME("\xe6\x97" "a", 0xFFFD, 'a');                    /* cut short: one FFFD, then the byte anew */
  SAME("\xf0\x9f\x99" "a", 0xFFFD, 'a');
  SAME("\xe6\x97\xc3\xa9", 0xFFFD, 0xE9);               /* the byte that did not fit starts anew */
  SAME("\xe6\x97", 0xFFFD);                             /* cut by the end of the input */
  SAME("\xf0\x9f\x99", 0xFFFD);
  SAME("\xc3", 0xFFFD);
  SAME("xyz\xf0\x9f", 'x', 'y', 'z', 0xFFFD);
}

static void utf16_should_find_the_ascii_prefix(void) {
  T_EQ(ms_utf8_ascii_prefix((const uint8_t *)"", 0), 0);
  T_EQ(ms_utf8_ascii_prefix((const uint8_t *)"abcdefghijklmnop", 16), 16);
  T_EQ(ms_utf8_ascii_prefix((const uint8_t *)"abcdefghij\xc3\xa9", 12), 10);
  T_EQ(ms_utf8_ascii_prefix((const uint8_t *)"abc\x80", 4), 3);
  T_EQ(ms_utf8_ascii_prefix((const uint8_t *)"\xff", 1), 0);
}

static void ctx_utf16_should_decode_into_its_buffer_and_say_0_for_ascii(void) {
  ms_ctx *ctx = ms_ctx_new();
  T_OK(ctx != NULL);
  const char *ascii = "{\"text\":\"plain ascii, longer than eight bytes\"}";
  T_EQ(ms_ctx_utf16(ctx, (const uint8_t *)ascii, (uint32_t)strlen(ascii)), 0);
  T_EQ(ms_ctx_utf16(ctx, (const uint8_t *)ascii, 0), 0);
  const char *text = "{\"t\":\"caf\xc3\xa9 \xf0\x9f\x99\x82\"}";
  int32_t n = ms_ctx_utf16(ctx, (const uint8_t *)text, (uint32_t)strlen(text));
  T_EQ(n, 15); /* {"t":"café 🙂"}: 🙂 is two units */
  const uint16_t *u = ms_ctx_utf16_ptr(ctx);
  T_OK(u != NULL);
  if (u && n == 15) {
    T_EQ(u[0], '{');
    T_EQ(u[9], 0xE9);
    T_EQ(u[11], 0xD83D);
    T_EQ(u[12], 0xDE42);
    T_EQ(u[13], '"');
    T_EQ(u[14], '}');
  }
  T_EQ(ms_ctx_utf16(NULL, (const uint8_t *)text, 1), MS_ERR_INVALID_ARGUMENT);
  T_EQ(ms_ctx_utf16(ctx, NULL, 1), MS_ERR_INVALID_ARGUMENT);
  /* the buffer belongs to the context: counted as its own, freed with it */
  T_EQ(ms_live_allocations(), ms_ctx_own_allocations(ctx));
  ms_ctx_free(ctx);
}

static void ctx_utf16_should_leave_the_taken_effects_alone_and_drop_a_big_buffer_at_the_next_take(void) {
  ms_ctx *ctx = ms_ctx_new();
  T_OK(ctx != NULL);
  T_OK(ms__fx(ctx, MS_FX_LOG, 0, 1, 0, "caf\xc3\xa9", 5) == 0);
  T_EQ(ms_ctx_take_effects(ctx), 1);
  const ms_effect *fx = ms_ctx_effects_ptr(ctx);
  const uint8_t *payload = (const uint8_t *)fx[0].ptr;
  T_EQ(ms_ctx_utf16(ctx, payload, fx[0].len), 4);
  T_MEM(payload, fx[0].len, "caf\xc3\xa9"); /* still there */
  /* a big text: its buffer is freed at the next take */
  size_t big = 3u << 20;
  uint8_t *text = malloc(big);
  T_OK(text != NULL);
  if (text) {
    for (size_t i = 0; i < big; i += 2) { text[i] = 0xC3; text[i + 1] = 0xA9; }
    int before = ms_live_allocations();
    T_EQ(ms_ctx_utf16(ctx, text, (uint32_t)big), (int32_t)(big / 2));
    T_EQ(ms_ctx_take_effects(ctx), 0);
    T_EQ(ms_live_allocations(), before - 1);
    free(text);
  }
  ms_ctx_free(ctx);
}

/* The 16-byte ASCII loops (bytescan.h) against the byte path: runs of ASCII
 * of every length up to 70 with one non-ASCII sequence (well-formed or not),
 * or none, at every offset: the units are the ASCII bytes widened one by one
 * and what the sequence decodes to alone, and the ASCII prefix ends where the
 * sequence starts. A difference between the vector path and the byte path
 * fails here. */
static void utf16_should_cross_ascii_runs_as_byte_by_byte_at_every_offset(void) {
  static const struct { const char *s; uint16_t u[2]; size_t nu; } seqs[] = {
      {"\xc3\xa9", {0xE9}, 1}, {"\xe6\x97\xa5", {0x65E5}, 1}, {"\xf0\x9f\x99\x82", {0xD83D, 0xDE42}, 2},
      {"\x80", {0xFFFD}, 1}, {"\xff", {0xFFFD}, 1}, {"", {0}, 0},
  };
  uint8_t in[96];
  uint16_t out[96], want[96];
  for (size_t q = 0; q < sizeof seqs / sizeof *seqs; q++) {
    size_t ql = strlen(seqs[q].s);
    for (size_t len = 0; len <= 70; len++) {
      for (size_t at = 0; at <= len; at++) {
        size_t n = 0, w = 0;
        for (size_t k = 0; k < at; k++) want[w++] = in[n++] = (uint8_t)(' ' + (k * 13) % 95);
        memcpy(in + n, seqs[q].s, ql);
        n += ql;
        for (size_t k = 0; k < seqs[q].nu; k++) want[w++] = seqs[q].u[k];
        for (size_t k = at; k < len; k++) want[w++] = in[n++] = (uint8_t)((k * 7) % 128);
        T_EQ(ms_utf8_ascii_prefix(in, n), ql ? at : n);
        size_t got = ms_utf8_to_utf16(in, n, out);
        if (got != w || memcmp(out, want, w * sizeof *out) != 0) {
          T_FAIL("sequence %zu at %zu of %zu: %zu units, want %zu", q, at, len, got, w);
          return;
        }
        t_checks++;
      }
    }
  }
}

/* Characters of every length, including the bounds of each length and the
 * code points around the surrogates. */
static const struct {
  const char *s;
  size_t n;
} chars[] = {
    {"a", 1},  {"\x7f", 1},         {"\xc2\x80", 2},     {"\xc3\xa9", 2},     {"\xdf\xbf", 2},
    {"\xe0\xa0\x80", 3}, {"\xe6\x97\xa5", 3}, {"\xed\x9f\xbf", 3}, {"\xee\x80\x80", 3}, {"\xef\xbf\xbf", 3},
    {"\xf0\x90\x80\x80", 4}, {"\xf0\x9f\x99\x82", 4}, {"\xf4\x8f\xbf\xbf", 4},
};
#define NCHARS (sizeof chars / sizeof *chars)

/* Every sequence of 8 characters of the lengths 1, 2, 3 and 4 (4^8 mixes),
 * each at 3 offsets (after 0, 1 and 5 bytes of ASCII), followed by ASCII up
 * to 40 bytes: the 16-byte windows start at every character boundary the
 * mixes make, so a character straddles every position of a window, its
 * 16th to 18th bytes included, and the last characters reach the end of the
 * input where the windows stop (18 bytes before it). */
static void utf16_should_decode_every_mix_of_character_lengths_as_byte_by_byte(void) {
  static const int by_len[4][3] = {{0, 1, 0}, {2, 3, 4}, {5, 6, 7}, {10, 11, 12}}; /* chars[] of each length */
  uint8_t in[64];
  static const size_t pre[] = {0, 1, 5};
  for (uint32_t mix = 0; mix < (1u << 16); mix++) {
    for (size_t q = 0; q < 3; q++) {
      size_t n = 0;
      for (size_t k = 0; k < pre[q]; k++) in[n++] = (uint8_t)('A' + k);
      for (int c = 0; c < 8; c++) {
        int len = (mix >> (2 * c)) & 3;
        const char *ch = chars[by_len[len][(mix / 7 + (uint32_t)c) % 3]].s;
        size_t cl = strlen(ch);
        memcpy(in + n, ch, cl);
        n += cl;
      }
      for (; n < 40; n++) in[n] = (uint8_t)('a' + n % 26);
      if (!same_as_reference(in, n, "mix", mix, q)) return;
      /* and cut short: the same characters up to the end of the input */
      for (size_t cut = 18; cut < 40; cut += 7)
        if (!same_as_reference(in, cut, "mix cut", mix, cut)) return;
    }
  }
}

/* Ill-formed bytes at every position of a text of mixed characters (0 to 60):
 * each one the decoder's windows must stop at (or not take for what it is
 * not), and each decoded as the standard says. */
static void utf16_should_stop_a_window_at_every_ill_formed_shape_at_every_position(void) {
  static const struct {
    const char *s;
    size_t n;
  } bad[] = {
      {"\x80", 1},         {"\xbf", 1},         /* a continuation byte no lead asks for */
      {"\xc0\x80", 2},     {"\xc1\xbf", 2},     /* C0, C1: never a lead */
      {"\xe0\x80\x80", 3}, {"\xe0\x9f\xbf", 3}, /* overlong 3-byte forms */
      {"\xe0\xa0", 2},                          /* the shortest well-formed E0, cut */
      {"\xed\xa0\x80", 3}, {"\xed\xbf\xbf", 3}, /* surrogates */
      {"\xed\x9f", 2},                          /* a well-formed ED, cut */
      {"\xf0\x80\x80\x80", 4}, {"\xf0\x8f\xbf\xbf", 4}, {"\xf4\x90\x80\x80", 4}, /* 4-byte, out of range */
      {"\xf5\x80\x80\x80", 4}, {"\xf8\x88\x80\x80\x80", 5}, {"\xff", 1}, {"\xfe", 1},
      {"\xc3", 1},         {"\xe6\x97", 2},     {"\xe6", 1}, /* cut sequences */
      {"\xf0\x9f\x99", 3}, {"\xf0\x9f", 2},     {"\xf0", 1},
      {"\xc3\xc3\xa9", 3}, {"\xe6\xc3\xa9", 3}, {"\xe6\x97\xe6\x97\xa5", 5}, /* a lead where a continuation should be */
      {"\xc3\xa9\x80", 3}, {"\xe6\x97\xa5\x80", 4}, {"\xe6\x97\xa5\x80\x80", 5}, /* one continuation too many */
      {"\xf0\x9f\x99\x82\x80", 5},
  };
  static const char text[] = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xce\x95\xce\xbb \xd1\x80\xd1\x83 "
                             "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 na\xc3\xafve \xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9 ok";
  uint8_t in[160];
  size_t tn = sizeof text - 1;
  for (size_t b = 0; b < sizeof bad / sizeof *bad; b++) {
    for (size_t at = 0; at <= 60 && at <= tn; at++) {
      /* inserted at byte `at` (maybe inside a character), and in place of the bytes there */
      memcpy(in, text, at);
      memcpy(in + at, bad[b].s, bad[b].n);
      memcpy(in + at + bad[b].n, text + at, tn - at);
      if (!same_as_reference(in, tn + bad[b].n, "inserted", b, at)) return;
      memcpy(in, text, tn);
      memcpy(in + at, bad[b].s, at + bad[b].n <= tn ? bad[b].n : tn - at);
      if (!same_as_reference(in, tn, "replaced", b, at)) return;
      /* at the end of the input, and the input cut at every length after it */
      for (size_t cut = at + 1; cut <= at + bad[b].n + 19 && cut <= tn + bad[b].n; cut++) {
        memcpy(in, text, at);
        memcpy(in + at, bad[b].s, bad[b].n);
        memcpy(in + at + bad[b].n, text + at, tn - at);
        if (!same_as_reference(in, cut, "cut", b, cut)) return;
      }
    }
  }
}

/* Random texts: well-formed ones of random characters (and random runs of
 * ASCII), the same with one random byte changed, and random bytes (mostly
 * 80..FF, where all the ill-formed shapes are). */
static void utf16_should_decode_random_texts_as_byte_by_byte(void) {
  uint8_t in[200];
  for (int round = 0; round < 30000; round++) {
    size_t n = 0, want = 20 + rng() % 160;
    while (n + 5 < want) {
      if (rng() % 8 == 0) {
        size_t run = rng() % 24;
        while (run-- && n + 5 < want) in[n++] = (uint8_t)(rng() % 128);
        continue;
      }
      size_t c = rng() % NCHARS;
      memcpy(in + n, chars[c].s, chars[c].n);
      n += chars[c].n;
    }
    if (!same_as_reference(in, n, "random text", (size_t)round, n)) return;
    in[rng() % n] = (uint8_t)rng();
    if (!same_as_reference(in, n, "random text, a byte changed", (size_t)round, n)) return;
    for (size_t k = 0; k < n; k++) in[k] = (uint8_t)(rng() % 4 ? 0x80 + rng() % 128 : rng() % 128);
    if (!same_as_reference(in, n, "random bytes", (size_t)round, n)) return;
  }
}

int main(void) {
  T_RUN(utf16_should_decode_well_formed_text_of_every_length);
  T_RUN(utf16_should_replace_each_maximal_subpart_with_one_fffd);
  T_RUN(utf16_should_find_the_ascii_prefix);
  T_RUN(utf16_should_cross_ascii_runs_as_byte_by_byte_at_every_offset);
  T_RUN(utf16_should_decode_every_mix_of_character_lengths_as_byte_by_byte);
  T_RUN(utf16_should_stop_a_window_at_every_ill_formed_shape_at_every_position);
  T_RUN(utf16_should_decode_random_texts_as_byte_by_byte);
  T_RUN(ctx_utf16_should_decode_into_its_buffer_and_say_0_for_ascii);
  T_RUN(ctx_utf16_should_leave_the_taken_effects_alone_and_drop_a_big_buffer_at_the_next_take);
  T_END();
}
