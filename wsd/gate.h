/* gate.h - channel hooks in crosstalk-wsd (gate.c): a publish or subscribe
 * on a hooked channel, and whatever the same connection sends after it,
 * waits for the hook's answer; calls run on the daemon's loop. */
#ifndef CT_WSD_GATE_H
#define CT_WSD_GATE_H

#include "wsd/creq.h"

struct pss;

typedef void (*gate_go_fn)(struct pss *p, const struct creq *r);

/* 1: the gate took r (go(p, r) runs once it may, with the hook's text for
 * a rewritten publish; a refusal is answered instead); 0: act on it now. */
int gate_take(struct pss *p, const struct creq *r, gate_go_fn go);
/* p closes: its waiting requests are dropped, their calls cancelled. */
void gate_closed(struct pss *p);
/* Read the hook list again (the tick). */
void gate_refresh(void);
int gate_start(void); /* once the loop exists */
void gate_stop(void);

#endif /* CT_WSD_GATE_H */
