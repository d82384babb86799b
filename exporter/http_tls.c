/* SPDX-License-Identifier: MIT */
#include "http_tls.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdint.h>

#include "log.h"
#include "webconfig.h"

/* Runs as soon as the client's certificate arrives, inside the handshake. A
 * client that sent none passes here: GNUTLS_CERT_REQUIRE already refused it
 * where the policy requires one. */
static int verify_client_certificate(gnutls_session_t session)
{
	gnutls_typed_vdata_st purpose = {.type = GNUTLS_DT_KEY_PURPOSE_OID,
					 .data = (void *)GNUTLS_KP_TLS_WWW_CLIENT};
	unsigned n = 0, status = 0;
	int rc;

	if (!gnutls_certificate_get_peers(session, &n) || n == 0)
		return 0;
	rc = gnutls_certificate_verify_peers(session, &purpose, 1, &status);
	if (rc < 0 || status != 0) {
		log_info("client certificate refused", "reason",
			 rc < 0 ? gnutls_strerror(rc) : "not issued by client_ca_file, or expired",
			 NULL);
		return GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR;
	}
	return 0;
}

/* Sets the connection's policy before its handshake begins. */
static void apply_client_auth(void *cls, struct MHD_Connection *c, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	const struct web_config *wc = cls;
	const union MHD_ConnectionInfo *info;
	gnutls_session_t session;

	(void)socket_context;
	if (code != MHD_CONNECTION_NOTIFY_STARTED)
		return;
	info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!info || !info->tls_session)
		return;
	session = info->tls_session;
	switch (wc->client_auth) {
	case CLIENT_AUTH_NONE:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_IGNORE);
		return;
	case CLIENT_AUTH_REQUEST:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
		return;
	case CLIENT_AUTH_REQUIRE_ANY:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
		return;
	case CLIENT_AUTH_VERIFY_IF_GIVEN:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
		gnutls_session_set_verify_function(session, verify_client_certificate);
		return;
	case CLIENT_AUTH_REQUIRE_AND_VERIFY:
		gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_function(session, verify_client_certificate);
		return;
	}
}

size_t http_tls_options(const struct web_config *wc, struct MHD_OptionItem *items)
{
	size_t n = 0;

	if (!wc || !wc->tls)
		return 0;
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, wc->cert_pem};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, wc->key_pem};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, wc->priorities};
	if (wc->client_ca_pem)
		items[n++] =
		    (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, wc->client_ca_pem};
	items[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION,
					     (intptr_t)apply_client_auth, (void *)wc};
	return n;
}
