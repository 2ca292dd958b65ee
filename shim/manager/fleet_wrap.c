/*
 * A fleet leader's challenge solver wrapped around this host's own (fleet.h: fleet_http01.c, fleet_dns01.c): the
 * wrapper's present and cleanup call the inner solver and also write the challenge through the store. One
 * struct mgr_fleet_wrap per challenge type holds the inner solver, copied under its own leaf lock (the wrap is
 * set on the leader's thread; the copy is read by the same thread's rounds, and the lock keeps a later wrap from
 * tearing a copy in progress). Owns nothing else; never runs on a server thread.
 */
#include "shim/manager/fleet.h"
#include "acme/solver.h"

void mgr_fleet_wrap_set(struct mgr_fleet_wrap *w, struct at_solver *s, int (*present)(void *, const struct at_challenge *),
			void (*cleanup)(void *, const struct at_challenge *))
{
	pthread_mutex_lock(&w->mu);
	w->inner = *s;
	pthread_mutex_unlock(&w->mu);
	s->present = present;
	s->cleanup = cleanup;
	s->ctx = w;
}

struct at_solver mgr_fleet_wrap_inner(struct mgr_fleet_wrap *w)
{
	pthread_mutex_lock(&w->mu);
	struct at_solver s = w->inner;
	pthread_mutex_unlock(&w->mu);
	return s;
}
