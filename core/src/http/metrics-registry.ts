/** A prom-client registry per server, with Node's process metrics, shared by the webhook and the dispatcher. */
import { collectDefaultMetrics, Registry } from 'prom-client';

export function createRegistry(prefix: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  return registry;
}
