/*
 * autotls renew when no server under the preload runs on the store: the command orders itself, through the
 * engine (engine/engine.h) built from the same settings the preload reads (settings.c), with the challenges a
 * process outside a server can answer: HTTP-01 (its own responder on AUTOTLS_HTTP_PORT, or AUTOTLS_WEBROOT) and
 * DNS-01 (RFC 2136 when AUTOTLS_DNS_UPDATE is set, else AUTOTLS_DNS_HOOK). Never TLS-ALPN-01: only the server's
 * own port can answer it.
 *
 * What it owns: one engine per CA of AUTOTLS_CA for the length of the command, the HTTP-01 responder's port while
 * a challenge is pending. Who calls it: renew.c, only after the control channel said no manager runs. What it
 * must never do: run beside a leader (the election lock <state_dir>/manager.lock is tested first: a server whose
 * channel did not answer still leads), or be run by a user other than root and the store's owner. The store's
 * issue lock (the engine's) serialises it with any other orderer of the same names, so a server starting
 * meanwhile waits for this order instead of placing a second one.
 */
#include "tools/autotls/cli.h"
#include "acme/solver.h"
#include "challenge/dns01_hook.h"
#include "challenge/dns01_rfc2136.h"
#include "challenge/http01.h"
#include "store/name.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The solvers the settings enable and this process can answer, in the configured preference (HTTP-01 first: no
 * DNS wait). The configs borrow from s and must outlive the solvers. 0, or CLI_FAIL after one line with the fix. */
struct local_solvers {
	struct at_http01_config http01;
	struct at_dns01_hook_config hook;
	struct at_dns01_rfc2136_config rfc2136;
	struct at_solver s[AT_CHALLENGE_COUNT];
	size_t n;
};

static int solvers_make(struct local_solvers *ls, const struct shim_config *cfg)
{
	unsigned enabled = cfg->challenges ? cfg->challenges : ~0u;
	unsigned outside = (1u << AT_CHALLENGE_HTTP_01) | (1u << AT_CHALLENGE_DNS_01);
	memset(ls, 0, sizeof(*ls));
	if ((enabled & outside) == 0) {
		fprintf(stderr, "autotls renew: no server runs on the store and AUTOTLS_CHALLENGES allows only "
				"tls-alpn-01, which only the running server can answer; start the server, or set "
				"AUTOTLS_CHALLENGES=http-01 (AUTOTLS_HTTP_PORT) or dns-01 (AUTOTLS_DNS_HOOK or "
				"AUTOTLS_DNS_UPDATE) for this command\n");
		return CLI_FAIL;
	}
	ls->http01.port = cfg->http_port;
	ls->http01.webroot = cfg->webroot;
	ls->hook.hook = cfg->dns_hook;
	ls->hook.wait.wait_s = cfg->dns_wait_s;
	ls->hook.wait.server = cfg->dns_resolver;
	ls->hook.wait.server_port = cfg->dns_resolver_port;
	ls->hook.wait.server_label = "AUTOTLS_DNS_RESOLVER";
	ls->hook.wait.resolv_conf = cfg->dns_resolv_conf;
	ls->rfc2136.server = cfg->dns_update;
	ls->rfc2136.port = cfg->dns_update_port;
	ls->rfc2136.key.alg = (enum at_tsig_alg)cfg->dns_tsig_alg;
	ls->rfc2136.key.name = cfg->dns_tsig_name;
	ls->rfc2136.key.secret = cfg->dns_tsig_secret;
	ls->rfc2136.key.secret_len = cfg->dns_tsig_secret_len;
	ls->rfc2136.zone = cfg->dns_zone;
	ls->rfc2136.wait_s = cfg->dns_wait_s;
	if ((enabled & (1u << AT_CHALLENGE_HTTP_01)) && at_http01_solver(&ls->s[ls->n], &ls->http01) == 0)
		ls->n++;
	if ((enabled & (1u << AT_CHALLENGE_DNS_01)) &&
	    (at_dns01_rfc2136_solver(&ls->s[ls->n], &ls->rfc2136) == 0 ||
	     at_dns01_hook_solver(&ls->s[ls->n], &ls->hook) == 0))
		ls->n++;
	if (ls->n == 0) {
		fprintf(stderr, "autotls renew: no server runs on the store and no challenge this command can answer "
				"is usable: HTTP-01 needs AUTOTLS_HTTP_PORT %d bindable by this user (or AUTOTLS_WEBROOT), "
				"DNS-01 needs AUTOTLS_DNS_HOOK or AUTOTLS_DNS_UPDATE with AUTOTLS_DNS_TSIG; set one, or "
				"start the server\n", cfg->http_port);
		return CLI_FAIL;
	}
	return 0;
}

