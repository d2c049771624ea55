/*
 * A program that uses the scheduler and never writes a trace itself: only
 * fj_create, fj_main and fj_destroy. Built against the static library for
 * check_link.cmake, which checks that it links the JSON writer (fj_destroy
 * writes FIBERJOB_TRACE's file) but not the SVG writer.
 */
#include <fiberjob.h>
#include <stdio.h>

static void root(void *arg) { (void)arg; }

int main(void)
{
    fj_scheduler *s = fj_create(NULL);
    if (!s) {
        fputs("link_hello: fj_create failed\n", stderr);
        return 1;
    }
    int rc = fj_main(s, root, NULL);
    fj_destroy(s);
    if (rc) {
        fprintf(stderr, "link_hello: fj_main returned %d\n", rc);
        return 1;
    }
    return 0;
}
