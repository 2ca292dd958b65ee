/* Reading and checking the AUTOTLS_* variables (see config.h). */
#include "shim/config.h"
#include "store/etcd_url.h"
#include "store/name.h"
#include "store/store.h"
#include "dns/tsig.h"
#include "util/b64.h"
#include "util/err.h"

#include <arpa/inet.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int set_str(char **slot, const char *v)
{
	*slot = strdup(v);
	return *slot ? 0 : AT_E_NOMEM;
}

/* An on/off setting: *out 1 for on, 0 for off, dflt when unset or empty; anything else is one error naming it
 * and what it does (what). */
static int take_on_off(int *out, const char *var, const char *v, int dflt, const char *what)
{
	*out = dflt;
	if (v == NULL || *v == '\0')
		return 0;
	if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) {
		at_log_error("%s: \"%.20s\" is not on or off (%s)", var, v, what);
		return AT_E_INVAL;
	}
	*out = strcmp(v, "on") == 0;
	return 0;
}

/* An optional whole number between lo and hi (digits only); *out is left alone when unset. 0, or AT_E_INVAL
 * with one line naming the variable, what the number is, and the range. */
static int take_number(long *out, const char *var, const char *v, long lo, long hi, const char *what)
{
	if (v == NULL || *v == '\0')
		return 0;
	char *end;
	long n = strtol(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || n < lo || n > hi) {
		at_log_error("%s: \"%.20s\" is not %s from %ld to %ld", var, v, what, lo, hi);
		return AT_E_INVAL;
	}
	*out = n;
	return 0;
}

/* An optional setting that must be an absolute path (what says what it names): 0 when unset or taken,
 * AT_E_INVAL (one line naming the variable), AT_E_NOMEM. */
static int take_path(char **slot, const char *var, const char *v, const char *what)
{
	if (v == NULL || *v == '\0')
		return 0;
	if (v[0] != '/' || strlen(v) > 3000) {
		at_log_error("%s: \"%.80s\" must be an absolute path%s", var, v, what);
		return AT_E_INVAL;
	}
	return set_str(slot, v);
}

/*
 * AUTOTLS_STORAGE (a folder, or etcd://HOST:PORT[,...]/PREFIX: store/etcd_url.h) and AUTOTLS_STATE_DIR, the
 * folder for what belongs to this host alone (the tree's election lock, run/control.sock, public/ for the
 * hook). With a folder store the state is the store folder itself, as it always was; with etcd it is
 * AUTOTLS_STATE_DIR, else <the default store location>/local (/var/lib/autotls/local for root).
 */
static int parse_storage(struct shim_config *cfg, const char *(*getenv_fn)(const char *))
{
	const char *v = getenv_fn("AUTOTLS_STORAGE");
	int rc;
	if (v != NULL && at_etcd_url_is(v)) {
		struct at_etcd_url u;
		if (strlen(v) > 3000) {
			at_log_error("AUTOTLS_STORAGE: \"%.80s...\" is too long", v);
			return AT_E_INVAL;
		}
		if (at_etcd_url_parse(&u, v) != 0)
			return AT_E_INVAL; /* it said why, naming AUTOTLS_STORAGE */
		if (set_str(&cfg->storage, v) != 0)
			return AT_E_NOMEM;
	} else {
		rc = take_path(&cfg->storage, "AUTOTLS_STORAGE", v, " or etcd://HOST:PORT[,HOST:PORT...]/PREFIX");
		if (rc != 0)
			return rc;
		if (cfg->storage == NULL && at_store_default_path(&cfg->storage) != 0) {
			at_log_error("AUTOTLS_STORAGE is not set and no default location could be found (no HOME)");
			return AT_E_INVAL;
		}
	}
	rc = take_path(&cfg->state_dir, "AUTOTLS_STATE_DIR", getenv_fn("AUTOTLS_STATE_DIR"), "");
	if (rc != 0 || cfg->state_dir != NULL)
		return rc;
	if (!at_etcd_url_is(cfg->storage))
		return set_str(&cfg->state_dir, cfg->storage) != 0 ? AT_E_NOMEM : 0;
	if (at_store_default_local_path(&cfg->state_dir) != 0) {
		at_log_error("AUTOTLS_STATE_DIR is not set and no default location could be found (no HOME)");
		return AT_E_INVAL;
	}
	return 0;
}

