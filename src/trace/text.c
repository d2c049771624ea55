/*
 * The text the trace writers put out, and the file it goes to: UTF-8 checked
 * and escaped for JSON strings and for XML, times as microseconds and as
 * durations for people.
 *
 * A file that cannot be opened, written or closed is FJ_EIO, with errno
 * telling why (fj__trace_at_exit prints it): the output stops at the first
 * failed write instead of pushing megabytes more at a full disk.
 */
#include <errno.h>
#include <inttypes.h>

#include "text.h"

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when p starts an
 * invalid one. A NUL never passes as a continuation byte, so this never reads
 * past the end of the string. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;   /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

void fj__tw_put_json_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0) {
            fputs("\\ufffd", f);
            p++;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        unsigned char ch = *p++;
        switch (ch) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (ch < 0x20 || ch == 0x7f)
                fprintf(f, "\\u%04x", ch);
            else
                fputc(ch, f);
        }
    }
    fputc('"', f);
}

/* XML text or attribute value: at most max_chars characters (then "..."); the
 * characters XML 1.0 forbids (most controls, U+FFFE, U+FFFF) and invalid
 * UTF-8 become U+FFFD. */
void fj__tw_put_xml_text(FILE *f, const char *s, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t k = 0; *p; k++) {
        if (k == max_chars) {
            fputs("...", f);
            return;
        }
        size_t n = utf8_len(p);
        if (n == 0 || (n == 1 && *p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') ||
            (n == 3 && p[0] == 0xef && p[1] == 0xbf && p[2] >= 0xbe)) {
            fputs("&#xFFFD;", f);
            p += n ? n : 1;
            continue;
        }
        if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*p, f);
        }
        p++;
    }
}

size_t fj__tw_utf8_chars(const char *s)
{
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; k++) {
        size_t n = utf8_len(p);
        p += n ? n : 1;
    }
    return k;
}

/* ns as microseconds with three decimals, exactly. */
void fj__tw_put_us(FILE *f, uint64_t ns)
{
    fprintf(f, "%" PRIu64 ".%03u", ns / 1000, (unsigned)(ns % 1000));
}

/* A duration for people: ns, µs or ms. */
void fj__tw_put_duration(FILE *f, uint64_t ns)
{
    if (ns < 1000)
        fprintf(f, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        fprintf(f, "%.2f \xc2\xb5s", (double)ns / 1e3);
    else
        fprintf(f, "%.3f ms", (double)ns / 1e6);
}

/* Close f: 0, or FJ_EIO when a write or the close failed, with errno saying
 * why. The writers stop at the first failed write (they check ferror between
 * the parts of the file), so errno is still that write's. */
static int close_checked(FILE *f)
{
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (!err)
        return 0;
    errno = err;
    return FJ_EIO;
}

int fj__tw_write_file(const char *path, void (*body)(FILE *, void *), void *arg)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return FJ_EIO;
    body(f, arg);
    return close_checked(f);
}
