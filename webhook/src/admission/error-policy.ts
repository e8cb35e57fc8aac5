/**
 * The one decision about what the webhook answers when it fails on a pod itself: refuse it, or
 * let it through unchanged. `auto` takes the site's `failurePolicy`, the same choice it made for
 * when the webhook cannot be reached: a site that chose Ignore does not get pods refused by our
 * bugs, and a site that chose Fail does not get GPU pods created unmutated.
 */
export type ErrorAnswer = 'deny' | 'allow';

export function errorAnswer(values: { errorPolicy?: string; failurePolicy?: string }): ErrorAnswer {
  if (values.errorPolicy === 'deny' || values.errorPolicy === 'allow') return values.errorPolicy;
  return values.failurePolicy === 'Ignore' ? 'allow' : 'deny';
}
