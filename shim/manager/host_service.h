/*
 * autotls-manager --host: the host manager, run as a service of its own (host_service.c).
 */
#ifndef AUTOTLS_SHIM_MANAGER_HOST_SERVICE_H
#define AUTOTLS_SHIM_MANAGER_HOST_SERVICE_H

/* Reads the AUTOTLS_* settings from the environment and leads the store (or stands by while another process
 * leads it) until the process is stopped. Returns only on a mistake in the settings: the process's exit status
 * (2), after logging which setting. */
int mgr_host_service_main(void);

#endif
