/**
 * POST /mutate: every request gets HTTP 200 and a valid AdmissionReview that echoes its uid,
 * whatever the body was: the API server reads a non-200 answer as a webhook failure.
 */
import type { FastifyInstance } from 'fastify';
import { allow, deny, parseReview, type AdmissionReviewOut } from '../admission/review.ts';
import { replyWithReview } from './review-reply.ts';
import { errorAnswer } from '../admission/error-policy.ts';
import { mutatePod, type PodMutationDeps } from '../admission/mutate-pod.ts';
import type { WebhookMetrics } from '../metrics.ts';

export function registerMutateRoute(app: FastifyInstance, deps: PodMutationDeps, metrics: WebhookMetrics): void {
  app.post('/mutate', async (request, reply) => {
    replyWithReview(reply);
    const started = process.hrtime.bigint();
    const { outcome, answer } = await review(request.body, deps, metrics, request.log);
    metrics.requests.inc({ outcome });
    metrics.duration.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    return answer;
  });
}

async function review(
  body: unknown,
  deps: PodMutationDeps,
  metrics: WebhookMetrics,
  log: { info: Function; warn: Function; error: Function },
): Promise<{ outcome: string; answer: AdmissionReviewOut }> {
  const parsed = parseReview(body);
  if (!parsed.ok) {
    log.warn({ uid: parsed.uid, reason: parsed.message }, 'invalid admission review');
    return { outcome: 'invalid', answer: deny(parsed.uid, `invalid AdmissionReview: ${parsed.message}`, 400) };
  }
  const { request } = parsed;
  const pod = `${request.namespace ?? ''}/${request.name ?? request.object?.metadata?.generateName ?? ''}`;
  try {
    const result = await mutatePod(request, deps);
    if (result.kind === 'skipped') {
      metrics.skips.inc({ reason: result.reason });
      // A typo'd annotation under our prefix is worth a warning even when nothing is injected.
      return { outcome: 'skipped', answer: allow(request.uid, result.warnings) };
    }
    if (result.kind === 'denied') {
      log.info({ uid: request.uid, pod, reason: result.message }, 'pod refused');
      return { outcome: 'denied', answer: deny(request.uid, result.message) };
    }
    // A reinvocation that changes nothing injected nothing: count what a patch really adds.
    if (result.patch.length) for (const kind of result.injected) metrics.injections.inc({ kind });
    log.info({ uid: request.uid, pod, injected: result.injected, dryRun: request.dryRun === true, operations: result.patch.length }, 'pod mutated');
    return { outcome: result.patch.length ? 'mutated' : 'unchanged', answer: allow(request.uid, result.warnings, result.patch) };
  } catch (err) {
    // A bug of ours must not become a crash or a silent pass: the error policy answers, logged and counted.
    const answer = errorAnswer(deps.config.values);
    metrics.internalErrors.inc({ answer: answer === 'deny' ? 'denied' : 'allowed' });
    log.error({ uid: request.uid, pod, err, answer }, 'mutation failed');
    const message = `the SuperSONIC webhook failed on this pod: ${(err as Error).message}`;
    if (answer === 'allow') return { outcome: 'error', answer: allow(request.uid, [`${message}; created unchanged (webhook.errorPolicy)`.slice(0, 256)]) };
    return { outcome: 'error', answer: deny(request.uid, message, 500) };
  }
}
