/*
 * Waiting for a DNS-01 TXT record (see dns01_wait.h). Where it looks:
 *
 *   - the one server the configuration names, there and nowhere else: for RFC 2136 (dns01_rfc2136.c) the update
 *     server, which has just applied the change; for a hook, AUTOTLS_DNS_RESOLVER when set (the user's choice,
 *     e.g. a provider's own server).
 *   - otherwise the zone's authoritative servers, found through the first nameserver of /etc/resolv.conf
 *     (dns/auth.h), each address asked directly on port 53 with RD clear. A recursive resolver may cache the
 *     name's absence for the zone's negative TTL (RFC 2308 section 5), and the CA may ask any authoritative
 *     server, so the record counts as visible when every server that answers shows it. An address that never
 *     answered, twice or more, is counted unreachable and left out (the CA cannot reach it either), and so is
 *     one whose last answer was without authority or an error RCODE (a lame delegation, REFUSED); one that
 *     answered that the record is not there counts until it shows the value. When the servers cannot be found
 *     (no SOA or NS at the resolver, as with a split-horizon set-up), the resolver itself is asked, with a
 *     warning.
 *
 * Each round asks, one after the other, every address that has not shown the value yet (each query at most
 * WAIT_QUERY_MS); rounds are 50 ms apart, doubling up to 2 s, within AUTOTLS_DNS_WAIT seconds in all, the
 * search for the servers included (at most half of it). When it ends, one line says where it looked, when each
 * server showed the value, and which lagged and how.
 *
 * Runs on the caller's solver thread and blocks; every query and pause runs between the wait hooks
 * (wait_hooks.h: the shim's manager releases its quiesce lock there).
 */
#include "challenge/dns01_wait.h"
#include "challenge/wait_hooks.h"
#include "util/clock.h"
#include "acme/solver.h"
#include "dns/auth.h"
#include "dns/query.h"
#include "util/err.h"
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define WAIT_POLL_FIRST_MS 50L
#define WAIT_POLL_MAX_MS 2000L
#define WAIT_QUERY_MS 2000L
#define UNREACHABLE_AFTER 2 /* queries without any answer */
#define LIST_MAX 800        /* a log line is at most 1 KiB */

struct target {
	const char *server; /* the NS name, or what names a single server ("AUTOTLS_DNS_RESOLVER") */
	char ip[AT_DNS_AUTH_IP_TEXT];
	int port;
	int tries, answered, fails;
	long shown_ms; /* after how long it showed the value; -1 until then */
	int last_rc;
	enum at_dns_auth_answer last;
	unsigned rcode;
};

struct watch {
	char where[400];  /* "AUTOTLS_DNS_RESOLVER 192.0.2.53 port 53", "all 3 addresses of the 2 authoritative
			   * servers of zone example.test", ... */
	const char *name; /* the name to ask for */
	int authoritative;
	struct target t[AT_DNS_AUTH_MAX_ADDRS];
	size_t n;
	struct at_dns_auth auth;
};

static void add_target(struct watch *w, const char *server, const char *ip, int port)
{
	struct target *t = &w->t[w->n++];
	memset(t, 0, sizeof(*t));
	if (!w->authoritative)
		snprintf(w->where, sizeof(w->where), "%s %s port %d", server, ip, port);
	t->server = server;
	snprintf(t->ip, sizeof(t->ip), "%s", ip);
	t->port = port;
	t->shown_ms = -1;
}

static int unreachable(const struct target *t)
{
	return !t->answered && t->fails >= UNREACHABLE_AFTER;
}

/* A lame server (answers without authority for the zone) or one that refuses or fails the question: the CA's
 * resolver passes over it too, so it must not hold the challenge back for ever. */
static int lame(const struct target *t)
{
	return t->answered && t->last_rc == 0 && (t->last == AT_DNS_AUTH_NOT_AUTH || t->last == AT_DNS_AUTH_RCODE);
}

/* Visible when one server shows the value and every other shows it too, never answered, or is lame. */
static int visible(const struct watch *w)
{
	size_t shown = 0;
	for (size_t i = 0; i < w->n; i++) {
		if (w->t[i].shown_ms >= 0)
			shown++;
		else if (!unreachable(&w->t[i]) && !lame(&w->t[i]))
			return 0;
	}
	return shown > 0;
}

