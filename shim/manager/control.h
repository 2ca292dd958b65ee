/*
 * The control channel (control.c) and what it reports (seen.c): how `autotls renew`, `revoke` and `status` reach
 * the running manager. See control.c for the socket, the protocol and who may use it.
 */
#ifndef AUTOTLS_SHIM_MANAGER_CONTROL_H
#define AUTOTLS_SHIM_MANAGER_CONTROL_H

#include "util/err.h"

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* seen.c: this process notes the region generation its cache serves (mgr_sync, under mgr_publish_mu), in its
 * own slot of the untrusted channel. Never blocks, never fails (no slot free: nothing noted). */
void mgr_seen_note(uint64_t generation);

/* One process as its slot says (untrusted: for display). */
struct mgr_seen {
	pid_t pid;
	uint64_t generation;
	int64_t at_ms; /* CLOCK_REALTIME ms of its last note */
};
/* Copies the slots of live processes into out[0..max); *n the count. Slots of dead processes are freed. */
void mgr_seen_list(struct mgr_seen *out, size_t max, size_t *n);

/* control.c, on the leader's thread only. */
/* Starts listening on <storage>/run/control.sock (an earlier leader's socket is replaced). 0, or a negative
 * error (logged; the server runs on without a control channel). */
int mgr_control_open(void) AT_MUST_CHECK;
/* In a forked child (thread_life.c's fork handler): closes the inherited copies of the socket and connections. */
void mgr_control_forked(void);
/* Stops listening, answers every waiting client that the manager stopped, removes the socket. */
void mgr_control_close(void);

/* What the leader was asked to do; set by mgr_control_wait. */
enum mgr_control_ask { MGR_ASK_NONE = 0, MGR_ASK_RENEW = 1, MGR_ASK_REVOKE = 2 };
struct mgr_control_req {
	enum mgr_control_ask ask;
	int force;    /* renew --force, and always after a revoke */
	int reason;   /* revoke: the RFC 5280 CRLReason code */
};

/* The leader's state as status shows it (lead.c keeps it up to date). */
struct mgr_control_state {
	char serial[128];
	time_t not_after;
	time_t renew_at;       /* 0: unknown */
	int renew_from_ari;
	int last_rc;           /* of the last round */
	char last_error[256];  /* "" when the last round succeeded */
};
extern struct mgr_control_state mgr_control_state;

/* Waits up to ms with the quiesce lock released, serving the channel: status is answered at once; a renew or
 * a revoke is returned in *req (ask != NONE) and its clients wait for mgr_control_done. Returns 0. */
void mgr_control_wait(long ms, struct mgr_control_req *req);
/* The outcome of what *req asked: rc 0 with the serial now served (and revoked, the serial revoked), or an
 * error with what the CA said. Answers every client waiting for it. */
void mgr_control_done(int rc, const char *serial, const char *revoked, const char *detail);

/* publish.c: the region version of the managed certificate this process published (0 when none). */
uint64_t mgr_published_version(void);

#endif