/* Refuses a user other than root and the store's owner (CLI_REFUSED), and a store a server leads (its election
 * lock held: CLI_FAIL, asking it is the way). 0 when this command may order. */
static int may_order(const struct shim_config *cfg)
{
	struct stat st;
	char path[4096];
	if (at_store_is_remote(cfg->storage))
		return 0; /* no folder to own; the store's own credentials decide */
	if (stat(cfg->storage, &st) != 0 && errno != ENOENT) {
		fprintf(stderr, "autotls renew: refused: cannot reach the store %s (%s); run as root or as its owner\n",
			cfg->storage, strerror(errno));
		return CLI_REFUSED;
	}
	if (stat(cfg->storage, &st) == 0 && geteuid() != 0 && geteuid() != st.st_uid) {
		fprintf(stderr, "autotls renew: refused: the store %s belongs to uid %u; run as root or as that user\n",
			cfg->storage, (unsigned)st.st_uid);
		return CLI_REFUSED;
	}
	snprintf(path, sizeof(path), "%s/manager.lock", cfg->state_dir); /* the election lock is this host's */
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0; /* never elected here: no leader */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int rc = fcntl(fd, F_GETLK, &fl);
	close(fd);
	if (rc == 0 && fl.l_type != F_UNLCK) {
		fprintf(stderr, "autotls renew: a server under the preload leads the store %s (pid %d) but its control "
				"channel did not answer; try again in a few seconds, or see its log\n", cfg->storage,
			(int)fl.l_pid);
		return CLI_FAIL;
	}
	return 0;
}

/* The names of the certificate to renew: with AUTOTLS_DOMAINS, its set (one certificate covers them all; a NAME
 * outside it is refused); else the names of the stored record whose first name is NAME, or NAME... themselves. */
static int pick_names(const char *const **out, char ***owned, size_t *nout, const struct cli_settings *s,
		      struct at_store *store, char **argv, size_t nargs)
{
	char norm[AT_NAME_MAX + 1];
	*out = NULL;
	*owned = NULL;
	*nout = 0;
	if (s->domains_set) {
		for (size_t i = 0; i < nargs; i++) {
			size_t k = 0;
			if (at_name_normalize(norm, argv[i], strlen(argv[i])) == 0)
				while (k < s->cfg.ndomains && strcmp(s->cfg.domains[k], norm) != 0)
					k++;
			if (k == s->cfg.ndomains || at_name_normalize(norm, argv[i], strlen(argv[i])) != 0) {
				fprintf(stderr, "autotls renew: %.255s is not a name of AUTOTLS_DOMAINS\n", argv[i]);
				return CLI_USAGE;
			}
		}
		*out = (const char *const *)s->cfg.domains;
		*nout = s->cfg.ndomains;
		return 0;
	}
	if (nargs == 0) {
		fprintf(stderr, "autotls renew: no server runs on the store and no name is given; name the certificate "
				"(autotls renew NAME) or set AUTOTLS_DOMAINS as the server has it\n");
		return CLI_USAGE;
	}
	char **names = calloc(nargs > SHIM_MAX_DOMAINS ? nargs : SHIM_MAX_DOMAINS, sizeof(char *));
	if (names == NULL)
		return CLI_FAIL;
	for (size_t i = 0; i < nargs; i++) {
		if (at_name_normalize(norm, argv[i], strlen(argv[i])) != 0 || (names[i] = strdup(norm)) == NULL) {
			fprintf(stderr, "autotls renew: %.255s is not a name a certificate can have\n", argv[i]);
			for (size_t k = 0; k < i; k++)
				free(names[k]);
			free(names);
			return CLI_USAGE;
		}
	}
	*nout = nargs;
	/* One NAME that is a record's first name: that record's names (a certificate for several names). */
	struct at_cert_record rec = { 0 };
	if (nargs == 1 && at_cert_record_load(store, s->ca_comp, names[0], &rec) == 0 && rec.nnames > 1 &&
	    rec.nnames <= SHIM_MAX_DOMAINS) {
		for (size_t i = 1; i < rec.nnames; i++)
			if ((names[i] = strdup(rec.names[i])) != NULL)
				*nout = i + 1;
	}
	at_cert_record_clear(&rec);
	*out = (const char *const *)names;
	*owned = names;
	return 0;
}