static int parse_domains(struct shim_config *cfg, const char *v)
{
	const char *p = v;
	while (*p) {
		/* Names are separated by commas; spaces around a comma are allowed, a space inside an item is not:
		 * "bad domain" is a typo for one name, never two names. */
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		const char *end = p;
		while (*end && *end != ',')
			end++;
		const char *last = end;
		while (last > p && last[-1] == ' ')
			last--;
		if (memchr(p, ' ', (size_t)(last - p)) != NULL) {
			at_log_error("AUTOTLS_DOMAINS: \"%.*s\" holds a space; separate names with commas, e.g. "
				     "example.com,www.example.com", (int)((last - p) > 80 ? 80 : (last - p)), p);
			return AT_E_INVAL;
		}
		const char *next = end;
		end = last;
		char norm[AT_NAME_MAX + 1];
		if (at_name_normalize(norm, p, (size_t)(end - p)) != 0) {
			at_log_error("AUTOTLS_DOMAINS: \"%.*s\" is not a valid domain name or IP address; expected "
				     "a comma-separated list such as example.com,www.example.com",
				     (int)((end - p) > 80 ? 80 : (end - p)), p);
			return AT_E_INVAL;
		}
		if (cfg->ndomains == SHIM_MAX_DOMAINS) {
			at_log_error("AUTOTLS_DOMAINS: more than %d names; one certificate can cover at most %d",
				     SHIM_MAX_DOMAINS, SHIM_MAX_DOMAINS);
			return AT_E_INVAL;
		}
		int dup = 0;
		for (size_t i = 0; i < cfg->ndomains; i++)
			dup |= strcmp(cfg->domains[i], norm) == 0;
		if (!dup && set_str(&cfg->domains[cfg->ndomains++], norm) != 0)
			return AT_E_NOMEM;
		p = next;
	}
	if (cfg->ndomains == 0) {
		at_log_error("AUTOTLS_DOMAINS is set but names nothing; expected e.g. example.com,www.example.com");
		return AT_E_INVAL;
	}
	return 0;
}

/* AUTOTLS_CHALLENGES: a comma-separated subset of tls-alpn-01, http-01, dns-01, as a bit per type. */
static int parse_challenges(unsigned *out, const char *v)
{
	static const char *const names[] = { "tls-alpn-01", "http-01", "dns-01" };
	unsigned mask = 0;
	const char *p = v;
	while (*p) {
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		size_t n = strcspn(p, ", ");
		size_t i = 0;
		while (i < 3 && !(strlen(names[i]) == n && strncasecmp(p, names[i], n) == 0))
			i++;
		if (i == 3) {
			at_log_error("AUTOTLS_CHALLENGES: \"%.*s\" is not one of tls-alpn-01, http-01, dns-01",
				     (int)(n > 40 ? 40 : n), p);
			return AT_E_INVAL;
		}
		mask |= 1u << i;
		p += n;
	}
	if (mask == 0) {
		at_log_error("AUTOTLS_CHALLENGES is set but names no challenge; list some of tls-alpn-01, http-01, dns-01");
		return AT_E_INVAL;
	}
	*out = mask;
	return 0;
}

