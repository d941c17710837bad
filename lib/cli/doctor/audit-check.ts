import { open, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { isRecord } from '../explain/config-module.js';
import { fail, ok, problemOf, warn, type DoctorCheck } from './doctor-check.js';

/**
 * Whether the audit file can be written: it is opened for appending and closed again, as the
 * winston sink opens it at startup, without writing an event into it (a file that did not
 * exist is left empty). `options` are those of `createWinstonAuditSink()`; only `filename`
 * is read, relative to `cwd`.
 *
 * @example
 * ```ts
 * await checkAuditFile({ filename: '/var/log/ai-assistant/audit.log' }, process.cwd());
 * ```
 */
export async function checkAuditFile(options: unknown, cwd: string): Promise<DoctorCheck> {
  const filename = isRecord(options) ? options['filename'] : undefined;
  if (typeof filename !== 'string' || filename === '') {
    return warn(
      'audit.file',
      'no "filename": events go to standard output or to your own transports',
      'Give "filename" to check the audit file.',
    );
  }
  const path = isAbsolute(filename) ? filename : resolve(cwd, filename);
  const existed = await stat(path).then(
    () => true,
    () => false,
  );
  try {
    const handle = await open(path, 'a');
    await handle.close();
  } catch (error) {
    return fail(
      'audit.file',
      `${path} cannot be opened for appending: ${problemOf(error)}`,
      'Create its directory, and let the service account write there; under fail-closed, no request is served without it.',
    );
  }
  return ok('audit.file', `${path} can be appended to${existed ? '' : ' (created, empty)'}`);
}
