/**
 * What the webhook's TLS server accepts: Mozilla's "intermediate" configuration (version 5.7,
 * https://ssl-config.mozilla.org/guidelines/5.7.json): TLS 1.2 and 1.3, for TLS 1.2 only the
 * forward-secret AEAD suites below, TLS 1.3's suites as Node has them (all three are AEAD), the
 * client's order of preference (Mozilla: every listed suite is strong, and clients know whether
 * they have AES in hardware), and no renegotiation (a client could otherwise make the server
 * redo the handshake's costly half as often as it likes).
 *
 * The API server (Go's crypto/tls) offers TLS 1.3 and these suites, so nothing it does is refused.
 * The server is created with these options, and every certificate reload passes them again
 * (shared/tls-reload.ts: setSecureContext starts from nothing).
 */
import { constants } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';

export const INTERMEDIATE_TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
] as const;

/** Node's TLS 1.3 suites (OpenSSL's default list); naming them keeps them when `ciphers` is set. */
export const TLS13_CIPHERS = ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256'] as const;

export const SERVING_TLS_OPTIONS: Readonly<SecureContextOptions & { honorCipherOrder: boolean }> = Object.freeze({
  minVersion: 'TLSv1.2',
  ciphers: [...TLS13_CIPHERS, ...INTERMEDIATE_TLS12_CIPHERS].join(':'),
  honorCipherOrder: false,
  secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
});
