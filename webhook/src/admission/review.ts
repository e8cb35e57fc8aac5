/**
 * AdmissionReview v1 in and out. Parsing never throws: whatever arrives, the caller gets
 * either a request to work on or a reason, and every answer is a valid AdmissionReview that
 * echoes the request's uid (empty when none could be read).
 */
import type { Operation } from 'fast-json-patch';

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: string;
  object?: Record<string, any>;
  oldObject?: Record<string, any>;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

export interface AdmissionReviewOut {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/**
 * An answer as JSON. Written here, not by JSON.stringify or a schema-compiled serialiser, for
 * the patch: a base64 string of a few KB holds no character JSON must escape, and both would
 * scan it for one (under load, about 9 µs of a /mutate request, docs/benchmarks.md). The patch
 * is always base64: `allow` makes it. Every other field goes through JSON.stringify.
 */
export function serializeReview(answer: AdmissionReviewOut): string {
  const { patch, ...rest } = answer.response;
  const response = JSON.stringify(rest);
  const withPatch = patch === undefined ? response : `${response.slice(0, -1)},"patch":"${patch}"}`;
  return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":${withPatch}}`;
}

export type Parsed = { ok: true; request: AdmissionRequest } | { ok: false; uid: string; message: string };

/** Reads an AdmissionReview from a raw body (a string, or anything a parser produced). */
export function parseReview(body: unknown): Parsed {
  let review: any = body;
  if (typeof body === 'string') {
    try {
      review = JSON.parse(body);
    } catch {
      return { ok: false, uid: '', message: 'the body is not JSON' };
    }
  }
  if (!isObject(review)) return { ok: false, uid: '', message: 'the body is not an AdmissionReview object' };
  const request = review.request;
  const uid = isObject(request) && typeof request.uid === 'string' ? request.uid : '';
  if (review.apiVersion !== 'admission.k8s.io/v1' || review.kind !== 'AdmissionReview') {
    return { ok: false, uid, message: `expected apiVersion admission.k8s.io/v1, kind AdmissionReview; got ${String(review.apiVersion)} ${String(review.kind)}` };
  }
  if (!isObject(request)) return { ok: false, uid, message: 'the AdmissionReview has no request' };
  if (!uid) return { ok: false, uid, message: 'request.uid is missing' };
  if (!isObject(request.kind) || typeof request.operation !== 'string') {
    return { ok: false, uid, message: 'request.kind or request.operation is missing' };
  }
  if (request.object !== undefined && request.object !== null && !isObject(request.object)) {
    return { ok: false, uid, message: 'request.object is not an object' };
  }
  return { ok: true, request: request as AdmissionRequest };
}

export function allow(uid: string, warnings: string[] = [], patch: Operation[] = []): AdmissionReviewOut {
  const response: AdmissionResponse = { uid, allowed: true };
  if (patch.length) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(patch)).toString('base64');
  }
  if (warnings.length) response.warnings = warnings;
  return wrap(response);
}

/** A refusal: the API server shows `message` to whoever created the pod. */
export function deny(uid: string, message: string, code = 403): AdmissionReviewOut {
  return wrap({ uid, allowed: false, status: { code, message } });
}

function wrap(response: AdmissionResponse): AdmissionReviewOut {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function isObject(value: unknown): value is Record<string, any> {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}
