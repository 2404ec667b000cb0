/* routes.c - lookup table from path to handler, the method gate and the
 * authentication each route needs. */
#include <string.h>

#include "core/err.h"
#include "fcgi/req.h"
#include "fcgi/routes.h"

enum { M_GET = 1, M_POST = 2 };
enum {
	A_NONE,     /* health */
	A_APP,      /* API key; a session is ignored */
	A_USER_OPT, /* API key; a session when given (must resolve) */
	A_USER,     /* API key and a live session */
	A_UPLOAD,   /* the handler reads the body and authenticates */
};

/* clang-format off */
static const struct route {
	const char *path;
	int methods;
	int auth;
	void (*fn)(struct req *r);
} routes[] = {
	{ "health",          M_GET | M_POST, A_NONE,     h_health },
	{ "sessions",        M_POST,         A_APP,      h_sessions },
	{ "sessions/touch",  M_POST,         A_APP,      h_sessions_touch },
	{ "sessions/end",    M_POST,         A_APP,      h_sessions_end },
	{ "tickets",         M_POST,         A_USER,     h_tickets },
	{ "messages",        M_POST,         A_APP,      h_messages },
	{ "messages/poll",   M_GET | M_POST, A_USER_OPT, h_messages_poll },
	{ "messages/edit",   M_POST,         A_USER_OPT, h_messages_edit },
	{ "messages/delete", M_POST,         A_USER_OPT, h_messages_delete },
	{ "messages/read",   M_POST,         A_USER,     h_messages_read },
	{ "messages/react",  M_POST,         A_USER,     h_messages_react },
	{ "messages/unreact", M_POST,        A_USER,     h_messages_unreact },
	{ "messages/search", M_GET | M_POST, A_USER,     h_messages_search },
	{ "channels",        M_GET | M_POST, A_USER_OPT, h_channels },
	{ "channels/create", M_POST,         A_APP,      h_channels_create },
	{ "channels/update", M_POST,         A_APP,      h_channels_update },
	{ "channels/members", M_GET | M_POST, A_USER_OPT, h_members },
	{ "channels/members/add", M_POST,    A_USER_OPT, h_members_add },
	{ "channels/members/remove", M_POST, A_USER_OPT, h_members_remove },
	{ "presence",        M_GET | M_POST, A_USER_OPT, h_presence },
	{ "unread",          M_GET | M_POST, A_USER,     h_unread },
	{ "users",           M_GET | M_POST, A_USER_OPT, h_users },
	{ "mentions",        M_GET | M_POST, A_USER,     h_mentions },
	{ "hooks",           M_GET | M_POST, A_APP,      h_hooks },
	{ "hooks/add",       M_POST,         A_APP,      h_hooks_add },
	{ "hooks/remove",    M_POST,         A_APP,      h_hooks_remove },
	{ "channel_hooks",   M_GET | M_POST, A_APP,      h_channel_hooks },
	{ "channel_hooks/add", M_POST,       A_APP,      h_channel_hooks_add },
	{ "channel_hooks/remove", M_POST,    A_APP,      h_channel_hooks_remove },
	{ "attachments",     M_POST,         A_UPLOAD,   h_attachments },
	{ "attachments/url", M_GET | M_POST, A_USER,     h_attachments_url },
	{ "files",           M_GET,          A_NONE,     h_files },
	{ "metrics",         M_GET,          A_NONE,     h_metrics },
	{ NULL, 0, 0, NULL },
};
/* clang-format on */

const char *
route_name(int i)
{
	return i >= 0 && i < (int)(sizeof(routes) / sizeof(routes[0])) - 1
		       ? routes[i].path
		       : NULL;
}

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
		r->route = (int)(rt - routes);
		/* a browser's upload with a progress listener asks first */
		if (rt->auth == A_UPLOAD && strcmp(r->method, "OPTIONS") == 0) {
			req_reply_head(r, 204,
				       "Access-Control-Allow-Origin: *\r\n"
				       "Access-Control-Allow-Methods: POST\r\n"
				       "Access-Control-Allow-Headers: "
				       "Content-Type\r\n"
				       "Access-Control-Max-Age: 600\r\n");
			return;
		}
		if (!(rt->methods & m)) {
			req_header(r, (rt->methods & M_GET) ? "Allow: GET, POST"
							    : "Allow: POST");
			req_error(r, CT_EMETHOD, "use %s for %s",
				  (rt->methods & M_GET) ? "GET or POST"
							: "POST",
				  rt->path);
			return;
		}
		if (rt->auth == A_UPLOAD) {
			rt->fn(r);
			return;
		}
		if (req_read_input(r) != 0)
			return;
		if (rt->auth != A_NONE && req_auth_app(r) != 0)
			return;
		if ((rt->auth == A_USER_OPT || rt->auth == A_USER) &&
		    req_auth_user(r, rt->auth == A_USER) != 0)
			return;
		rt->fn(r);
		return;
	}
	req_error(r, CT_ENOTFOUND, "no such endpoint");
}
