/* routes.h - the route table: path + methods + who may call -> handler. */
#ifndef CT_ROUTES_H
#define CT_ROUTES_H

struct req;

/* Dispatch one request: method gate (405 + Allow), input, API key and
 * session, then the handler; replies 404 itself when no route fits. */
void route_dispatch(struct req *r);

/* Route names by index, for metrics: NULL past the last. */
const char *route_name(int i);

/* Handlers (h_*.c). Each replies exactly once. */
void h_health(struct req *r);
void h_sessions(struct req *r);
void h_sessions_touch(struct req *r);
void h_sessions_end(struct req *r);
void h_tickets(struct req *r);
void h_messages(struct req *r);
void h_messages_poll(struct req *r);
void h_messages_edit(struct req *r);
void h_messages_delete(struct req *r);
void h_messages_read(struct req *r);
void h_messages_search(struct req *r);
void h_channels(struct req *r);
void h_channels_create(struct req *r);
void h_presence(struct req *r);
void h_unread(struct req *r);
void h_users(struct req *r);
void h_channels_update(struct req *r);
void h_mentions(struct req *r);
void h_hooks(struct req *r);
void h_hooks_add(struct req *r);
void h_hooks_remove(struct req *r);
void h_channel_hooks(struct req *r);
void h_channel_hooks_add(struct req *r);
void h_channel_hooks_remove(struct req *r);
void h_messages_react(struct req *r);
void h_messages_unreact(struct req *r);
void h_members(struct req *r);
void h_members_add(struct req *r);
void h_members_remove(struct req *r);
void h_attachments(struct req *r);
void h_attachments_url(struct req *r);
void h_files(struct req *r);
void h_metrics(struct req *r);

#endif /* CT_ROUTES_H */
