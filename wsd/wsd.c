/* wsd.c - the process's one crosstalk-wsd instance (wsd.h), on its own so
 * that every module may read it without depending on main.c. */
#include "wsd/wsd.h"

static struct wsd the_wsd;
struct wsd *wsd = &the_wsd;
