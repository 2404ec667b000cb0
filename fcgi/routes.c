/* routes.c - lookup table from path to handler, and the method gate. */
#include <string.h>

#include "core/err.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

enum { M_GET = 1, M_POST = 2 };

/* clang-format off */
static const struct route {
	const char *path;
	int methods;
	void (*fn)(struct req *r);
} routes[] = {
	{ "health", M_GET | M_POST, h_health },
	{ NULL, 0, NULL },
};
/* clang-format on */

void
route_dispatch(struct req *r)
{
	int m = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0
			? M_GET
		: strcmp(r->method, "POST") == 0 ? M_POST
						 : 0;

	for (const struct route *rt = routes; rt->path; rt++) {
		if (strcmp(rt->path, r->path) != 0)
			continue;
		if (!(rt->methods & m)) {
			req_header(r, (rt->methods & M_GET) ? "Allow: GET, POST"
							    : "Allow: POST");
			req_error(r, CT_EMETHOD, "%s is not allowed on %s",
				  r->method, r->path);
			return;
		}
		rt->fn(r);
		return;
	}
	req_error(r, CT_ENOTFOUND, "no such endpoint: /api/v1/%s", r->path);
}
