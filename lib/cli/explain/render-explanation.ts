import type { Explanation } from './explanation.js';
import type { IdentitySummary } from './identity-report.js';
import { bounded } from './token-view.js';

const LABEL = { pass: 'PASS', fail: 'FAIL', skip: 'SKIP' } as const;
const ID_WIDTH = 16;

/**
 * The explanation as the terminal shows it: one line per check (PASS, FAIL or SKIP, the check,
 * its facts), the refusal and the fix under the failing one, the identity, and what the route
 * answers.
 *
 * @example
 * ```ts
 * process.stdout.write(renderExplanation(await explainToken({ token, settings, guard })));
 * ```
 */
export function renderExplanation(explanation: Explanation): string {
  const { token, route } = explanation;
  const lines = [
    `settings  ${explanation.settings}; trusted issuers: ${explanation.trustedIssuers.join(', ')}`,
    `token     ${token.fingerprint} (${token.bytes} bytes${token.jti === null ? '' : `, jti ${token.jti}`})`,
    '',
  ];
  for (const check of explanation.checks) {
    lines.push(`${LABEL[check.status]}  ${check.id.padEnd(ID_WIDTH)}${check.summary}`);
    if (check.refusal !== undefined) {
      const { status, code, message } = check.refusal;
      lines.push(`      ${'refused'.padEnd(ID_WIDTH)}${status} ${code}: ${message}`);
    }
    if (typeof check.fix === 'string') lines.push(`      ${'fix'.padEnd(ID_WIDTH)}${check.fix}`);
  }
  if (explanation.identity !== undefined) lines.push('', ...identityLines(explanation.identity));
  const answer = route.code === null ? '200: the request passes' : `${route.status} ${route.code}`;
  lines.push('', `route     authenticate() then ${route.guard} answers ${answer}`);
  lines.push(`verdict   ${explanation.passes ? 'passes' : 'refused'}`);
  return `${lines.join('\n')}\n`;
}

function identityLines(identity: IdentitySummary): string[] {
  const field = (name: string, value: string) => `  ${name.padEnd(12)}${value}`;
  const list = (values: readonly string[]) => (values.length === 0 ? '-' : values.join(', '));
  const attributes = Object.entries(identity.attributes).map(
    ([name, value]) => `${name}=${bounded(JSON.stringify(value), 100)}`,
  );
  return [
    `identity${identity.verified ? '' : ' (from the unverified claims: the token was refused before mapping)'}`,
    field('subject', identity.subject),
    field(
      'username',
      `${identity.username}${identity.usernameClaim === undefined ? '' : ` (claim ${identity.usernameClaim})`}`,
    ),
    field('email', identity.email ?? '-'),
    field(
      'kind',
      identity.kind === 'user'
        ? 'user'
        : `service (rule ${identity.serviceAccountRule ?? 'unknown'}: ${identity.serviceAccountReason ?? ''})`,
    ),
    field('client', identity.clientId ?? '-'),
    field('scopes', list(identity.scopes)),
    field(
      'groups',
      `${list(identity.groups)} (claim ${identity.groupClaims.join(', ')})${identity.groupsComplete ? '' : ', incomplete: groups overage'}`,
    ),
    field(
      'roles',
      `${list(identity.roles)}${identity.mappedRoles.length === 0 ? '' : ` (role_mapping: ${identity.mappedRoles.join('; ')})`}`,
    ),
    ...(attributes.length === 0 ? [] : [field('attributes', attributes.join(', '))]),
  ];
}
