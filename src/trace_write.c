/* Writers for the traced events: placeholder until the JSON and SVG writers land. */
#include "internal.h"

int fj_trace_write_json(const fj_scheduler *s, const char *path)
{
    (void)s;
    (void)path;
    return FJ_EINVAL;
}

int fj_trace_write_svg(const fj_scheduler *s, const char *path)
{
    (void)s;
    (void)path;
    return FJ_EINVAL;
}
