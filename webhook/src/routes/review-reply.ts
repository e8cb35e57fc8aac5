/** How every route that answers an AdmissionReview sends it. */
import type { FastifyReply } from 'fastify';
import { serializeReview } from '../admission/review.ts';

/**
 * The answer goes out as JSON written by serializeReview. The content type is set here because
 * fastify leaves it unset once a route chooses its own serialiser.
 */
export function replyWithReview(reply: FastifyReply): void {
  reply.type('application/json; charset=utf-8').serializer(serializeReview);
}
