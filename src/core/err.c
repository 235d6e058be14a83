/* err.c — the one place that writes an error text: an MS_ERR_* code and a
 * printf-style message into a fixed buffer (setting an error never allocates). */
#include <stdio.h>

#include "internal.h"

int ms_err_vset(ms_err *e, int code, const char *fmt, va_list ap) {
  int n = vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof e->msg) n = (int)sizeof e->msg - 1;
  e->len = (uint32_t)n;
  e->code = code;
  return code;
}

int ms_err_set(ms_err *e, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  ms_err_vset(e, code, fmt, ap);
  va_end(ap);
  return code;
}

MS_EXPORT const char *ms_strerror(int32_t code) {
  switch (code) {
#define MS__ERR_NAME(name, value, str) \
  case value: return #str;
    MS_ERRORS(MS__ERR_NAME)
#undef MS__ERR_NAME
    default: return NULL;
  }
}
