import { createPrivateKey, X509Certificate } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  chainsTo,
  createCertificateAuthority,
  createServingCertificate,
  DAY_MS,
  dnsNamesOf,
  expiresAt,
  matchesKey,
  needsRenewal,
  serviceDnsNames,
  splitPemBundle,
} from '../../../webhook/src/tls/certificates.ts';

const test = suite('webhook tls: certificates');
const names = serviceDnsNames('supersonic-webhook', 'sonic');

test('serviceDnsNames lists the four names the Service answers to', () => {
  assert.equal(names, [
    'supersonic-webhook',
    'supersonic-webhook.sonic',
    'supersonic-webhook.sonic.svc',
    'supersonic-webhook.sonic.svc.cluster.local',
  ]);
});

test('the CA is a P-256 self-signed CA valid for ten years, started an hour early', async () => {
  const now = Date.now();
  const ca = await createCertificateAuthority({ now });
  const cert = new X509Certificate(ca.cert);
  assert.ok(cert.ca);
  assert.ok(chainsTo(ca.cert, ca.cert), 'self-signed');
  assert.is(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  assert.ok(matchesKey(ca.cert, ca.key));
  assert.ok(Math.abs(expiresAt(ca.cert).getTime() - (now + 3650 * DAY_MS)) < 2000, 'expires in 3650 days');
  assert.ok(Math.abs(Date.parse(cert.validFrom) - (now - 3_600_000)) < 2000, 'backdated one hour');
  assert.match(ca.key, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/);
});

test('the serving certificate carries the Service names, its own key and chains to the CA only', async () => {
  const ca = await createCertificateAuthority();
  const other = await createCertificateAuthority();
  const leaf = await createServingCertificate(ca, { dnsNames: names, validityMs: 30 * DAY_MS });
  const cert = new X509Certificate(leaf.cert);
  assert.equal(dnsNamesOf(leaf.cert), names);
  assert.not.ok(cert.ca);
  assert.ok(matchesKey(leaf.cert, leaf.key));
  assert.not.ok(matchesKey(leaf.cert, ca.key));
  assert.ok(chainsTo(leaf.cert, ca.cert, Date.now()));
  assert.not.ok(chainsTo(leaf.cert, other.cert), 'another CA');
  assert.not.ok(chainsTo(leaf.cert, ca.cert, Date.now() + 31 * DAY_MS), 'expired by then');
  assert.not.ok(chainsTo('not a certificate', ca.cert));
  assert.not.ok(leaf.cert === (await createServingCertificate(ca, { dnsNames: names, validityMs: DAY_MS })).cert);
});

test('a serving certificate never outlives its CA', async () => {
  const ca = await createCertificateAuthority({ validityMs: 2 * DAY_MS });
  const leaf = await createServingCertificate(ca, { dnsNames: names, validityMs: 90 * DAY_MS });
  assert.is(expiresAt(leaf.cert).getTime(), expiresAt(ca.cert).getTime());
});

test('a CA key in SEC1 form (openssl ecparam) signs as well', async () => {
  const ca = await createCertificateAuthority();
  const sec1 = createPrivateKey(ca.key).export({ type: 'sec1', format: 'pem' }).toString();
  assert.match(sec1, /BEGIN EC PRIVATE KEY/);
  const leaf = await createServingCertificate({ cert: ca.cert, key: sec1 }, { dnsNames: names, validityMs: DAY_MS });
  assert.ok(chainsTo(leaf.cert, ca.cert));
});

test('needsRenewal: due once the certificate expires within renewBefore, or cannot be read', async () => {
  const now = Date.now();
  const ca = await createCertificateAuthority({ now });
  const leaf = await createServingCertificate(ca, { dnsNames: names, validityMs: 10 * DAY_MS, now });
  assert.not.ok(needsRenewal(leaf.cert, 3 * DAY_MS, now));
  assert.not.ok(needsRenewal(leaf.cert, 3 * DAY_MS, now + 6 * DAY_MS));
  assert.ok(needsRenewal(leaf.cert, 3 * DAY_MS, now + 8 * DAY_MS));
  assert.ok(needsRenewal(leaf.cert, 0, now + 11 * DAY_MS), 'expired');
  assert.ok(needsRenewal('garbage', 0, now));
});

test('splitPemBundle returns each certificate of a bundle', async () => {
  const a = await createCertificateAuthority();
  const b = await createCertificateAuthority();
  assert.equal(splitPemBundle(a.cert + b.cert), [a.cert, b.cert]);
  assert.equal(splitPemBundle(''), []);
});

test.run();
