/**
 * The dispatcher's token check (dispatcher/src/auth/jwt-verifier.ts): tokens signed as an
 * issuer signs them (jose, RS256 and ES256), keys served by a JWKS endpoint on 127.0.0.1 over
 * real HTTP, and the ways a token is refused, each said in words. Key rotation at the issuer is
 * picked up on the first token that names the new key.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { JwtVerifier, type JwtSettings } from '../../dispatcher/src/auth/jwt-verifier.ts';

interface Context {
  server: Server;
  keys: JWK[];
  fetches: number;
  settings: JwtSettings;
  sign: (claims: Record<string, unknown>, options?: { kid?: string; expiresIn?: string; key?: CryptoKey }) => Promise<string>;
  rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
}

const ISSUER = 'https://keycloak.example.org/realms/cms';

const jwt = suite<Context>('dispatcher: JWT check with the gateway\'s settings', {} as Context);

jwt.before(async (context) => {
  context.rsa = await generateKeyPair('RS256', { extractable: true });
  context.keys = [{ ...(await exportJWK(context.rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }];
  context.fetches = 0;
  context.server = createServer((_req, res) => {
    context.fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: context.keys }));
  });
  await new Promise<void>((resolve) => context.server.listen(0, '127.0.0.1', resolve));
  const port = (context.server.address() as { port: number }).port;
  context.settings = { issuer: ISSUER, jwksUri: `http://127.0.0.1:${port}/certs`, audiences: ['supersonic'] };
  context.sign = (claims, options = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: options.key ? 'ES256' : 'RS256', kid: options.kid ?? 'rsa-1' })
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m')
      .sign(options.key ?? context.rsa.privateKey);
});

jwt.after((context) => new Promise<void>((resolve) => context.server.close(() => resolve())));

jwt('a token of the issuer, for an accepted audience, passes; its subject is kept', async (context) => {
  const verifier = new JwtVerifier(context.settings);
  const token = await context.sign({ aud: 'supersonic', sub: 'alice' });
  assert.equal(await verifier.verify(`Bearer ${token}`), { ok: true, subject: 'alice' });
});

jwt('no token, a malformed header, another audience, another issuer, an expired token: refused, each saying why', async (context) => {
  const verifier = new JwtVerifier(context.settings);
  const refused = async (header: string | undefined) => {
    const verdict = await verifier.verify(header);
    assert.not.ok(verdict.ok, header);
    return (verdict as { message: string }).message;
  };
  assert.match(await refused(undefined), /bearer token is required/);
  assert.match(await refused('Basic dXNlcjpwYXNz'), /bearer token is required/);
  assert.match(await refused(`Bearer ${await context.sign({ aud: 'grafana' })}`), /aud claim is not accepted/);
  const foreign = await new SignJWT({ aud: 'supersonic' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setIssuer('https://evil.example.org').setExpirationTime('5m').sign(context.rsa.privateKey);
  assert.match(await refused(`Bearer ${foreign}`), /iss claim is not accepted/);
  const expired = await new SignJWT({ aud: 'supersonic' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setIssuer(ISSUER).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(context.rsa.privateKey);
  assert.match(await refused(`Bearer ${expired}`), /expired/);
});

jwt('a token signed by a key the issuer does not publish is refused', async (context) => {
  const verifier = new JwtVerifier(context.settings, { minRefreshMs: 0 });
  const other = await generateKeyPair('RS256');
  const forged = await new SignJWT({ aud: 'supersonic' }).setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' }).setIssuer(ISSUER).setExpirationTime('5m').sign(other.privateKey);
  const verdict = await verifier.verify(`Bearer ${forged}`);
  assert.not.ok(verdict.ok);
  assert.match((verdict as { message: string }).message, /signature does not verify/);
});

jwt('a key added at the issuer is fetched on the first token that names it, and not on every request', async (context) => {
  const verifier = new JwtVerifier(context.settings, { minRefreshMs: 0 });
  assert.ok((await verifier.verify(`Bearer ${await context.sign({ aud: 'supersonic' })}`)).ok);
  const before = context.fetches;
  for (let i = 0; i < 5; i++) assert.ok((await verifier.verify(`Bearer ${await context.sign({ aud: 'supersonic' })}`)).ok);
  assert.is(context.fetches, before, 'known keys are not fetched again');
  const ec = await generateKeyPair('ES256', { extractable: true });
  context.keys = [...context.keys, { ...(await exportJWK(ec.publicKey)), kid: 'ec-2', alg: 'ES256', use: 'sig' }];
  assert.ok((await verifier.verify(`Bearer ${await context.sign({ aud: 'supersonic' }, { kid: 'ec-2', key: ec.privateKey })}`)).ok);
  assert.is(context.fetches, before + 1);
});

jwt('an unknown key id cannot make the dispatcher fetch the key set on every request', async (context) => {
  const verifier = new JwtVerifier(context.settings, { minRefreshMs: 60_000 });
  assert.ok((await verifier.verify(`Bearer ${await context.sign({ aud: 'supersonic' })}`)).ok);
  const before = context.fetches;
  for (let i = 0; i < 10; i++) {
    const verdict = await verifier.verify(`Bearer ${await context.sign({ aud: 'supersonic' }, { kid: `unknown-${i}` })}`);
    assert.not.ok(verdict.ok);
  }
  assert.is(context.fetches, before, 'a refresh right after the last one is not repeated');
});

jwt('the issuer unreachable: refused, saying the signing keys could not be read', async (context) => {
  const verifier = new JwtVerifier({ ...context.settings, jwksUri: 'http://127.0.0.1:1/certs' });
  const verdict = await verifier.verify(`Bearer ${await context.sign({ aud: 'supersonic' })}`);
  assert.not.ok(verdict.ok);
  assert.match((verdict as { message: string }).message, /signing keys could not be read/);
});

jwt.run();

const settings = suite('dispatcher: the gateway\'s token settings from auth.yaml');

settings('no auth.yaml: no token check; a good one: the settings, with the CA read; a bad one: each problem named', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadAuthSettings } = await import('../../dispatcher/src/auth/auth-config.ts');
  const dir = mkdtempSync(join(tmpdir(), 'dispatcher-auth-'));
  try {
    assert.is(loadAuthSettings(dir), undefined);
    writeFileSync(join(dir, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    writeFileSync(join(dir, 'auth.yaml'), `issuer: ${ISSUER}\njwksUri: ${ISSUER}/certs\naudiences: [supersonic]\ncaFile: ${join(dir, 'ca.crt')}\n`);
    const loaded = loadAuthSettings(dir)!;
    assert.equal({ ...loaded, ca: loaded.ca?.slice(0, 27) }, { issuer: ISSUER, jwksUri: `${ISSUER}/certs`, audiences: ['supersonic'], ca: '-----BEGIN CERTIFICATE-----' });
    writeFileSync(join(dir, 'auth.yaml'), `issuer: ""\njwksUri: not a url\ncaFile: ${join(dir, 'missing.crt')}\n`);
    assert.throws(() => loadAuthSettings(dir), (err: Error) => /issuer is empty: set envoy\.auth\.jwt_issuer/.test(err.message) && /jwksUri "not a url" is not an http\(s\) URL/.test(err.message) && /missing\.crt cannot be read \(ENOENT\)/.test(err.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

settings.run();
