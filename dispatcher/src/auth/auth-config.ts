/**
 * The gateway's token settings as the chart hands them to the dispatcher: `auth.yaml` in its
 * ConfigMap, present only when `envoy.auth.enabled` (issuer, JWKS URL, audiences, and the file
 * of the issuer's CA when the site has one). No file: no token check (a NetworkPolicy then
 * decides who may call).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigError } from '#core/config/load-section.ts';
import type { JwtSettings } from './jwt-verifier.ts';

export const AUTH_FILE = 'auth.yaml';

export function loadAuthSettings(dir: string): JwtSettings | undefined {
  const file = join(dir, AUTH_FILE);
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`${file}: invalid YAML: ${(err as Error).message}`);
  }
  const value = (raw ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  const text = (key: string) => (typeof value[key] === 'string' ? (value[key] as string) : '');
  if (!text('issuer')) problems.push('issuer is empty: set envoy.auth.jwt_issuer');
  let jwksUri = '';
  try {
    const url = new URL(text('jwksUri'));
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(url.protocol);
    jwksUri = url.toString();
  } catch {
    problems.push(`jwksUri ${JSON.stringify(text('jwksUri'))} is not an http(s) URL: set envoy.auth.jwt_remote_jwks_uri`);
  }
  const audiences = Array.isArray(value.audiences) ? value.audiences.filter((a): a is string => typeof a === 'string') : [];
  let ca: string | undefined;
  if (text('caFile')) {
    try {
      ca = readFileSync(text('caFile'), 'utf8');
    } catch (err) {
      problems.push(`caFile ${text('caFile')} cannot be read (${(err as NodeJS.ErrnoException).code}): is envoy.auth.caBundle's ConfigMap or Secret there?`);
    }
  }
  if (problems.length) throw new ConfigError(`${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { issuer: text('issuer'), jwksUri, audiences, ...(ca ? { ca } : {}) };
}