static int is_ip_literal(const char *s)
{
	unsigned char buf[16];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* AUTOTLS_ON_DEMAND, AUTOTLS_ALLOW, AUTOTLS_ASK. On-demand without a policy stays off and says so: issuing for
 * any name a client sends is how on-demand servers get abused. */
static int parse_on_demand(struct shim_config *cfg, const char *(*getenv_fn)(const char *))
{
	const char *v = getenv_fn("AUTOTLS_ON_DEMAND");
	if (v && *v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
		at_log_error("AUTOTLS_ON_DEMAND: \"%.20s\" is not 0 or 1", v);
		return AT_E_INVAL;
	}
	int wanted = v && strcmp(v, "1") == 0;
	v = getenv_fn("AUTOTLS_ALLOW");
	for (const char *p = v ? v : ""; *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		size_t n = strcspn(p, ", ");
		char norm[AT_NAME_MAX + 1];
		if (at_name_normalize(norm, p, n) != 0 || is_ip_literal(norm) || cfg->nallow == SHIM_MAX_DOMAINS) {
			at_log_error("AUTOTLS_ALLOW: \"%.*s\" is not a name or a *.domain pattern (at most %d)",
				     (int)(n > 80 ? 80 : n), p, SHIM_MAX_DOMAINS);
			return AT_E_INVAL;
		}
		if (set_str(&cfg->allow[cfg->nallow++], norm) != 0)
			return AT_E_NOMEM;
		p += n;
	}
	v = getenv_fn("AUTOTLS_ASK");
	if (v && *v) {
		if ((strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) || strlen(v) > 1000 ||
		    strpbrk(v, " \r\n") != NULL) {
			at_log_error("AUTOTLS_ASK: \"%.80s\" is not an http(s) URL", v);
			return AT_E_INVAL;
		}
		if (set_str(&cfg->ask, v) != 0)
			return AT_E_NOMEM;
	}
	/* Only for threaded servers: an event-loop server's worker would stall. */
	if (take_number(&cfg->on_demand_wait_s, "AUTOTLS_ON_DEMAND_WAIT", getenv_fn("AUTOTLS_ON_DEMAND_WAIT"), 0, 60,
			"a number of seconds") != 0)
		return AT_E_INVAL;
	/* New on-demand names a minute (the token bucket's rate; twice it at once). The default, 10, is the rate the
	 * on-demand thread always had; a hosting server raises it as far as its CA allows (Let's Encrypt: 300 new
	 * orders per 3 hours per account, so above about 2 a minute sustained its rateLimited answers pace it). */
	cfg->on_demand_rate = 10;
	if (take_number(&cfg->on_demand_rate, "AUTOTLS_ON_DEMAND_RATE", getenv_fn("AUTOTLS_ON_DEMAND_RATE"), 1, 6000,
			"a number of new names a minute") != 0)
		return AT_E_INVAL;
	/* Names no handshake asked for in this many days are not renewed (shim/ondemand_idle.h); 0: always. */
	cfg->on_demand_idle_days = 30;
	if (take_number(&cfg->on_demand_idle_days, "AUTOTLS_ON_DEMAND_IDLE", getenv_fn("AUTOTLS_ON_DEMAND_IDLE"), 0,
			3650, "a number of days") != 0)
		return AT_E_INVAL;
	if (wanted && cfg->nallow == 0 && cfg->ask == NULL)
		at_log_warn("AUTOTLS_ON_DEMAND=1 without AUTOTLS_ALLOW or AUTOTLS_ASK: on-demand issuance stays off "
			    "(it would issue for any name a client sends)");
	cfg->on_demand = wanted && (cfg->nallow > 0 || cfg->ask != NULL);
	return 0;
}

static int parse_level(enum at_log_level *out, const char *v)
{
	static const struct {
		const char *name;
		enum at_log_level level;
	} t[] = { { "error", AT_LOG_ERROR }, { "warn", AT_LOG_WARN }, { "warning", AT_LOG_WARN },
		  { "info", AT_LOG_INFO }, { "debug", AT_LOG_DEBUG } };
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcasecmp(v, t[i].name) == 0) {
			*out = t[i].level;
			return 0;
		}
	return AT_E_INVAL;
}

/* AUTOTLS_DNS_RESOLVER and AUTOTLS_DNS_UPDATE: "1.2.3.4", "1.2.3.4:53", "[::1]" or "[::1]:8053" into an IP
 * literal (*ip_out, new) and a port. */
static int parse_server(char **ip_out, int *port_out, const char *v)
{
	char ip[INET6_ADDRSTRLEN];
	const char *port = NULL;
	size_t n;
	unsigned char bin[sizeof(struct in6_addr)];
	int family = AF_INET;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');
		if (rb == NULL || (rb[1] != '\0' && rb[1] != ':'))
			return AT_E_INVAL;
		n = (size_t)(rb - v - 1);
		port = rb[1] == ':' ? rb + 2 : NULL;
		v++;
		family = AF_INET6;
	} else {
		const char *colon = strchr(v, ':');
		n = colon ? (size_t)(colon - v) : strlen(v);
		port = colon ? colon + 1 : NULL;
	}
	if (n == 0 || n >= sizeof(ip))
		return AT_E_INVAL;
	memcpy(ip, v, n);
	ip[n] = '\0';
	if (inet_pton(family, ip, bin) != 1)
		return AT_E_INVAL;
	*port_out = 53;
	if (port != NULL) {
		char *end;
		long pn = strtol(port, &end, 10);
		if (*port < '0' || *port > '9' || *end != '\0' || pn < 1 || pn > 65535)
			return AT_E_INVAL;
		*port_out = (int)pn;
	}
	return set_str(ip_out, ip);
}

/* A DNS name of n bytes at v (an optional final dot) into a new lower-case string without the dot: labels of
 * 1..63 letters, digits, '-' and '_', 253 characters at most. */
