/*
 * Configuration, read once from the environment when the library loads (nginx replaces its workers'
 * environment, Postfix and Dovecot scrub theirs: anything read later may be gone). A bad value is one log line
 * naming the variable and what it accepts; the shim then stays passive.
 */
#ifndef AUTOTLS_SHIM_CONFIG_H
#define AUTOTLS_SHIM_CONFIG_H

#include "util/err.h"
#include "util/keys.h"
#include "util/log.h"

#include <stddef.h>
#include <stdio.h>

#define SHIM_MAX_DOMAINS 100
#define SHIM_DEFAULT_CA "https://acme-v02.api.letsencrypt.org/directory"
#define SHIM_MAX_CAS 4 /* AUTOTLS_CA's list: the first, then the ones issuance falls back to */

struct shim_config {
	int active;                       /* AUTOTLS_DOMAINS or AUTOTLS_SITES set and every value valid */
	char *domains[SHIM_MAX_DOMAINS];  /* owned, normalised; one certificate covers them all */
	size_t ndomains;                  /* 0 only with a sites file and no AUTOTLS_DOMAINS: no leader's cert */
	char *ca;                         /* owned: AUTOTLS_CA's first URL or the default */
	/* AUTOTLS_CA as an ordered list (shim/manager/ca_list.c): cas[0] is ca's URL again; issuance falls back
	 * from one to the next and each renewal starts again from the first. Each CA has its own account. */
	char *cas[SHIM_MAX_CAS];          /* owned */
	size_t ncas;                      /* >= 1 once read */
	/* External Account Binding per CA (AUTOTLS_EAB_KID / AUTOTLS_EAB_HMAC_KEY for the first, ..._2, ..._3,
	 * ..._4 for the others): both or neither; secrets, never logged, cleansed on clear. */
	char *eab_kid[SHIM_MAX_CAS];      /* owned, may be NULL */
	char *eab_hmac_key[SHIM_MAX_CAS]; /* owned, may be NULL: base64url as the CA hands it out */
	char *profile;                    /* owned, may be NULL: AUTOTLS_PROFILE, required at every CA used */
	char *preferred_chain;            /* owned, may be NULL: AUTOTLS_PREFERRED_CHAIN, the root's issuer CN */
	char *ca_roots;                   /* owned, may be NULL: AUTOTLS_CA_ROOTS */
	char *email;                      /* owned, may be NULL */
	char *storage;                    /* owned: AUTOTLS_STORAGE (a folder or etcd://...) or the default location */
	char *state_dir;                  /* owned: this host's own folder (election lock, run/, public/): the store
					   * folder itself, or with etcd AUTOTLS_STATE_DIR / <default location>/local */
	long storage_gid;                 /* AUTOTLS_STORAGE_GROUP's gid, -1 when unset: the group that may read
					   * certificates (not account keys) from the store */
	enum at_key_type key_type;        /* AUTOTLS_KEY_TYPE */
	long backoff_divisor;             /* AUTOTLS_TEST_BACKOFF_SCALE (tests only): retry delays divided by it */
	enum at_log_level log_level;      /* AUTOTLS_LOG_LEVEL */
	enum at_log_sink log_sink;        /* AUTOTLS_LOG */
	char *log_path;                   /* owned, for the file sink */
	/* On-demand issuance (shim/preload/ondemand.c, shim/manager/ondemand.c): off unless AUTOTLS_ON_DEMAND=1 and
	 * a policy (AUTOTLS_ALLOW patterns and/or an AUTOTLS_ASK URL) is set. */
	int on_demand;
	char *allow[SHIM_MAX_DOMAINS];    /* owned: normalised names or "*.suffix" patterns */
	size_t nallow;
	char *ask;                        /* owned, may be NULL: GET <ask>?domain=<name>, 2xx allows */
	long on_demand_wait_s;            /* AUTOTLS_ON_DEMAND_WAIT: a handshake for a new name waits this long for
					   * its certificate (threaded servers only; 0: never wait) */
	long on_demand_rate;              /* AUTOTLS_ON_DEMAND_RATE: new on-demand names a minute (1..6000, 10);
					   * twice as many at once */
	long on_demand_idle_days;         /* AUTOTLS_ON_DEMAND_IDLE: an on-demand name no handshake asked for in
					   * this many days is not renewed (0..3650, 30; 0: always renewed) */
	unsigned challenges;              /* AUTOTLS_CHALLENGES: a bit per enum at_challenge_type (tls-alpn-01 = 1,
					   * http-01 = 2, dns-01 = 4); 0: every type that can work */
	/* DNS-01 through a hook (challenge/dns01_hook.c); the solver exists only when dns_hook is set. */
	char *dns_hook;                   /* owned, may be NULL: AUTOTLS_DNS_HOOK, an absolute path to an executable */
	char *dns_resolver;               /* owned, may be NULL: AUTOTLS_DNS_RESOLVER's IP literal (no brackets) */
	int dns_resolver_port;            /* its port (53 when not given) */
	long dns_wait_s;                  /* AUTOTLS_DNS_WAIT: seconds for the TXT record to appear (1..3600) */
	char *dns_resolv_conf;            /* owned, may be NULL: AUTOTLS_TEST_RESOLV_CONF (tests only), the
					   * resolv.conf read instead of /etc/resolv.conf to find the resolver */
	/* DNS-01 through RFC 2136 updates signed with TSIG (dns/update.c). Both AUTOTLS_DNS_UPDATE and
	 * AUTOTLS_DNS_TSIG or neither; when set, DNS-01 is offered and uses them, even when AUTOTLS_DNS_HOOK is set
	 * too (the hook is then unused). */
	char *dns_update;                 /* owned, may be NULL: AUTOTLS_DNS_UPDATE's IP literal (no brackets) */
	int dns_update_port;              /* its port (53 when not given) */
	int dns_tsig_alg;                 /* AUTOTLS_DNS_TSIG's algorithm: an enum at_tsig_alg (1 sha256, 2 sha512) */
	char *dns_tsig_name;              /* owned: the key's name, lower case, no final dot */
	unsigned char *dns_tsig_secret;   /* owned, a secret: the decoded key, never logged, cleansed on clear */
	size_t dns_tsig_secret_len;
	char *dns_zone;                   /* owned, may be NULL: AUTOTLS_DNS_ZONE, the zone to update (lower case,
					   * no final dot); unset: found by SOA queries at the update server */
	/* HTTP-01 (challenge/http01*.c, configured by shim/manager/challenges.c). */
	int http_port;                    /* AUTOTLS_HTTP_PORT: the built-in responder's port (1..65535, 80) */
	int http_redirect;                /* AUTOTLS_HTTP_REDIRECT=1: that responder answers every other request
					   * with a 301 to https:// */
	char *webroot;                    /* owned, may be NULL: AUTOTLS_WEBROOT, an absolute path; HTTP-01 is then
					   * answered by files the host's web server serves, no built-in responder */
	char *sites;                      /* owned, may be NULL: AUTOTLS_SITES, an absolute path to the sites file
					   * (shim/sites.h: one certificate a line), watched by the manager process */
	/* Event hooks (shim/manager/events.c). */
	char *hook;                       /* owned, may be NULL: AUTOTLS_HOOK, an absolute path to an executable run
					   * by the manager for every event (obtained, renewed, failed, expiring) */
	long hook_timeout_s;              /* AUTOTLS_HOOK_TIMEOUT: then the hook is killed with its group (1..3600,
					   * 30) */
	int ocsp_off;                     /* AUTOTLS_OCSP=off: no OCSP fetched or stapled for managed certificates
					   * (shim/manager/staple.c); the host's own stapling is never touched */
	int must_staple;                  /* AUTOTLS_MUST_STAPLE=on: CSRs ask for TLS Feature status_request */
};

