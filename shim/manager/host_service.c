/*
 * autotls-manager --host: the host manager, a service of its own (autotls.service) for the servers that cannot
 * lead their store (docs/DESIGN.md, known limits): a server that makes its contexts only after dropping
 * privileges (mosquitto, Dovecot's login processes) starts no privileged manager, and a server on another port
 * than 443 (Postfix on 25, Dovecot on 993) cannot answer TLS-ALPN-01. The host manager leads the store with
 * HTTP-01 (its own responder on AUTOTLS_HTTP_PORT, opened only while a challenge is pending) or DNS-01, and
 * renews on the usual schedule; the servers under the preload on this host find the lock taken, follow, and copy
 * each new certificate from the store into their own trees' regions (lead.c, publish_from_store), so they serve
 * it live with nothing else on the host speaking HTTP.
 *
 * It reads the same AUTOTLS_* settings as the preload (AUTOTLS_DOMAINS and AUTOTLS_STORAGE at least; a systemd
 * EnvironmentFile gives them). It has no server tree: no shared region (what it publishes goes into a private
 * one nobody reads, shim/manager/publish.c), no untrusted channel, no on-demand issuance (that needs a server's
 * handshakes), no tree watch: it runs until it is stopped (SIGTERM; the store's writes are atomic and its locks
 * go with the process). TLS-ALPN-01 is never tried: nothing here answers on port 443.
 *
 * Called once, from autotls-manager's main() before anything of the tree's manager runs. It never forks, and
 * logs to stderr unless AUTOTLS_LOG says otherwise (under systemd, stderr is the journal).
 */
#include "shim/manager/host_service.h"
#include "shim/manager/manager.h"
#include "acme/http.h"
#include "acme/solver.h"
#include "store/lock_file.h"
#include "util/err.h"
#include "util/log.h"

#include <stdlib.h>
#include <unistd.h>

static struct shim_config config;
static struct shim_host host;

static const char *env(const char *name)
{
	return getenv(name);
}

static void no_in_manager(int on)
{
	(void)on;
}

/* The challenge types the host manager may answer: AUTOTLS_CHALLENGES without TLS-ALPN-01 (said once when it
 * was asked for), every other type when it is not set. 0 or AT_E_INVAL when nothing is left. */
static int host_challenges(struct shim_config *cfg)
{
	const unsigned alpn = 1u << AT_CHALLENGE_TLS_ALPN_01;
	const unsigned others = (1u << AT_CHALLENGE_HTTP_01) | (1u << AT_CHALLENGE_DNS_01);

	if (cfg->challenges == 0) {
		cfg->challenges = others;
		return 0;
	}
	if (cfg->challenges & alpn)
		at_log_warn("autotls-manager --host: AUTOTLS_CHALLENGES names tls-alpn-01, which only a server on "
			    "port 443 answers; the host manager uses http-01 and dns-01");
	cfg->challenges &= others;
	if (cfg->challenges == 0) {
		at_log_error("autotls-manager --host: AUTOTLS_CHALLENGES leaves no challenge it can answer; list "
			     "http-01 (its responder on AUTOTLS_HTTP_PORT) or dns-01");
		return AT_E_INVAL;
	}
	return 0;
}

int mgr_host_service_main(void)
{
	int rc = shim_config_read(&config, env);
	if (rc != 0 && rc != AT_E_NOTFOUND)
		return 2; /* the setting was named */
	if (rc == AT_E_NOTFOUND || config.ndomains == 0) {
		at_log_error("autotls-manager --host: AUTOTLS_DOMAINS is not set; it names the certificate the host "
			     "manager obtains for the servers that follow it");
		return 2;
	}
	if (host_challenges(&config) != 0)
		return 2;
	host.version = SHIM_HOST_API_VERSION;
	host.cfg = &config;
	host.set_in_manager = no_in_manager;
	mgr_host = &host;
	/* Not a thread inside a server: it stands for election at once and, when another process leads the store,
	 * stands by (it tries the lock every second). */
	mgr_is_helper = 1;
	at_http_set_wait_hooks(mgr_quiesce_leave, mgr_quiesce_enter);
	at_lockset_set_wait_hooks(mgr_quiesce_leave, mgr_quiesce_enter);
	at_log_info("autotls-manager --host pid %d: certificates for %s%s in %s, challenges%s%s (port %d)", (int)getpid(),
		    config.ndomains > 0 ? config.domains[0] : "its sites file", config.ndomains > 1 ? " and more" : "",
		    config.storage,
		    (config.challenges & (1u << AT_CHALLENGE_HTTP_01)) ? " http-01" : "",
		    (config.challenges & (1u << AT_CHALLENGE_DNS_01)) ? " dns-01" : "", config.http_port);
	mgr_quiesce_enter();
	mgr_lead();
	return 1;
}
