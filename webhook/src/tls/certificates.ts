/**
 * Certificates for the webhook when no cert-manager is around: an ECDSA P-256 CA and a serving
 * certificate it signs for the webhook Service's DNS names, all as PEM strings.
 *
 * Generation uses @peculiar/x509 because Node can parse and verify X.509 (crypto.X509Certificate)
 * but cannot create certificates; everything else here is node:crypto.
 */
import { createPrivateKey, KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';

// @peculiar/x509 2.x resolves its algorithms through tsyringe, which refuses to load without the
// Reflect metadata API. tsyringe only stores and reads back metadata (x509 emits no
// design:paramtypes), so a three-function stand-in is enough and spares a second dependency.
// The import is dynamic because static imports run before this module's own code.
installReflectMetadata();
const x509 = await import('@peculiar/x509');
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface PemPair {
  cert: string;
  key: string;
}

export const DAY_MS = 86_400_000;
/** New certificates start an hour early: they must already be valid for an API server whose clock lags ours. */
const BACKDATE_MS = 3_600_000;
const EC = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** The names the API server may use to reach `<svc>` in `<ns>` (it dials `<svc>.<ns>.svc`). */
export function serviceDnsNames(service: string, namespace: string, clusterDomain = 'cluster.local'): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.${clusterDomain}`];
}

export async function createCertificateAuthority(
  options: { commonName?: string; validityMs?: number; now?: number } = {},
): Promise<PemPair> {
  const now = options.now ?? Date.now();
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: `CN=${options.commonName ?? 'supersonic-webhook-ca'}`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + (options.validityMs ?? 3650 * DAY_MS)),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: exportKey(keys.privateKey) };
}

/**
 * A serving certificate signed by `ca`. It never outlives the CA: a leaf that is still "valid"
 * after its issuer expired would fail verification anyway, and renewal must see the real date.
 */
export async function createServingCertificate(
  ca: PemPair,
  options: { dnsNames: string[]; validityMs: number; now?: number },
): Promise<PemPair> {
  const now = options.now ?? Date.now();
  const caCert = new x509.X509Certificate(ca.cert);
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: `CN=${options.dnsNames[0] ?? 'webhook'}`,
    issuer: caCert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(Math.min(now + options.validityMs, caCert.notAfter.getTime())),
    publicKey: keys.publicKey,
    signingKey: await importSigningKey(ca.key),
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(options.dnsNames.map((value) => ({ type: 'dns' as const, value }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { cert: cert.toString('pem') + '\n', key: exportKey(keys.privateKey) };
}

export function expiresAt(certPem: string): Date {
  return new Date(new X509Certificate(certPem).validTo);
}

/** True when the certificate expires within `renewBeforeMs` of `now`, or cannot be read at all. */
export function needsRenewal(certPem: string, renewBeforeMs: number, now: number = Date.now()): boolean {
  try {
    return expiresAt(certPem).getTime() - renewBeforeMs <= now;
  } catch {
    return true;
  }
}

/**
 * True when `leafPem` was issued and signed by the CA certificate `caPem` and, if `at` is given,
 * both are valid at that instant. Malformed input is simply "does not chain".
 */
export function chainsTo(leafPem: string, caPem: string, at?: number): boolean {
  try {
    const leaf = new X509Certificate(leafPem);
    const ca = new X509Certificate(caPem);
    if (!ca.ca || !leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) return false;
    return at === undefined || (isValidAt(leaf, at) && isValidAt(ca, at));
  } catch {
    return false;
  }
}

/** True when the private key belongs to the certificate (a Secret written by hand may mix them up). */
export function matchesKey(certPem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

export function dnsNamesOf(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? '';
  return san.split(', ').filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4));
}

/** The certificates of a PEM bundle (ca.crt may hold the current CA followed by the previous one). */
export function splitPemBundle(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((pem) => pem + '\n') ?? [];
}

export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

function isValidAt(cert: X509Certificate, at: number): boolean {
  return Date.parse(cert.validFrom) <= at && at <= Date.parse(cert.validTo);
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function exportKey(key: CryptoKey): string {
  return KeyObject.from(key as webcrypto.CryptoKey).export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** Accepts PKCS#8 or SEC1 ("EC PRIVATE KEY") PEM, so a CA key written by openssl works too. */
async function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return (await webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign'])) as CryptoKey;
}

/** 16 random bytes, first byte in 0x40–0x7f so the DER integer is positive and of fixed length. */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

function installReflectMetadata(): void {
  const reflect = Reflect as unknown as Record<string, unknown>;
  if (typeof reflect.getMetadata === 'function') return;
  const store = new WeakMap<object, Map<unknown, unknown>>();
  const own = (key: unknown, target: object) => store.get(target)?.get(key);
  reflect.defineMetadata = (key: unknown, value: unknown, target: object) => {
    const map = store.get(target) ?? new Map();
    store.set(target, map.set(key, value));
  };
  reflect.getOwnMetadata = own;
  reflect.getMetadata = (key: unknown, target: object): unknown => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t)) {
      const value = own(key, t);
      if (value !== undefined) return value;
    }
    return undefined;
  };
}
