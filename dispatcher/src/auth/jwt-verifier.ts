/**
 * Who may ask for GPUs: when the gateway checks JWTs (`envoy.auth`), the dispatcher checks them
 * with the same issuer, signing keys and audiences, so a model's cold start (a GPU share taken
 * for as long as the model lives) is never given to an anonymous caller.
 *
 * jose verifies the token (signature, `iss`, `aud`, `exp`/`nbf` with a small clock tolerance).
 * The signing keys are fetched here rather than by jose's remote key set, because a site's
 * issuer is often signed by a private CA (the chart mounts it), which Node's fetch cannot be
 * given; they are refreshed every `refreshMs`, and at once (at most every `minRefreshMs`) when a
 * token names a key not yet seen, so a key rotation at the issuer is picked up without letting
 * callers make the dispatcher fetch on every request.
 */
import https from 'node:https';
import http from 'node:http';
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';

export interface JwtSettings {
  issuer: string;
  jwksUri: string;
  /** A token must carry one of them; empty accepts any audience (as Envoy's jwt_authn does). */
  audiences: string[];
  /** PEM CA bundle for the JWKS server; undefined: the system CAs. */
  ca?: string;
}

export type Verdict = { ok: true; subject: string | undefined } | { ok: false; message: string };

export interface VerifierOptions {
  refreshMs?: number;
  minRefreshMs?: number;
  /** Fetches the key set (tests replace it; the default is an HTTPS GET with the CA). */
  fetchKeys?: (settings: JwtSettings) => Promise<JSONWebKeySet>;
}

const MAX_JWKS_BYTES = 1 << 20;

export class JwtVerifier {
  private readonly settings: JwtSettings;
  private readonly options: Required<VerifierOptions>;
  private keys: ReturnType<typeof createLocalJWKSet> | undefined;
  private fetchedAt = 0;
  private refreshing: Promise<void> | undefined;

  constructor(settings: JwtSettings, options: VerifierOptions = {}) {
    this.settings = settings;
    this.options = { refreshMs: 600_000, minRefreshMs: 30_000, fetchKeys: fetchJwks, ...options };
  }

  /** Checks the `authorization` header of a request. */
  async verify(authorization: string | undefined): Promise<Verdict> {
    const token = /^Bearer\s+([A-Za-z0-9_.-]+)$/i.exec(authorization ?? '')?.[1];
    if (!token) return { ok: false, message: 'a bearer token is required (authorization: Bearer <JWT>)' };
    try {
      if (!this.keys || Date.now() - this.fetchedAt > this.options.refreshMs) await this.refresh();
      let payload: JWTPayload;
      try {
        payload = await this.check(token);
      } catch (err) {
        // A key the issuer has just added: fetch the set again (rate-limited), then try once more.
        if (!(err instanceof errors.JWKSNoMatchingKey) || Date.now() - this.fetchedAt < this.options.minRefreshMs) throw err;
        await this.refresh();
        payload = await this.check(token);
      }
      return { ok: true, subject: typeof payload.sub === 'string' ? payload.sub : undefined };
    } catch (err) {
      return { ok: false, message: `the token was refused: ${reason(err)}` };
    }
  }

  private check(token: string): Promise<JWTPayload> {
    const { issuer, audiences } = this.settings;
    return jwtVerify(token, this.keys!, { issuer, ...(audiences.length ? { audience: audiences } : {}), clockTolerance: 30 }).then((result) => result.payload);
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.options
      .fetchKeys(this.settings)
      .then((set) => {
        this.keys = createLocalJWKSet(set);
        this.fetchedAt = Date.now();
      })
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }
}

function reason(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `its ${err.claim} claim is not accepted`;
  if (err instanceof errors.JWKSNoMatchingKey) return 'no signing key of the issuer matches it';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'its signature does not verify';
  if (err instanceof errors.JOSEError) return err.message;
  return `the issuer's signing keys could not be read (${(err as Error)?.message ?? String(err)})`;
}

/** GET the key set, bounded in time and size, checking the server against `ca` when given. */
export function fetchJwks(settings: JwtSettings): Promise<JSONWebKeySet> {
  return new Promise((resolve, reject) => {
    const url = new URL(settings.jwksUri);
    const client = url.protocol === 'http:' ? http : https;
    const req = client.get(url, { timeout: 10_000, ...(url.protocol === 'https:' && settings.ca ? { ca: settings.ca } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return reject(new Error(`${settings.jwksUri} answered ${res.statusCode}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_JWKS_BYTES) req.destroy(new Error(`${settings.jwksUri} sent more than 1 MiB`));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        try {
          const set = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JSONWebKeySet;
          if (!Array.isArray(set?.keys)) throw new Error('no "keys" array');
          resolve(set);
        } catch (err) {
          reject(new Error(`${settings.jwksUri} is not a key set: ${(err as Error).message}`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${settings.jwksUri} did not answer within 10 s`)));
    req.on('error', reject);
  });
}
