import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from './command-io.js';

/**
 * Imports the module given to `--config` (a path, relative to `cwd` unless absolute) and returns
 * its exports. A module that cannot be found or throws while loading is a {@link UsageError}
 * naming the path; the module's own error text is kept to its first line, since a stack trace
 * says nothing to the operator that the path and message do not.
 *
 * @example
 * ```ts
 * const exports = await loadConfigModule('./identity.config.mjs', process.cwd());
 * const options = exports['default'];
 * ```
 */
export async function loadConfigModule(
  path: string,
  cwd: string,
): Promise<Readonly<Record<string, unknown>>> {
  const absolute = isAbsolute(path) ? path : resolve(cwd, path);
  try {
    return (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    throw new UsageError(`--config ${path}: the module could not be loaded (${reason})`);
  }
}

/**
 * The options object a configuration module exports: `options` when it names one, otherwise
 * its default export. Undefined when it exports neither.
 *
 * @example
 * ```ts
 * // identity.config.mjs: export default { issuer, audience, jwksUri };
 * const options = exportedOptions(await loadConfigModule('identity.config.mjs', cwd));
 * ```
 */
export function exportedOptions(exports: Readonly<Record<string, unknown>>): unknown {
  return exports['options'] ?? exports['default'];
}

/**
 * Whether a value is a non-array object (the shape every options object has).
 *
 * @example
 * ```ts
 * isRecord({ issuer: 'x' }); // true
 * isRecord(['x']); // false
 * ```
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
