/* transcript.h — the golden transcripts of the framer tests (test_ndjson.c,
 * test_sse.c): fixtures/transcripts/<prefix>*.in with the expected .out
 * (format: fixtures/transcripts/README.md), listed and loaded in libc memory.
 * Include after t.h and tlog.h; the including test defines DEFAULT_MAX (the
 * frame limit when the .out has no "max=" line). Run from wasm-tests/. */
#ifndef MS_TRANSCRIPT_H
#define MS_TRANSCRIPT_H

#include <dirent.h>

typedef struct transcript {
  char name[128];
  char *in;        /* libc memory */
  size_t in_len;
  tlog want;       /* expected entries, each ending in "\n" */
  tlog want_events; /* the same without the "limit" entries */
  int limits;      /* number of "limit" entries */
  size_t max;
} transcript;

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists fixtures/transcripts/<prefix>*.in, sorted, as a NULL-terminated
 * array of base names (libc memory; free with free_names). */
static char **list_transcripts(const char *prefix) {
  DIR *dir = opendir("fixtures/transcripts");
  if (!dir) {
    fprintf(stderr, "cannot open fixtures/transcripts (run from wasm-tests/)\n");
    exit(2);
  }
  size_t count = 0, cap = 16;
  char **names = malloc(cap * sizeof *names);
  struct dirent *e;
  while (names && (e = readdir(dir)) != NULL) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 || len < 4 ||
        strcmp(e->d_name + len - 3, ".in") != 0)
      continue;
    if (count + 1 >= cap) names = realloc(names, (cap *= 2) * sizeof *names);
    if (!names) break;
    names[count] = malloc(len - 2);
    if (!names[count]) exit(2);
    memcpy(names[count], e->d_name, len - 3);
    names[count][len - 3] = '\0';
    count++;
  }
  closedir(dir);
  if (!names) exit(2);
  names[count] = NULL;
  qsort(names, count, sizeof *names, by_name);
  return names;
}

static void free_names(char **names) {
  for (char **n = names; *n; n++) free(*n);
  free(names);
}

/* Loads <name>.in and <name>.out. */
static void transcript_load(transcript *t, const char *name) {
  char path[256];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  snprintf(path, sizeof path, "fixtures/transcripts/%s.in", name);
  t->in = t_read_file(path, &t->in_len);
  snprintf(path, sizeof path, "fixtures/transcripts/%s.out", name);
  size_t out_len;
  char *out = t_read_file(path, &out_len);
  t->max = DEFAULT_MAX;
  for (char *line = out; line < out + out_len;) {
    char *nl = memchr(line, '\n', (size_t)(out + out_len - line));
    size_t len = nl ? (size_t)(nl - line) : (size_t)(out + out_len - line);
    if (len == 0 || line[0] == '#') {
      /* comment or empty */
    } else if (len > 4 && strncmp(line, "max=", 4) == 0) {
      t->max = (size_t)strtoull(line + 4, NULL, 10);
    } else {
      tlog_add(&t->want, line, len);
      tlog_str(&t->want, "\n");
      if (len == 5 && memcmp(line, "limit", 5) == 0) {
        t->limits++;
      } else {
        tlog_add(&t->want_events, line, len);
        tlog_str(&t->want_events, "\n");
      }
    }
    line += len + 1;
  }
  free(out);
}

static void transcript_free(transcript *t) {
  free(t->in);
  tlog_free(&t->want);
  tlog_free(&t->want_events);
}

#endif
