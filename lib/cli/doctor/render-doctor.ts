import type { DoctorCheck } from './doctor-check.js';

const LABEL = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;

/**
 * The doctor's report for the terminal or a pipeline's log: one line per check (`ok`, `warn`
 * or `FAIL`, the check, what was found, and the fix), then a count.
 *
 * @example
 * ```ts
 * process.stdout.write(renderDoctor(checks));
 * ```
 */
export function renderDoctor(checks: readonly DoctorCheck[]): string {
  const width = Math.max(0, ...checks.map((check) => check.id.length)) + 2;
  const lines = checks.map((check) => {
    const fix = check.fix === undefined ? '' : ` Fix: ${check.fix}`;
    return `${LABEL[check.status]}  ${check.id.padEnd(width)}${check.what}.${fix}`;
  });
  const count = (status: DoctorCheck['status']) =>
    checks.filter((check) => check.status === status).length;
  lines.push(`${count('ok')} ok, ${count('warn')} warning(s), ${count('fail')} failed`);
  return `${lines.join('\n')}\n`;
}
