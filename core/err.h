/* err.h - crosstalk error codes: 0 or a negative CT_E*, each with the
 * contract's error code string and HTTP status. */
#ifndef CT_ERR_H
#define CT_ERR_H

#define CT_MUSTCHECK __attribute__((warn_unused_result))

enum ct_err {
	CT_OK = 0,
	CT_EBADREQ = -1,    /* 400 bad_request */
	CT_EUNAUTH = -2,    /* 401 unauthorized */
	CT_EFORBIDDEN = -3, /* 403 forbidden */
	CT_ENOTFOUND = -4,  /* 404 not_found */
	CT_EMETHOD = -5,    /* 405 method_not_allowed */
	CT_ECONFLICT = -6,  /* 409 conflict */
	CT_ETOOLARGE = -7,  /* 413 too_large */
	CT_EMEDIA = -8,     /* 415 unsupported_media_type */
	CT_EINVALID = -9,   /* 422 invalid */
	CT_ERATE = -10,     /* 429 rate_limited */
	CT_EUNAVAIL = -11,  /* 503 unavailable (database down, overload) */
	CT_ENOMEM = -12,    /* 503 as well: never a 500 for the client */
	CT_EINTERNAL = -13, /* 500: a bug; logged loudly */
};
#define CT_ERR_COUNT 14

/* "bad_request", "unauthorized", ...; "ok" for CT_OK. Static strings. */
const char *ct_err_code(int rc);
/* 200, 400, 401, ... */
int ct_err_status(int rc);
/* Map a contract code string back to its CT_E*; CT_EINTERNAL if unknown. */
int ct_err_from_code(const char *code);

#endif /* CT_ERR_H */
