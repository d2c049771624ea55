/*
 * link_hello.c plus one call of fj_trace_write_svg, to the file named by its
 * argument: the program check_link.cmake expects the SVG writer in (so that
 * its check for the writer's absence from link_hello is known to look).
 */
#include <fiberjob.h>
#include <stdio.h>

static void root(void *arg) { (void)arg; }

int main(int argc, char **argv)
{
    if (argc != 2) {
        fputs("usage: link_svg FILE.svg\n", stderr);
        return 2;
    }
    fj_config cfg = fj_config_default();
    cfg.trace_events = 1024;
    fj_scheduler *s = fj_create(&cfg);
    if (!s) {
        fputs("link_svg: fj_create failed\n", stderr);
        return 1;
    }
    int rc = fj_main(s, root, NULL);
    int wrc = rc ? 0 : fj_trace_write_svg(s, argv[1]);
    fj_destroy(s);
    if (rc || wrc) {
        fprintf(stderr, "link_svg: fj_main returned %d, fj_trace_write_svg %d (%s)\n", rc, wrc, fj_strerror(wrc));
        return 1;
    }
    return 0;
}
