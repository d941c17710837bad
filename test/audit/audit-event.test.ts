import { buildAuditEvent } from '../../lib/audit/audit-event.js';
import { createIdentity } from '../../lib/core/identity.js';

const base = {
  action: 'authorize',
  outcome: 'denied' as const,
  reason: 'role_missing',
  status: 403,
  method: 'POST',
  path: '/ai/chat',
  requestId: 'r1',
  ip: '127.0.0.1',
  source: 'ai-assistant',
  now: () => Date.UTC(2026, 0, 2, 3, 4, 5),
};

describe('buildAuditEvent', () => {
  test('keeps the gateway shape and adds who, why and which credential', () => {
    const identity = createIdentity(
      {
        subject: 's1',
        issuer: 'https://idp/',
        provider: 'jwt',
        kind: 'user',
        username: 'alice',
        groups: [],
        roles: ['r'],
        scopes: [],
        attributes: {},
        actor: { subject: 'agent' },
      },
      { type: 'bearer', value: 'secret-token-value', audience: ['api://x'] },
    );
    const event = buildAuditEvent({ ...base, identity, details: { required_roles: ['admin'] } });
    expect(event).toEqual({
      timestamp: '2026-01-02T03:04:05.000Z',
      user: 'alice',
      action: 'authorize',
      resource: 'POST /ai/chat',
      filters: null,
      records_returned: null,
      source: 'ai-assistant',
      ip_address: '127.0.0.1',
      outcome: 'denied',
      reason: 'role_missing',
      status: 403,
      request_id: 'r1',
      provider: 'jwt',
      subject: 's1',
      issuer: 'https://idp/',
      kind: 'user',
      roles: ['r'],
      actor: 'agent',
      token_fingerprint: expect.stringMatching(/^sha256:[A-Za-z0-9_-]{22}$/),
      upstream: null,
      upstream_status: null,
      duration_ms: null,
      details: { required_roles: ['admin'] },
    });
    expect(JSON.stringify(event)).not.toContain('secret-token-value');
  });

  test('control characters in user-controlled fields are escaped (no forged lines, no terminal escapes)', () => {
    const identity = createIdentity({
      subject: 's',
      issuer: 'i',
      provider: 'jwt',
      kind: 'user',
      username: 'eve\n{"user":"admin"}\u001b[31m',
      groups: [],
      roles: ['x\r\ny'],
      scopes: [],
      attributes: {},
    });
    const line = JSON.stringify(
      buildAuditEvent({ ...base, identity, path: '/a\u2028b', details: { 'k\n': 'v\u0007' } }),
    );
    // eslint-disable-next-line no-control-regex
    expect(line).not.toMatch(/[\u0000-\u001f\u2028\u2029]/);
    expect(line).not.toContain('\\n{');
    expect(line).toContain('eve\\\\u000a');
  });

  test('bidi controls, invisible format characters and tag characters are escaped (Trojan Source)', () => {
    const groups = {
      embeddingsAndOverrides: '\u202a\u202b\u202c\u202d\u202e',
      isolates: '\u2066\u2067\u2068\u2069',
      marks: '\u200e\u200f\u061c',
      separators: '\u2028\u2029',
      invisible: '\u200b\u200c\u200d\u2060\ufeff\u00ad',
      // Tag characters: invisible ASCII look-alikes that a model reads as text.
      tags: '\u{e0041}\u{e007f}',
    };
    // Code points, one by one: the tag characters are outside the BMP.
    const tricky = Array.from(Object.values(groups).join(''));
    const identity = createIdentity({
      subject: 's',
      issuer: 'i',
      provider: 'jwt',
      kind: 'user',
      username: `admin${tricky.join('')}`,
      groups: [],
      roles: [],
      scopes: [],
      attributes: {},
    });
    const event = buildAuditEvent({
      ...base,
      identity,
      path: `/files/\u202etxt.exe`,
      details: { [`k\u2066`]: `v${tricky.join('')}` },
      filters: { filter: `a\u2067b` },
    });
    const line = JSON.stringify(event);
    for (const char of tricky) expect(line).not.toContain(char);
    expect(event.resource).toBe('POST /files/\\u202etxt.exe');
    expect(event.user).toContain('\\u200f\\u061c');
    expect(event.user).toContain('\\u{e0041}');
    expect(event.details).toEqual({ 'k\\u2066': expect.stringContaining('\\u2069') });
    expect(event.filters).toEqual({ filter: 'a\\u2067b' });
  });

  test('positive control: ordinary non-ASCII text and emoji are kept as they are', () => {
    const path = '/Zoë/東京/مرحبا/😀/ünïcödé';
    expect(buildAuditEvent({ ...base, identity: undefined, path }).resource).toBe(`POST ${path}`);
  });

  test('long strings are bounded', () => {
    const event = buildAuditEvent({ ...base, identity: undefined, path: `/${'a'.repeat(5000)}` });
    expect(event.resource.length).toBeLessThanOrEqual(513);
  });
});