static int parse_dns_name(char **out, const char *v, size_t n)
{
	if (n > 0 && v[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return AT_E_INVAL;
	char *s = malloc(n + 1);
	if (s == NULL)
		return AT_E_NOMEM;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (c == '.') {
			if (label == 0)
				goto bad;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
			label++;
		} else if (c >= 'A' && c <= 'Z') {
			c = (char)(c + 32);
			label++;
		} else {
			goto bad;
		}
		if (label > 63)
			goto bad;
		s[i] = c;
	}
	if (label == 0)
		goto bad;
	s[n] = '\0';
	*out = s;
	return 0;
bad:
	free(s);
	return AT_E_INVAL;
}

/* AUTOTLS_DNS_TSIG: alg:name:secret. The value holds a secret: a complaint names the part that is wrong and
 * never prints the value. */
static int parse_tsig(struct shim_config *cfg, const char *v)
{
	const char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	static const char form[] = "expected hmac-sha256|hmac-sha512:<key name>:<base64 secret>";
	int rc;

	if (c2 == NULL) {
		at_log_error("AUTOTLS_DNS_TSIG: not three parts separated by ':'; %s", form);
		return AT_E_INVAL;
	}
	size_t alen = (size_t)(c1 - v);
	if (alen == 11 && strncasecmp(v, "hmac-sha256", 11) == 0) {
		cfg->dns_tsig_alg = AT_TSIG_HMAC_SHA256;
	} else if (alen == 11 && strncasecmp(v, "hmac-sha512", 11) == 0) {
		cfg->dns_tsig_alg = AT_TSIG_HMAC_SHA512;
	} else {
		at_log_error("AUTOTLS_DNS_TSIG: the algorithm \"%.*s\" is not hmac-sha256 or hmac-sha512; %s",
			     (int)(alen > 20 ? 20 : alen), v, form);
		return AT_E_INVAL;
	}
	rc = parse_dns_name(&cfg->dns_tsig_name, c1 + 1, (size_t)(c2 - c1 - 1));
	if (rc == AT_E_INVAL)
		at_log_error("AUTOTLS_DNS_TSIG: the key name is not a DNS name (labels of letters, digits, '-' "
			     "and '_'); %s", form);
	if (rc != 0)
		return rc;
	rc = at_b64_decode(&cfg->dns_tsig_secret, &cfg->dns_tsig_secret_len, c2 + 1, strlen(c2 + 1));
	if (rc == AT_E_PARSE || (rc == 0 && cfg->dns_tsig_secret_len > 512))
		rc = AT_E_INVAL;
	if (rc == AT_E_INVAL)
		at_log_error("AUTOTLS_DNS_TSIG: the secret is not base64 (with padding) of 1..512 bytes; %s", form);
	return rc;
}

/* The DNS-01 hook's settings (read whether or not a hook is set: a bad value is still a mistake). */
static int parse_dns(struct shim_config *cfg, const char *(*getenv_fn)(const char *))
{
	const char *v = getenv_fn("AUTOTLS_DNS_HOOK");
	struct stat st;
	int rc;

	if (v && *v) {
		if (v[0] != '/' || stat(v, &st) != 0 || !S_ISREG(st.st_mode) || access(v, X_OK) != 0) {
			at_log_error("AUTOTLS_DNS_HOOK: \"%.80s\" is not an absolute path to an executable file "
				     "(called as HOOK add|del <name> <value>)", v);
			return AT_E_INVAL;
		}
		if (set_str(&cfg->dns_hook, v) != 0)
			return AT_E_NOMEM;
	}
	v = getenv_fn("AUTOTLS_DNS_RESOLVER");
	if (v && *v && (rc = parse_server(&cfg->dns_resolver, &cfg->dns_resolver_port, v)) != 0) {
		if (rc == AT_E_INVAL)
			at_log_error("AUTOTLS_DNS_RESOLVER: \"%.80s\" is not a DNS server address; expected an IPv4 "
				     "literal or [IPv6], optionally with :port, e.g. 127.0.0.1:8053 or [::1]:53", v);
		return rc;
	}
	/* For tests that bring their own resolver (in a network namespace of their own); not a user setting, so not
	 * in the README table. */
	rc = take_path(&cfg->dns_resolv_conf, "AUTOTLS_TEST_RESOLV_CONF", getenv_fn("AUTOTLS_TEST_RESOLV_CONF"), "");
	if (rc != 0)
		return rc;
	cfg->dns_wait_s = 60;
	if (take_number(&cfg->dns_wait_s, "AUTOTLS_DNS_WAIT", getenv_fn("AUTOTLS_DNS_WAIT"), 1, 3600,
			"a number of seconds") != 0)
		return AT_E_INVAL;
	/* RFC 2136 updates: AUTOTLS_DNS_UPDATE and AUTOTLS_DNS_TSIG together, AUTOTLS_DNS_ZONE optional. */
	v = getenv_fn("AUTOTLS_DNS_UPDATE");
	const char *t = getenv_fn("AUTOTLS_DNS_TSIG");
	if (v && *v && (rc = parse_server(&cfg->dns_update, &cfg->dns_update_port, v)) != 0) {
		if (rc == AT_E_INVAL)
			at_log_error("AUTOTLS_DNS_UPDATE: \"%.80s\" is not a DNS server address; expected the zone's "
				     "primary as an IPv4 literal or [IPv6], optionally with :port, e.g. 192.0.2.53:53", v);
		return rc;
	}
	if (t && *t && (rc = parse_tsig(cfg, t)) != 0)
		return rc;
	if ((cfg->dns_update != NULL) != (cfg->dns_tsig_name != NULL)) {
		at_log_error("%s is set without %s: RFC 2136 updates need both (the server and the TSIG key)",
			     cfg->dns_update ? "AUTOTLS_DNS_UPDATE" : "AUTOTLS_DNS_TSIG",
			     cfg->dns_update ? "AUTOTLS_DNS_TSIG" : "AUTOTLS_DNS_UPDATE");
		return AT_E_INVAL;
	}
	v = getenv_fn("AUTOTLS_DNS_ZONE");
	if (v && *v) {
		if (cfg->dns_update == NULL) {
			at_log_error("AUTOTLS_DNS_ZONE is set without AUTOTLS_DNS_UPDATE: it names the zone to update");
			return AT_E_INVAL;
		}
		rc = parse_dns_name(&cfg->dns_zone, v, strlen(v));
		if (rc == AT_E_INVAL)
			at_log_error("AUTOTLS_DNS_ZONE: \"%.80s\" is not a DNS name, e.g. example.com", v);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* AUTOTLS_HOOK and AUTOTLS_HOOK_TIMEOUT (shim/manager/events.c): the path is checked now, as AUTOTLS_DNS_HOOK's
 * is, so a typo is one line at start rather than a silent failure at the first event months later. */
static int parse_hook(struct shim_config *cfg, const char *(*getenv_fn)(const char *))
{
	const char *v = getenv_fn("AUTOTLS_HOOK");
	struct stat st;

	if (v && *v) {
		if (v[0] != '/' || stat(v, &st) != 0 || !S_ISREG(st.st_mode) || access(v, X_OK) != 0) {
			at_log_error("AUTOTLS_HOOK: \"%.80s\" is not an absolute path to an executable file; give the "
				     "full path of a program or script with its execute bit set (it is run with "
				     "AUTOTLS_EVENT and the event's details in its environment)", v);
			return AT_E_INVAL;
		}
		if (set_str(&cfg->hook, v) != 0)
			return AT_E_NOMEM;
	}
	cfg->hook_timeout_s = 30;
	return take_number(&cfg->hook_timeout_s, "AUTOTLS_HOOK_TIMEOUT", getenv_fn("AUTOTLS_HOOK_TIMEOUT"), 1, 3600,
			   "a number of seconds (the hook's time limit)");
}

/* AUTOTLS_CA: one directory URL or an ordered, comma-separated list of up to SHIM_MAX_CAS (issuance falls back
 * from one to the next, shim/manager/ca_list.c). */
static int parse_ca_list(struct shim_config *cfg, const char *v)
{
	for (const char *p = v; *p;) {
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		size_t n = strcspn(p, ", ");
		/* RFC 8555 section 6.1: ACME is spoken over HTTPS only (an http:// directory would hand the account
		 * key's signatures and the certificate to anyone on the path). */
		if (strncmp(p, "http://", 7) == 0) {
			at_log_error("AUTOTLS_CA: \"%.*s\" is plain http; ACME requires HTTPS (RFC 8555 section 6.1): "
				     "give the CA's https:// directory URL", (int)(n > 80 ? 80 : n), p);
			return AT_E_INVAL;
		}
		if (strncmp(p, "https://", 8) != 0 || n <= 8 || n > 1000) {
			at_log_error("AUTOTLS_CA: \"%.*s\" is not an ACME directory URL (https://...); expected one URL "
				     "or a comma-separated list of them, tried in order", (int)(n > 80 ? 80 : n), p);
			return AT_E_INVAL;
		}
		for (size_t i = 0; i < cfg->ncas; i++)
			if (strlen(cfg->cas[i]) == n && strncmp(cfg->cas[i], p, n) == 0) {
				at_log_error("AUTOTLS_CA lists \"%.*s\" twice", (int)(n > 80 ? 80 : n), p);
				return AT_E_INVAL;
			}
		if (cfg->ncas == SHIM_MAX_CAS) {
			at_log_error("AUTOTLS_CA lists more than %d CAs", SHIM_MAX_CAS);
			return AT_E_INVAL;
		}
		if ((cfg->cas[cfg->ncas] = strndup(p, n)) == NULL)
			return AT_E_NOMEM;
		cfg->ncas++;
		p += n;
	}
	if (cfg->ncas == 0) {
		at_log_error("AUTOTLS_CA is set but names no URL; expected e.g. https://acme-v02.api.letsencrypt.org/directory");
		return AT_E_INVAL;
	}
	return 0;
}

/* The EAB settings of CA i (0-based): AUTOTLS_EAB_KID / AUTOTLS_EAB_HMAC_KEY for the first, with "_<i+1>" for
 * the others. Both or neither. The values are secrets: a complaint names the setting and what it needs, never
 * the value. */
static int parse_eab(struct shim_config *cfg, const char *(*getenv_fn)(const char *), size_t i)
{
	char kvar[SHIM_EAB_VAR_MAX], hvar[SHIM_EAB_VAR_MAX];
	shim_config_eab_vars(kvar, hvar, i);
	const char *kid = getenv_fn(kvar), *key = getenv_fn(hvar);
	int has_kid = kid && *kid, has_key = key && *key;
	if (!has_kid && !has_key)
		return 0;
	if (i >= cfg->ncas) {
		at_log_error("%s is set but AUTOTLS_CA lists %zu CA%s: the suffix _N names the Nth CA of the list",
			     has_kid ? kvar : hvar, cfg->ncas, cfg->ncas == 1 ? "" : "s");
		return AT_E_INVAL;
	}
	if (has_kid != has_key) {
		at_log_error("%s is set without %s: External Account Binding needs both, as the CA hands them out",
			     has_kid ? kvar : hvar, has_kid ? hvar : kvar);
		return AT_E_INVAL;
	}
	size_t klen = strlen(kid);
	int kid_ok = klen <= 512;
	for (size_t j = 0; j < klen && kid_ok; j++)
		kid_ok = kid[j] > ' ' && kid[j] < 0x7f;
	if (!kid_ok) {
		at_log_error("%s: not a key identifier (printable characters without spaces, at most 512); copy the "
			     "EAB key ID the CA gave you", kvar);
		return AT_E_INVAL;
	}
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	int rc = strlen(key) > 2048 ? AT_E_PARSE : at_b64url_decode(&raw, &rawlen, key, strlen(key));
	if (raw != NULL) {
		explicit_bzero(raw, rawlen);
		free(raw);
	}
	if (rc == AT_E_NOMEM)
		return rc;
	if (rc != 0 || rawlen < 8) {
		at_log_error("%s: not a base64url HMAC key of at least 8 bytes; copy the EAB HMAC key the CA gave you "
			     "(for %s)", hvar, cfg->cas[i]);
		return AT_E_INVAL;
	}
	if (set_str(&cfg->eab_kid[i], kid) != 0 || set_str(&cfg->eab_hmac_key[i], key) != 0)
		return AT_E_NOMEM;
	return 0;
}

/* AUTOTLS_CA, the EAB settings of each CA, AUTOTLS_PROFILE and AUTOTLS_PREFERRED_CHAIN. */
static int parse_cas(struct shim_config *cfg, const char *(*getenv_fn)(const char *))
{
	const char *v = getenv_fn("AUTOTLS_CA");
	int rc = parse_ca_list(cfg, v && *v ? v : SHIM_DEFAULT_CA);
	if (rc == 0)
		rc = set_str(&cfg->ca, cfg->cas[0]);
	for (size_t i = 0; rc == 0 && i < SHIM_MAX_CAS; i++)
		rc = parse_eab(cfg, getenv_fn, i);
	if (rc != 0)
		return rc;
	/* draft-ietf-acme-profiles: a profile name is a short token (Let's Encrypt: classic, tlsserver,
	 * shortlived). */
	v = getenv_fn("AUTOTLS_PROFILE");
	if (v && *v) {
		size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");
		if (n != strlen(v) || n > 64) {
			at_log_error("AUTOTLS_PROFILE: \"%.40s\" is not a profile name (letters, digits, '.', '_', '-'; "
				     "e.g. tlsserver or shortlived)", v);
			return AT_E_INVAL;
		}
		if (set_str(&cfg->profile, v) != 0)
			return AT_E_NOMEM;
	}
	/* The issuer common name of the root the chain should end at (RFC 8555 section 7.4.2's alternates). */
	v = getenv_fn("AUTOTLS_PREFERRED_CHAIN");
	if (v && *v) {
		int ok = strlen(v) <= 256;
		for (const char *p = v; ok && *p; p++)
			ok = (unsigned char)*p >= ' ' && *p != 0x7f;
		if (!ok) {
			at_log_error("AUTOTLS_PREFERRED_CHAIN: not a certificate common name (printable, at most 256 "
				     "characters), e.g. ISRG Root X2");
			return AT_E_INVAL;
		}
		if (set_str(&cfg->preferred_chain, v) != 0)
			return AT_E_NOMEM;
	}
	return 0;
}

int shim_config_read(struct shim_config *cfg, const char *(*getenv_fn)(const char *))
{
	const char *v;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	cfg->key_type = AT_KEY_P256;
	cfg->log_level = AT_LOG_INFO;
	cfg->log_sink = AT_LOG_SINK_STDERR;

	/* The log settings first, so that what follows is reported where the user asked. */
	v = getenv_fn("AUTOTLS_LOG_LEVEL");
	if (v && *v && parse_level(&cfg->log_level, v) != 0) {
		at_log_error("AUTOTLS_LOG_LEVEL: \"%.40s\" is not one of error, warn, info, debug", v);
		rc = AT_E_INVAL;
		goto fail;
	}
	v = getenv_fn("AUTOTLS_LOG");
	if (v && *v && strcmp(v, "stderr") != 0) {
		if (strcmp(v, "syslog") == 0) {
			cfg->log_sink = AT_LOG_SINK_SYSLOG;
		} else if (v[0] == '/') {
			cfg->log_sink = AT_LOG_SINK_FILE;
			if (set_str(&cfg->log_path, v) != 0) {
				rc = AT_E_NOMEM;
				goto fail;
			}
		} else {
			at_log_error("AUTOTLS_LOG: \"%.80s\" is not stderr, syslog or an absolute file path", v);
			rc = AT_E_INVAL;
			goto fail;
		}
	}
	if (at_log_open(cfg->log_sink, cfg->log_path, cfg->log_level) != 0) {
		at_log_error("AUTOTLS_LOG: cannot open %s for appending", cfg->log_path);
		rc = AT_E_INVAL;
		goto fail;
	}

	/* The shim is on with AUTOTLS_DOMAINS (the leader's certificate), AUTOTLS_SITES (a certificate a line), or
	 * both; with neither it stays off and silent. A sites file alone leaves ndomains 0: no leader's certificate
	 * (lead.c idles, its control channel still answers), every certificate the file's. */
	v = getenv_fn("AUTOTLS_DOMAINS");
	const char *sites_v = getenv_fn("AUTOTLS_SITES");
	if ((v == NULL || *v == '\0') && (sites_v == NULL || *sites_v == '\0')) {
		rc = AT_E_NOTFOUND;
		goto fail;
	}
	if (v != NULL && *v != '\0') {
		rc = parse_domains(cfg, v);
		if (rc != 0)
			goto fail;
	}

	rc = parse_cas(cfg, getenv_fn);
	if (rc != 0)
		goto fail;

	rc = take_path(&cfg->ca_roots, "AUTOTLS_CA_ROOTS", getenv_fn("AUTOTLS_CA_ROOTS"), " to a PEM file");
	if (rc != 0)
		goto fail;
	v = getenv_fn("AUTOTLS_EMAIL");
	if (v && *v) {
		if (strchr(v, '@') == NULL || strchr(v, ',') || strchr(v, ' ') || strlen(v) > 254) {
			at_log_error("AUTOTLS_EMAIL: \"%.80s\" is not one email address", v);
			rc = AT_E_INVAL;
			goto fail;
		}
		if (set_str(&cfg->email, v) != 0)
			goto nomem;
	}
	v = getenv_fn("AUTOTLS_KEY_TYPE");
	if (v && *v && at_key_type_parse(&cfg->key_type, v) != 0) {
		at_log_error("AUTOTLS_KEY_TYPE: \"%.40s\" is not one of p256, p384, rsa2048, rsa3072, rsa4096", v);
		rc = AT_E_INVAL;
		goto fail;
	}
	rc = parse_storage(cfg, getenv_fn);
	if (rc != 0)
		goto fail;
	/* For tests that must watch a retry within seconds; not a user setting, so not in the README table. */
	cfg->backoff_divisor = 1;
	rc = take_number(&cfg->backoff_divisor, "AUTOTLS_TEST_BACKOFF_SCALE", getenv_fn("AUTOTLS_TEST_BACKOFF_SCALE"), 1,
			 86400, "a divisor");
	if (rc != 0)
		goto fail;
	cfg->storage_gid = -1;
	v = getenv_fn("AUTOTLS_STORAGE_GROUP");
	if (v && *v) {
		struct group gr, *res = NULL;
		char buf[4096];
		if (getgrnam_r(v, &gr, buf, sizeof(buf), &res) != 0 || res == NULL) {
			at_log_error("AUTOTLS_STORAGE_GROUP: no group named \"%.40s\"; name an existing group whose "
				     "members (e.g. postgres, redis) may read the managed certificates", v);
			rc = AT_E_INVAL;
			goto fail;
		}
		cfg->storage_gid = (long)res->gr_gid;
	}
	rc = parse_dns(cfg, getenv_fn);
	if (rc != 0)
		goto fail;
	/* HTTP-01 (challenge/http01*.c, configured by shim/manager/challenges.c). */
	long http_port = 80;
	rc = take_number(&http_port, "AUTOTLS_HTTP_PORT", getenv_fn("AUTOTLS_HTTP_PORT"), 1, 65535, "a port number");
	if (rc != 0)
		goto fail;
	cfg->http_port = (int)http_port;
	v = getenv_fn("AUTOTLS_HTTP_REDIRECT");
	if (v && *v) {
		if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
			at_log_error("AUTOTLS_HTTP_REDIRECT: \"%.20s\" is not 0 or 1", v);
			rc = AT_E_INVAL;
			goto fail;
		}
		cfg->http_redirect = v[0] == '1';
	}
	int off = 0;
	if ((rc = take_on_off(&off, "AUTOTLS_OCSP", getenv_fn("AUTOTLS_OCSP"), 1,
			      "OCSP stapling of managed certificates")) != 0)
		goto fail;
	cfg->ocsp_off = !off;
	if ((rc = take_on_off(&cfg->must_staple, "AUTOTLS_MUST_STAPLE", getenv_fn("AUTOTLS_MUST_STAPLE"), 0,
			      "ask the CA for must-staple certificates, RFC 7633")) != 0)
		goto fail;
	if (cfg->must_staple && cfg->ocsp_off)
		at_log_warn("AUTOTLS_MUST_STAPLE=on with AUTOTLS_OCSP=off: the certificates ask clients for a "
			    "staple that is never sent, and clients that enforce it refuse them");
	rc = take_path(&cfg->webroot, "AUTOTLS_WEBROOT", getenv_fn("AUTOTLS_WEBROOT"),
		       " to the folder the web server serves for http://<name>/");
	if (rc != 0)
		goto fail;
	rc = take_path(&cfg->sites, "AUTOTLS_SITES", getenv_fn("AUTOTLS_SITES"),
		       " to the sites file (one certificate a line)");
	if (rc != 0)
		goto fail;
	rc = parse_on_demand(cfg, getenv_fn);
	if (rc != 0)
		goto fail;
	v = getenv_fn("AUTOTLS_CHALLENGES");
	if (v && *v) {
		rc = parse_challenges(&cfg->challenges, v);
		if (rc != 0)
			goto fail;
	}
	rc = parse_hook(cfg, getenv_fn);
	if (rc != 0)
		goto fail;
	cfg->active = 1;
	return 0;
nomem:
	rc = AT_E_NOMEM;
fail:
	shim_config_clear(cfg);
	return rc;
}

void shim_config_clear(struct shim_config *cfg)
{
	for (size_t i = 0; i < cfg->nallow; i++)
		free(cfg->allow[i]);
	free(cfg->ask);
	for (size_t i = 0; i < cfg->ndomains; i++)
		free(cfg->domains[i]);
	free(cfg->ca);
	for (size_t i = 0; i < SHIM_MAX_CAS; i++) {
		free(cfg->cas[i]);
		if (cfg->eab_kid[i] != NULL)
			explicit_bzero(cfg->eab_kid[i], strlen(cfg->eab_kid[i]));
		free(cfg->eab_kid[i]);
		if (cfg->eab_hmac_key[i] != NULL)
			explicit_bzero(cfg->eab_hmac_key[i], strlen(cfg->eab_hmac_key[i]));
		free(cfg->eab_hmac_key[i]);
	}
	free(cfg->profile);
	free(cfg->preferred_chain);
	free(cfg->ca_roots);
	free(cfg->email);
	free(cfg->storage);
	free(cfg->state_dir);
	free(cfg->log_path);
	free(cfg->webroot);
	free(cfg->sites);
	free(cfg->hook);
	free(cfg->dns_hook);
	free(cfg->dns_resolver);
	free(cfg->dns_resolv_conf);
	free(cfg->dns_update);
	free(cfg->dns_tsig_name);
	free(cfg->dns_zone);
	if (cfg->dns_tsig_secret != NULL)
		explicit_bzero(cfg->dns_tsig_secret, cfg->dns_tsig_secret_len);
	free(cfg->dns_tsig_secret);
	memset(cfg, 0, sizeof(*cfg));
}
