import type { z } from 'zod';

/**
 * Validates a factory's options once, at startup, and turns the first problem into a
 * `TypeError` that names the option, says what was expected, and suggests the option the
 * caller probably meant when a key is misspelled.
 */
export function parseOptions<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  factory: string,
): z.output<Schema> {
  rejectMiddlewareCall(input, factory);
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  // A misspelled key also makes the real key "missing"; the misspelling is the useful report.
  const issue =
    result.error.issues.find((candidate) => candidate.code === 'unrecognized_keys') ??
    result.error.issues[0];
  if (issue === undefined) throw new TypeError(`${factory}: invalid options`);
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'options';
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(schema, issue.path);
    const hints = issue.keys.map((key) => {
      const guess = closest(key, known);
      return guess === undefined ? `"${key}"` : `"${key}" (did you mean "${guess}"?)`;
    });
    const prefix = issue.path.length > 0 ? `${where}: ` : '';
    throw new TypeError(`${factory}: ${prefix}unknown option ${hints.join(', ')}`);
  }
  throw new TypeError(`${factory}: option "${where}" ${issue.message}`);
}

// `app.use(authenticate)` instead of `app.use(authenticate({...}))` hands the factory a request;
// without this check it would return a middleware and the request would hang forever.
function rejectMiddlewareCall(input: unknown, factory: string): void {
  if (
    typeof input === 'object' &&
    input !== null &&
    'headers' in input &&
    'method' in input &&
    'socket' in input
  ) {
    throw new TypeError(
      `${factory} is a factory, not a middleware: use app.use(${factory}({ ... })), not app.use(${factory})`,
    );
  }
}

function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  let node: unknown = schema;
  for (const segment of path) {
    node = unwrap(node);
    const shape = (node as { shape?: Record<string, unknown> }).shape;
    if (shape !== undefined && typeof segment === 'string') {
      node = shape[segment];
      continue;
    }
    // An array's items, or a record's values (`upstreams.<name>`).
    const element =
      (node as { element?: unknown }).element ?? (node as { valueType?: unknown }).valueType;
    if (element !== undefined) {
      node = element;
      continue;
    }
    return [];
  }
  const shape = (unwrap(node) as { shape?: Record<string, unknown> }).shape;
  return shape === undefined ? [] : Object.keys(shape);
}

// Looks through optional/nullable/default wrappers only: arrays also have unwrap(), and
// stepping into their element is the job of the numeric path segment.
function unwrap(node: unknown): unknown {
  let current = node as { def?: { type?: string }; unwrap?: () => unknown } | undefined;
  while (
    current !== undefined &&
    ['optional', 'nullable', 'default', 'readonly'].includes(current.def?.type ?? '') &&
    typeof current.unwrap === 'function'
  ) {
    current = current.unwrap() as typeof current;
  }
  return current;
}

/** The known name closest to `input`, if any is within two edits (case-insensitive). */
export function closest(input: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(input.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 3;
}
