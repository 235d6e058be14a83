/* test_utf16.c — tests of UTF-8 to UTF-16 (src/core/utf16.c) and of the
 * context's export for it (ms_ctx_utf16): the WHATWG utf-8 decoder's output,
 * TextDecoder's, for well-formed text and for every kind of ill-formed
 * sequence (the maximal-subpart examples of the Unicode standard, §3.9,
 * table 3-8, among them). fuzz_utf16.c compares it with a byte-by-byte
 * transcription of the standard's algorithm. */
#include <string.h>

#include "core.h"
#include "t.h"

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

int main(void) {
  T_RUN(utf16_should_decode_well_formed_text_of_every_length);
  T_RUN(utf16_should_replace_each_maximal_subpart_with_one_fffd);
  T_RUN(utf16_should_find_the_ascii_prefix);
  T_RUN(utf16_should_cross_ascii_runs_as_byte_by_byte_at_every_offset);
  T_RUN(ctx_utf16_should_decode_into_its_buffer_and_say_0_for_ascii);
  T_RUN(ctx_utf16_should_leave_the_taken_effects_alone_and_drop_a_big_buffer_at_the_next_take);
  T_END();
}
