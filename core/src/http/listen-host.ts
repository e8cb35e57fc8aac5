/**
 * Where the webhook listens. HOST when set (the tests set 127.0.0.1); otherwise '::', which on
 * Linux is every IPv6 and, through IPv4-mapped addresses, every IPv4 address (dual stack), so a
 * pod on an IPv6-only or dual-stack cluster is reached on either family. A host whose kernel
 * has no IPv6 (disabled by sysctl or boot option) cannot bind '::' at all: there it is
 * '0.0.0.0', as before.
 */
import { createServer } from 'node:net';

export const ALL_IPV6_AND_IPV4 = '::';
export const ALL_IPV4 = '0.0.0.0';
/** What binding '::' fails with where the host has no IPv6; anything else is a real error. */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

/** Resolves to the first failure's code of binding `host` on a free port, or undefined when it binds. */
export function bindProbe(host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
    server.listen({ host, port: 0, ipv6Only: false }, () => server.close(() => resolve(undefined)));
  });
}

export async function listenHost(configured: string | undefined, probe: (host: string) => Promise<string | undefined> = bindProbe): Promise<{ host: string; why: string }> {
  if (configured) return { host: configured, why: 'HOST is set' };
  const failure = await probe(ALL_IPV6_AND_IPV4);
  if (failure === undefined) return { host: ALL_IPV6_AND_IPV4, why: 'IPv6 and IPv4 (dual stack)' };
  if (NO_IPV6.has(failure)) return { host: ALL_IPV4, why: `IPv4 only: this host has no IPv6 (${failure})` };
  // Not a missing address family: listen on '::' anyway, and let that fail with its own message.
  return { host: ALL_IPV6_AND_IPV4, why: `IPv6 and IPv4 (probing '::' failed with ${failure})` };
}