/* One round at engine e: the attempt record's plan over the solvers, falling back to the next type when the
 * engine allows (challenges.c's mgr_challenge_round, for a process without the manager). */
static int round_at(struct at_engine *e, const char *const *names, size_t n, const struct local_solvers *ls,
		    int force, struct at_cert_record *rec, int *ordered)
{
	enum at_challenge_type offered[AT_CHALLENGE_COUNT];
	struct at_attempt_plan plan;
	for (size_t i = 0; i < ls->n; i++)
		offered[i] = ls->s[i].type;
	if (at_engine_attempt_plan(e, names, n, offered, ls->n, &plan) != 0 || !plan.now_ok)
		return at_engine_ensure(e, names, n, ls->s, ls->n, force, rec, ordered);
	int rc = AT_E_NO_SOLVER;
	for (size_t i = 0; i < plan.norder; i++) {
		for (size_t k = 0; k < ls->n; k++) {
			if (ls->s[k].type != plan.order[i])
				continue;
			at_cert_record_clear(rec);
			rc = at_engine_ensure(e, names, n, &ls->s[k], 1, force, rec, ordered);
			if (rc == 0 || !at_engine_fallback(e, rc))
				return rc;
			fprintf(stderr, "autotls renew: %s failed for %s (%s)\n", at_challenge_type_name(plan.order[i]),
				names[0], at_strerror(rc));
		}
	}
	return rc;
}

/* After AT_E_BACKOFF (the store's attempt record, which the manager keeps too, says not yet): when, and why. */
static void backoff_line(struct at_engine *e, const char *const *names, size_t n, const struct local_solvers *ls,
			 int rc)
{
	enum at_challenge_type offered[AT_CHALLENGE_COUNT];
	struct at_attempt_plan plan;
	char t[32];
	if (rc != AT_E_BACKOFF || e == NULL)
		return;
	for (size_t i = 0; i < ls->n; i++)
		offered[i] = ls->s[i].type;
	if (at_engine_attempt_plan(e, names, n, offered, ls->n, &plan) != 0)
		return;
	cli_time(t, sizeof(t), plan.next_try);
	fprintf(stderr, "autotls renew: the next try is allowed at %s (%d failed tries in a row%s%.300s); the CA's "
			"limits are kept for every process of the store\n", t, plan.failures,
		plan.last_problem[0] ? "; last: " : "", plan.last_problem);
}

