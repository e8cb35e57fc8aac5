/**
 * Whether a namespace has the CVMFS claim, asked of the API server and remembered for a short
 * while: pods of one ReplicaSet arrive together, and each must not cost an API call. Only
 * "exists" is remembered, so a claim created after a refusal is seen at once.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import type { ClaimLookup } from './mutations/cvmfs.ts';

const REMEMBER_MS = 30_000;

export function claimLookup(api: CoreV1Api, now: () => number = Date.now): ClaimLookup {
  const seen = new Map<string, number>();
  return async (namespace, name) => {
    const key = `${namespace}/${name}`;
    const until = seen.get(key);
    if (until && until > now()) return true;
    try {
      await api.readNamespacedPersistentVolumeClaim({ name, namespace });
      seen.set(key, now() + REMEMBER_MS);
      return true;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return false;
      throw err;
    }
  };
}
