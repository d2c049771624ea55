/*
 * Text for the trace writers (text.c): escaping for JSON and XML, times, and
 * writing a whole file with one error for every way it can fail.
 */
#ifndef FJ_TRACE_TEXT_H
#define FJ_TRACE_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "fiberjob.h"

/* s as a JSON string, quotes included; invalid UTF-8 becomes U+FFFD. */
void fj__tw_put_json_string(FILE *f, const char *s);
/* s as XML text or attribute value: at most max_chars characters (then
 * "..."); the characters XML 1.0 forbids and invalid UTF-8 become U+FFFD. */
void fj__tw_put_xml_text(FILE *f, const char *s, size_t max_chars);
/* The characters in s, an invalid UTF-8 byte counting as one. */
size_t fj__tw_utf8_chars(const char *s);
/* ns as microseconds with three decimals, exactly. */
void fj__tw_put_us(FILE *f, uint64_t ns);
/* ns for people: ns, us or ms. */
void fj__tw_put_duration(FILE *f, uint64_t ns);

/* Write the file at path with body(f, arg), which may stop early when
 * ferror(f). 0, or FJ_EIO with errno saying why. */
int fj__tw_write_file(const char *path, void (*body)(FILE *, void *), void *arg);

#endif