/* Reads the environment through getenv_fn (getenv, or a table in tests) into cfg. Returns 0 when the shim
 * should act, AT_E_INVAL when a value is bad (logged, naming the variable), AT_E_NOTFOUND when neither
 * AUTOTLS_DOMAINS nor AUTOTLS_SITES is set (the shim stays silent and passive). */
int shim_config_read(struct shim_config *cfg, const char *(*getenv_fn)(const char *)) AT_MUST_CHECK;

/* The setting names of CA i's External Account Binding (0: AUTOTLS_EAB_KID and AUTOTLS_EAB_HMAC_KEY; i > 0: with
 * the suffix "_<i+1>"), for reading them and for naming them in a log line. */
#define SHIM_EAB_VAR_MAX 48
/* Inline: the manager library reads the settings through the host and links no config.c. */
static inline void shim_config_eab_vars(char kid[SHIM_EAB_VAR_MAX], char key[SHIM_EAB_VAR_MAX], size_t i)
{
	char sfx[24] = ""; /* "_" and a size_t: no truncation, whatever i is */
	if (i > 0)
		snprintf(sfx, sizeof(sfx), "_%zu", i + 1);
	snprintf(kid, SHIM_EAB_VAR_MAX, "AUTOTLS_EAB_KID%s", sfx);
	snprintf(key, SHIM_EAB_VAR_MAX, "AUTOTLS_EAB_HMAC_KEY%s", sfx);
}

void shim_config_clear(struct shim_config *cfg);

#endif