/* Without force: a record of any CA of the list that is current is kept. 1 (printed) or 0. */
static int kept(struct at_store *store, const struct shim_config *cfg, const char *const *names, size_t n)
{
	for (size_t i = 0; i < cfg->ncas; i++) {
		char comp[256], t[32], due[32];
		struct at_cert_record rec = { 0 };
		if (at_store_ca_component(comp, sizeof(comp), cfg->cas[i]) != 0 ||
		    at_cert_record_load(store, comp, names[0], &rec) != 0)
			continue;
		int current = at_engine_record_current(&rec, names, n, time(NULL));
		if (current) {
			time_t at = rec.renew_after > 0 ? (time_t)rec.renew_after :
							  at_renewal_time(rec.info.not_before, rec.info.not_after, 0, 0);
			cli_time(t, sizeof(t), rec.info.not_after);
			cli_time(due, sizeof(due), at);
			printf("kept %s: serial %s (not after %s) is not due for renewal until %s; --force orders a new "
			       "one\n", names[0], rec.info.serial, t, due);
		}
		at_cert_record_clear(&rec);
		if (current)
			return 1;
	}
	return 0;
}

int cli_renew_local(const struct cli_settings *s, char **argv, size_t nargs, int force)
{
	const struct shim_config *cfg = &s->cfg;
	struct local_solvers ls;
	struct at_store *store = NULL;
	const char *const *nm = NULL;
	char **owned = NULL;
	size_t n = 0;
	int code = may_order(cfg);
	if (code != 0)
		return code;
	int rc = at_store_open(&store, cfg->storage, (gid_t)cfg->storage_gid);
	if (rc != 0) {
		fprintf(stderr, "autotls renew: cannot open the store %s: %s; run as root or as the store's owner\n",
			cfg->storage, at_strerror(rc));
		return CLI_FAIL;
	}
	if ((code = pick_names(&nm, &owned, &n, s, store, argv, nargs)) != 0) {
		at_store_close(store);
		return code;
	}
	if (!force && kept(store, cfg, nm, n)) {
		code = CLI_OK;
		goto out;
	}
	/* The challenges only once an order is wanted: keeping a certificate needs none. */
	if ((code = solvers_make(&ls, cfg)) != 0)
		goto out;
	code = CLI_FAIL;
	for (size_t i = 0; i < cfg->ncas; i++) {
		struct at_engine_config ec = {
			.directory_url = cfg->cas[i], .ca_file = cfg->ca_roots, .email = cfg->email,
			.eab_kid = cfg->eab_kid[i], .eab_hmac_key = cfg->eab_hmac_key[i], .key_type = cfg->key_type,
			.account_key_type = AT_KEY_P256, .store = store, .profile = cfg->profile,
			.profile_required = cfg->profile != NULL, .preferred_chain = cfg->preferred_chain,
			.guard_attempts = 1, .backoff_divisor = cfg->backoff_divisor,
		};
		struct at_engine *e = NULL;
		struct at_cert_record rec = { 0 };
		int ordered = 0;
		rc = at_engine_new(&e, &ec);
		if (rc == 0)
			rc = round_at(e, nm, n, &ls, force, &rec, &ordered);
		if (rc == 0) {
			char t[32];
			cli_time(t, sizeof(t), rec.info.not_after);
			if (ordered)
				printf("renewed %s: serial %s (not after %s) from %s\n", nm[0], rec.info.serial, t,
				       cfg->cas[i]);
			else
				printf("kept %s: serial %s (not after %s) is not due for renewal\n", nm[0],
				       rec.info.serial, t);
			code = CLI_OK;
		} else {
			const struct at_problem *p = e ? at_acme_last_problem(at_engine_acme(e)) : NULL;
			fprintf(stderr, "autotls renew: obtaining a certificate for %s at %s failed: %s%s%.300s\n", nm[0],
				cfg->cas[i], at_strerror(rc), p && p->detail ? ": " : "", p && p->detail ? p->detail : "");
			backoff_line(e, nm, n, &ls, rc);
		}
		at_cert_record_clear(&rec);
		at_engine_free(e);
		/* The next CA only when this one could not issue at all; an order under way here is resumed here. */
		if (code == CLI_OK || rc == AT_E_STORE || rc == AT_E_LOCKED)
			break;
	}
out:
	if (owned != NULL) {
		for (size_t i = 0; i < n; i++)
			free(owned[i]);
		free(owned);
	}
	at_store_close(store);
	return code;
}
