/* See san_check.h. */
#include "tests/harness/san_check.h"
#include "tests/harness/log_capture.h"
#include "tests/harness/tlsverify.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int connect_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

int san_check_exact(int port, const char *sni, const char *root_file, const char *const *names, size_t n)
{
	int fd = connect_port(port);
	if (fd < 0)
		return -1;
	SSL *ssl = NULL;
	int saved = log_silence_begin();
	int saved_quiet = tls_verify_quiet;
	tls_verify_quiet = 1;
	int rc = tls_client_handshake_fd(fd, sni, NULL, 0, root_file, NULL, NULL, &ssl);
	tls_verify_quiet = saved_quiet;
	log_silence_end(saved);
	if (rc != 0) {
		close(fd);
		return -1;
	}
	X509 *leaf = SSL_get1_peer_certificate(ssl);
	GENERAL_NAMES *gens = leaf ? X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL) : NULL;
	size_t found = 0, dns = 0;
	char seen[1024] = "";
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		dns++;
		const char *v = (const char *)ASN1_STRING_get0_data(g->d.dNSName);
		size_t vl = (size_t)ASN1_STRING_length(g->d.dNSName);
		size_t sl = strlen(seen);
		snprintf(seen + sl, sizeof(seen) - sl, "%s%.*s", sl ? " " : "", (int)vl, v);
		for (size_t k = 0; k < n; k++)
			if (strlen(names[k]) == vl && memcmp(names[k], v, vl) == 0) {
				found++;
				break;
			}
	}
	GENERAL_NAMES_free(gens);
	X509_free(leaf);
	SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	if (found == n && dns == n)
		return 0;
	printf("  %s: served a certificate for \"%s\", expected %zu name(s)\n", sni, seen, n);
	return 1;
}
