/*
 * DNS-01 through RFC 2136 updates signed with TSIG (see dns01_rfc2136.h): present() adds the TXT value by a
 * TSIG-signed UPDATE to the configured server (the zone given, or found by SOA queries there), then polls that
 * same server for the record (dns01_wait.c) within the configured wait; cleanup() deletes that one value. A
 * wildcard and its base name share an owner name with two values, so each update names its value. A refused
 * update is one line with the server's answer (BADSIG, BADKEY, NOTAUTH, ...), never the secret.
 *
 * A solver thread only (the shim's manager thread): it blocks for seconds, between the wait hooks
 * (wait_hooks.h) while it talks to the server and while it waits for the record.
 */
#include "challenge/dns01_rfc2136.h"
#include "challenge/dns01.h"
#include "challenge/wait_hooks.h"
#include "acme/solver.h"
#include "dns/update.h"
#include "dns/zone.h"
#include "util/err.h"
#include "util/log.h"

#include <stdio.h>
#include <string.h>

#define QUERY_TIMEOUT_MS 2000L

/* Adds (add = 1) or deletes the challenge's TXT value at the update server, between the wait hooks. Returns 0
 * or AT_E_CHALLENGE (logged as one line with the server's answer). */
static int update(const struct at_dns01_rfc2136_config *cfg, int add, const struct at_challenge *ch)
{
	struct at_dns_update_result res;
	char zone[AT_DNS_NAME_TEXT];
	const char *verb = add ? "add" : "delete";
	int rc = 0;

	memset(&res, 0, sizeof(res));
	at_challenge_wait_begin();
	if (cfg->zone != NULL)
		snprintf(zone, sizeof(zone), "%s", cfg->zone);
	else
		rc = at_dns_find_zone(cfg->server, cfg->port, ch->dns_txt_name, (int)QUERY_TIMEOUT_MS, zone,
				      sizeof(zone), NULL);
	if (rc != 0) {
		at_challenge_wait_end();
		at_log_error("dns-01: no zone holding %s at AUTOTLS_DNS_UPDATE %s port %d (%s): set AUTOTLS_DNS_ZONE",
			     ch->dns_txt_name, cfg->server, cfg->port,
			     rc == AT_E_NOTFOUND ? "no SOA on the way up" : at_strerror(rc));
		return AT_E_CHALLENGE;
	}
	rc = at_dns_update_txt(cfg->server, cfg->port, &cfg->key, zone, ch->dns_txt_name, ch->dns_txt_value, add,
			       (int)QUERY_TIMEOUT_MS * 2, &res);
	at_challenge_wait_end();
	if (rc == 0) {
		at_log_info("dns-01: %s TXT %s in zone %s at %s port %d: done", verb, ch->dns_txt_name, zone,
			    cfg->server, cfg->port);
		return 0;
	}
	if (rc == AT_E_NET && res.rcode != 0)
		at_log_error("dns-01: RFC 2136 %s of TXT %s in zone %s at %s port %d with TSIG key %s refused: %s",
			     verb, ch->dns_txt_name, zone, cfg->server, cfg->port, cfg->key.name,
			     at_dns_update_strerror(&res));
	else if (rc == AT_E_CRYPTO)
		at_log_error("dns-01: RFC 2136 %s of TXT %s in zone %s at %s port %d: %s", verb, ch->dns_txt_name, zone,
			     cfg->server, cfg->port, at_dns_update_strerror(&res));
	else
		at_log_error("dns-01: RFC 2136 %s of TXT %s in zone %s at %s port %d failed: %s", verb, ch->dns_txt_name,
			     zone, cfg->server, cfg->port, at_strerror(rc));
	return AT_E_CHALLENGE;
}

/* The update's add and delete (at_dns01_set_fn). */
static int rfc2136_set(const void *ctx, int add, const struct at_challenge *ch)
{
	return update(ctx, add, ch);
}

static int rfc2136_present(void *ctx, const struct at_challenge *ch)
{
	const struct at_dns01_rfc2136_config *cfg = ctx;
	/* The server that applied the update is the one to ask: it answers for the zone. */
	const struct at_dns01_wait_config wait = { .wait_s = cfg->wait_s, .server = cfg->server,
						   .server_port = cfg->port, .server_label = "AUTOTLS_DNS_UPDATE" };
	return at_dns01_present(rfc2136_set, cfg, &wait, ch);
}

static void rfc2136_cleanup(void *ctx, const struct at_challenge *ch)
{
	at_dns01_cleanup(rfc2136_set, ctx, ch);
}

int at_dns01_rfc2136_solver(struct at_solver *out, const struct at_dns01_rfc2136_config *cfg)
{
	if (cfg == NULL || cfg->server == NULL || cfg->key.name == NULL || cfg->key.secret == NULL)
		return AT_E_STATE;
	*out = (struct at_solver){ .type = AT_CHALLENGE_DNS_01, .present = rfc2136_present,
				   .cleanup = rfc2136_cleanup, .ctx = (void *)cfg };
	return 0;
}
