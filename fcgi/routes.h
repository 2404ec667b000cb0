/* routes.h - the route table: path + methods -> handler. */
#ifndef CT_ROUTES_H
#define CT_ROUTES_H

struct req;

/* Dispatch one request; replies 404/405 itself when no route fits. */
void route_dispatch(struct req *r);

/* Handlers (h_*.c). Each replies exactly once. */
void h_health(struct req *r);

#endif /* CT_ROUTES_H */
