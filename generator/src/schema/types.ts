/** The subset of JSON Schema draft-07 our schema files use, plus our own `x-` keywords. */
export interface SchemaNode {
  $ref?: string;
  $schema?: string;
  $comment?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  examples?: unknown[];
  deprecated?: boolean;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  required?: string[];
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
  definitions?: Record<string, SchemaNode>;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  pattern?: string;
  /** Chart.yaml metadata; root only. */
  'x-chart'?: Record<string, unknown>;
  /** Where the chart is published; root only. */
  'x-publish'?: Record<string, unknown>;
  /** Why no template reads this key; exempts it from the values-usage check. */
  'x-unread'?: string;
  [keyword: string]: unknown;
}

/** A schema after bundling: one document, every file reference resolved. */
export interface BundledSchema {
  root: SchemaNode;
  /** Chart.yaml fields, taken from the root's `x-chart`. */
  chart: Record<string, unknown>;
  /** Where the chart is published, from the root's `x-publish` (the generator requires it). */
  publish?: Publish;
}

export interface Publish {
  /** The Helm repository (a static web host) that serves index.yaml, the archives and the schemas. */
  helmRepository: string;
  /** The OCI repository `make publish-oci` pushes to by default. */
  ociRepository: string;
  /** The repository's files on the web, ending in "/": absolute links in the packaged README. */
  docs: string;
}

/** A problem in the schema files that the author must fix; its message says what and where. */
export class SchemaError extends Error {}