/* Appends to a list line, cutting it short (with "...") rather than overflowing. */
static void append(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;
	if (used + 4 >= cap)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(buf + used, cap - used - 3, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= cap - used - 3)
		snprintf(buf + cap - 4, 4, "...");
}

static const char *rcode_name(unsigned rcode)
{
	static const char *const names[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED" };
	return rcode < sizeof(names) / sizeof(names[0]) ? names[rcode] : "an error RCODE";
}

/* What t said last, when it has not shown the value. */
static void state(char *buf, size_t cap, const struct target *t)
{
	if (unreachable(t) || t->tries == 0)
		append(buf, cap, "no answer%s%s", t->tries ? ": " : "", t->tries ? at_strerror(t->last_rc) : "");
	else if (t->last_rc != 0)
		append(buf, cap, "no answer to the last query: %s", at_strerror(t->last_rc));
	else if (t->last == AT_DNS_AUTH_NOT_AUTH)
		append(buf, cap, "answers without authority for the zone");
	else if (t->last == AT_DNS_AUTH_RCODE)
		append(buf, cap, "answers %s", rcode_name(t->rcode));
	else
		append(buf, cap, "not there yet");
}

/* "ns1.example.test 192.0.2.1 after 40 ms" or "ns2.example.test 192.0.2.2 (not there yet)", into a list. */
static void describe(char *buf, size_t cap, const struct target *t)
{
	append(buf, cap, "%s%s %s", buf[0] ? ", " : "", t->server, t->ip);
	if (t->shown_ms >= 0) {
		append(buf, cap, " after %ld ms", t->shown_ms);
		return;
	}
	append(buf, cap, " (");
	state(buf, cap, t);
	append(buf, cap, ")");
}

/* One round: asks every target that has not shown the value yet. Called between the wait hooks. */
static void ask_round(struct watch *w, const struct at_challenge *ch, long start, long deadline)
{
	for (size_t i = 0; i < w->n; i++) {
		struct target *t = &w->t[i];
		long left = deadline - at_clock_ms();
		if (t->shown_ms >= 0)
			continue;
		if (left <= 0)
			return;
		t->tries++;
		t->last_rc = at_dns_auth_txt(t->ip, t->port, w->name, ch->dns_txt_value, w->authoritative,
					     (int)(left < WAIT_QUERY_MS ? left : WAIT_QUERY_MS), &t->last, &t->rcode);
		if (t->last_rc == AT_E_TIMEOUT || t->last_rc == AT_E_NET) {
			t->fails++;
			continue;
		}
		t->answered = 1;
		if (t->last_rc == 0 && t->last == AT_DNS_AUTH_SHOWS)
			t->shown_ms = at_clock_ms() - start;
	}
}

/* The zone's authoritative servers through the system resolver; or, when they cannot be found, that resolver. */
static int watch_authoritative(struct watch *w, const struct at_dns01_wait_config *cfg, const struct at_challenge *ch,
			       long deadline)
{
	char resolver[AT_DNS_AUTH_IP_TEXT];
	const char *conf = cfg->resolv_conf ? cfg->resolv_conf : "/etc/resolv.conf";

	if (at_dns_system_resolver(resolver, sizeof(resolver), conf) != 0) {
		at_log_error("dns-01: no DNS server to check %s at: set AUTOTLS_DNS_RESOLVER (no nameserver in %s)",
			     ch->dns_txt_name, conf);
		return AT_E_STATE;
	}
	/* At most half of the wait goes to finding the servers: the rest is for asking them. */
	long left = (deadline - at_clock_ms()) / 2;
	at_challenge_wait_begin();
	int rc = at_dns_auth_find(resolver, 53, ch->dns_txt_name, (int)(left > 0 ? left : 1), &w->auth);
	at_challenge_wait_end();
	if (rc != 0) {
		at_log_warn("dns-01: the authoritative servers of %s cannot be found through the resolver %s (%s): "
			    "checking the record at that resolver instead", ch->dns_txt_name, resolver,
			    rc == AT_E_NOTFOUND ? "no zone, NS or address found" : at_strerror(rc));
		add_target(w, "the resolver", resolver, 53);
		return 0;
	}
	w->authoritative = 1;
	w->name = w->auth.name;
	for (size_t i = 0; i < w->auth.naddr; i++)
		add_target(w, w->auth.ns[w->auth.addr[i].server], w->auth.addr[i].ip, 53);
	for (size_t s = 0; s < w->auth.nns; s++) {
		int has = 0;
		for (size_t i = 0; i < w->auth.naddr; i++)
			has |= w->auth.addr[i].server == s;
		if (!has)
			at_log_warn("dns-01: authoritative server %s of zone %s has no address; not checked",
				    w->auth.ns[s], w->auth.zone);
	}
	int alias = strcmp(w->name, ch->dns_txt_name) != 0;
	snprintf(w->where, sizeof(w->where), "all %zu address%s of the %zu authoritative server%s of zone %s%s%s", w->n,
		 w->n == 1 ? "" : "es", w->auth.nns, w->auth.nns == 1 ? "" : "s", w->auth.zone,
		 alias ? " (as its CNAME " : "", alias ? w->name : "");
	if (alias)
		append(w->where, sizeof(w->where), ")");
	return 0;
}

int at_dns01_wait(const struct at_dns01_wait_config *cfg, const struct at_challenge *ch)
{
	long start = at_clock_ms(), deadline = start + cfg->wait_s * 1000L, delay = WAIT_POLL_FIRST_MS;
	char shown[LIST_MAX] = "", lagging[LIST_MAX] = "";
	struct watch w;
	int rounds = 0;

	memset(&w, 0, sizeof(w));
	w.name = ch->dns_txt_name;
	if (cfg->server != NULL) {
		add_target(&w, cfg->server_label ? cfg->server_label : "the DNS server", cfg->server, cfg->server_port);
	} else {
		int rc = watch_authoritative(&w, cfg, ch, deadline);
		if (rc != 0)
			return rc;
	}
	for (;;) {
		at_challenge_wait_begin();
		ask_round(&w, ch, start, deadline);
		at_challenge_wait_end();
		rounds++;
		/* The wait may outlast the issue lock's lease (AUTOTLS_DNS_WAIT up to an hour against 300 s): keep
		 * it ours, or another process or host would take it and order the same names meanwhile. */
		int krc = at_challenge_keepalive(ch);
		if (krc != 0) {
			at_log_error("dns-01: the issue lock for %s was lost while waiting for its TXT record (%s)",
				     ch->identifier, at_strerror(krc));
			return krc;
		}
		if (visible(&w))
			break;
		long left = deadline - at_clock_ms();
		if (left <= 0)
			break;
		at_challenge_sleep_ms(delay < left ? delay : left);
		delay = delay * 2 > WAIT_POLL_MAX_MS ? WAIT_POLL_MAX_MS : delay * 2;
	}
	if (!w.authoritative) {
		struct target *t = &w.t[0];
		if (visible(&w)) {
			at_log_info("dns-01: the TXT record of %s shows the value at %s after %ld ms", ch->dns_txt_name,
				    w.where, t->shown_ms);
			return 0;
		}
		state(lagging, sizeof(lagging), t);
		at_log_error("dns-01: the TXT record of %s did not show the value at %s within %ld s (%d queries, "
			     "last: %s)", ch->dns_txt_name, w.where, cfg->wait_s, t->tries, lagging);
		return AT_E_TIMEOUT;
	}
	for (size_t i = 0; i < w.n; i++) {
		if (w.t[i].shown_ms >= 0)
			describe(shown, sizeof(shown), &w.t[i]);
		else
			describe(lagging, sizeof(lagging), &w.t[i]);
	}
	if (visible(&w)) {
		at_log_info("dns-01: the TXT record of %s shows the value at %s after %ld ms: %s%s%s", ch->dns_txt_name,
			    w.where, at_clock_ms() - start, shown, lagging[0] ? "; left out: " : "",
			    lagging);
		return 0;
	}
	at_log_error("dns-01: the TXT record of %s did not show the value at %s within %ld s (%d rounds); lagging: "
		     "%s%s%s", ch->dns_txt_name, w.where, cfg->wait_s, rounds, lagging,
		     shown[0] ? "; shown at: " : "", shown);
	return AT_E_TIMEOUT;
}
