/*
 * autotls status, the running side: where a server under the preload runs on the store, its leader (the manager
 * process, or an in-process leader) answers over the control channel (shim/manager/control.c) with what it
 * serves and every process of the tree with the region generation that process says its cache serves (its own
 * note in the untrusted channel: displayed, never trusted) and whether that is the newest certificate. No
 * server, or no right to ask: the reason, and the store's side of status stands alone.
 */
#include "tools/autotls/cli.h"

#include <stdio.h>
#include <string.h>

#define STATUS_TIMEOUT_MS 30000 /* the leader answers between its steps; an order under way can take seconds */

static void print_server(const cJSON *r)
{
	char t[32];
	const cJSON *procs = cJSON_GetObjectItemCaseSensitive(r, "processes"), *p;
	const cJSON *pid = cJSON_GetObjectItemCaseSensitive(r, "pid");
	const cJSON *ren = cJSON_GetObjectItemCaseSensitive(r, "renew_at");
	const char *err = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "last_error"));
	cli_time(t, sizeof(t), cJSON_IsNumber(ren) ? (time_t)ren->valuedouble : 0);
	printf("\nrunning server\n  leader:      pid %d (%s)\n  serving:     serial %s\n  next renewal: %s (%s)\n",
	       cJSON_IsNumber(pid) ? pid->valueint : 0,
	       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "leader")) ?: "?",
	       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "serial")) ?: "?", t,
	       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "renew_rule")) ?: "?");
	printf("  last error:  %s\n", err ? err : "none");
	cJSON_ArrayForEach(p, procs)
	{
		const cJSON *ppid = cJSON_GetObjectItemCaseSensitive(p, "pid");
		printf("  process:     pid %d %-8s %-16s %s\n", cJSON_IsNumber(ppid) ? ppid->valueint : 0,
		       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "role")) ?: "?",
		       cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "comm")) ?: "?",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(p, "serving_newest")) ? "serves the newest" :
											      "NOT the newest yet");
	}
}

void cli_status_server(const struct cli_settings *s, cJSON *root)
{
	char why[600];
	cJSON *r = NULL;
	int code = cli_control_ask(&r, s, "{\"cmd\":\"status\"}\n", STATUS_TIMEOUT_MS, why, sizeof(why));
	if (code == CLI_OK && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok"))) {
		snprintf(why, sizeof(why), "%s",
			 cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "error")) ?: "no answer");
		code = CLI_FAIL;
	}
	if (root == NULL) {
		if (code == CLI_OK)
			print_server(r);
		else
			printf("\nrunning server: none known (%s)\n", why);
		cJSON_Delete(r);
		return;
	}
	if (code != CLI_OK) {
		cJSON_Delete(r);
		r = cJSON_CreateObject();
		if (r == NULL || !cJSON_AddFalseToObject(r, "running") || !cJSON_AddStringToObject(r, "why", why)) {
			cJSON_Delete(r);
			return;
		}
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(r, "ok");
		if (!cJSON_AddTrueToObject(r, "running")) {
			cJSON_Delete(r);
			return;
		}
	}
	if (!cJSON_AddItemToObject(root, "server", r))
		cJSON_Delete(r);
}
