import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { buildAuditEvent, type AuditEventInput } from '../../lib/audit/audit-event.js';
import { createWinstonAuditSink, toEcs, type AuditEvent } from '../../lib/index.js';
import { buildApp } from '../helpers/app.js';
import { waitForJsonLines } from '../helpers/files.js';
import { serve } from '../helpers/http.js';
import { TEST_AUDIENCE, useTestIssuer } from '../helpers/test-issuer.js';
import { alice } from '../outbound/outbound-fixtures.js';

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const base: AuditEventInput = {
  action: 'forward',
  outcome: 'allowed',
  reason: 'ok',
  status: null,
  method: 'GET',
  path: '/api/v2/orders/_table/orders',
  requestId: '4bf92f3577b34da6a3ce929d0e0e4736',
  ip: '192.0.2.7',
  source: 'ai-assistant',
  identity: undefined,
  now: () => NOW,
};

/** A forwarded call with every field of the event filled. */
function forwardedCall(): AuditEvent {
  return buildAuditEvent({
    ...base,
    identity: alice(),
    actor: 'claude-desktop',
    filters: { region: 'EMEA' },
    recordsReturned: 12,
    upstream: 'dreamfactory',
    upstreamStatus: 200,
    durationMs: 41.5,
    details: { table: 'orders' },
  });
}

describe('toEcs', () => {
  test('maps every field of a forwarded call to its ECS name, or to identity_passthrough.*', () => {
    const event = forwardedCall();
    expect(toEcs(event)).toEqual({
      '@timestamp': '2026-01-02T03:04:05.000Z',
      ecs: { version: '8.11.0' },
      event: {
        kind: 'event',
        type: ['allowed'],
        action: 'forward',
        outcome: 'success',
        reason: 'ok',
        dataset: 'identity_passthrough.audit',
        duration: 41_500_000,
      },
      user: { name: 'alice', id: 'u-alice', roles: ['sales_readonly'] },
      client: { address: '192.0.2.7', ip: '192.0.2.7' },
      source: { address: '192.0.2.7', ip: '192.0.2.7' },
      http: { request: { id: '4bf92f3577b34da6a3ce929d0e0e4736', method: 'GET' } },
      url: { path: '/api/v2/orders/_table/orders' },
      trace: { id: '4bf92f3577b34da6a3ce929d0e0e4736' },
      service: { name: 'ai-assistant', target: { name: 'dreamfactory' } },
      related: { user: ['alice', 'u-alice'], ip: ['192.0.2.7'] },
      identity_passthrough: {
        resource: 'GET /api/v2/orders/_table/orders',
        provider: 'jwt',
        issuer: 'https://idp.example.com/',
        kind: 'user',
        actor: 'claude-desktop',
        token_fingerprint: event.token_fingerprint,
        filters: { region: 'EMEA' },
        records_returned: 12,
        upstream_status: 200,
        details: { table: 'orders' },
      },
    });
  });

  test('every field of the event, when it has a value, is found in the ECS form', () => {
    const refusal = buildAuditEvent({
      ...base,
      outcome: 'denied',
      reason: 'role_missing',
      status: 403,
    });
    const found = new Set<string>();
    for (const event of [forwardedCall(), refusal]) {
      const ecs = JSON.stringify(toEcs(event));
      // Positive control: a value that is not in the event is not found either.
      expect(ecs).not.toContain('"not-in-the-event"');
      for (const [field, value] of Object.entries(event)) {
        if (value === null) continue; // absent in ECS, as ECS wants it
        const json =
          field === 'timestamp'
            ? `"@timestamp":${JSON.stringify(value)}`
            : field === 'duration_ms'
              ? `"duration":${String((value as number) * 1e6)}`
              : JSON.stringify(value);
        if (ecs.includes(json)) found.add(field);
      }
    }
    expect([...found].sort()).toEqual(Object.keys(forwardedCall()).sort());
  });

  test('a refusal before anyone is identified: no user, the status, failure', () => {
    const event = buildAuditEvent({
      ...base,
      action: 'authenticate',
      outcome: 'denied',
      reason: 'credentials_missing',
      status: 401,
      method: 'POST',
      path: '/ai/chat',
    });
    const ecs = toEcs(event);
    expect(ecs.user).toBeUndefined();
    expect(ecs.related).toEqual({ ip: ['192.0.2.7'] });
    expect(ecs.event).toEqual({
      kind: 'event',
      category: ['authentication'],
      type: ['info', 'denied'],
      action: 'authenticate',
      outcome: 'failure',
      reason: 'credentials_missing',
      dataset: 'identity_passthrough.audit',
    });
    expect(ecs.http).toEqual({
      request: { id: '4bf92f3577b34da6a3ce929d0e0e4736', method: 'POST' },
      response: { status_code: 401 },
    });
    expect(ecs.identity_passthrough).toEqual({ resource: 'POST /ai/chat' });
  });

  test.each([
    ['allowed', 'success', 'allowed'],
    ['denied', 'failure', 'denied'],
    ['error', 'failure', 'error'],
    ['something new', 'unknown', 'info'],
  ])('outcome %s is event.outcome %s and event.type %s', (outcome, ecsOutcome, type) => {
    const event = { ...forwardedCall(), outcome } as unknown as AuditEvent;
    expect(toEcs(event).event).toEqual(
      expect.objectContaining({ outcome: ecsOutcome, type: [type] }),
    );
  });

  test.each([
    ['sign_in', ['start', 'allowed']],
    ['sign_out', ['end', 'allowed']],
    ['authenticate', ['info', 'allowed']],
  ])('%s is in the authentication category, typed %j', (action, type) => {
    const ecs = toEcs({ ...forwardedCall(), action });
    expect(ecs.event.category).toEqual(['authentication']);
    expect(ecs.event.type).toEqual(type);
  });

  test('an action named like an Object property is no authentication (actions are any string)', () => {
    const ecs = toEcs({ ...forwardedCall(), action: 'constructor' });
    expect(ecs.event.category).toBeUndefined();
    expect(ecs.event.type).toEqual(['allowed']);
  });

  test('an address that is not an IP stays out of client.ip (an index maps it as ip)', () => {
    const ecs = toEcs({ ...forwardedCall(), ip_address: 'unix:/run/app.sock' });
    expect(ecs.client).toEqual({ address: 'unix:/run/app.sock' });
    expect(ecs.related).toEqual({ user: ['alice', 'u-alice'] });
    // Positive control: an IPv6 address is an IP.
    expect(toEcs({ ...forwardedCall(), ip_address: '::ffff:127.0.0.1' }).client).toEqual({
      address: '::ffff:127.0.0.1',
      ip: '::ffff:127.0.0.1',
    });
  });

  test('a resource that is not METHOD /path (an MCP tool) sets neither url.path nor the method', () => {
    const ecs = toEcs({ ...forwardedCall(), resource: 'search_orders' });
    expect(ecs.url).toBeUndefined();
    expect(ecs.http.request).toEqual({ id: '4bf92f3577b34da6a3ce929d0e0e4736' });
    expect(ecs.identity_passthrough['resource']).toBe('search_orders');
  });
});

describe('createWinstonAuditSink({ fields }) with a real request through authenticate()', () => {
  const idp = useTestIssuer();
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eip-ecs-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  async function linesOf(fields: 'gateway' | 'ecs' | 'both', name: string) {
    const file = join(dir, name);
    const audit = createWinstonAuditSink({ filename: file, fields });
    const agent = await serve(
      buildApp(express, {
        issuer: idp.issuer,
        audience: TEST_AUDIENCE,
        jwksUri: idp.jwksUri,
        audit,
      }),
    );
    await agent
      .post('/ai/chat')
      .set('Authorization', `Bearer ${await idp.sign()}`)
      .set('X-Request-Id', 'req-allowed-1');
    await agent.post('/ai/chat').set('X-Request-Id', 'req-denied-1');
    return waitForJsonLines(file, 2);
  }

  test("'ecs': the exact fields of an allowed and a refused request", async () => {
    const [allowed, denied] = await linesOf('ecs', 'ecs.log');
    expect(allowed).toEqual({
      '@timestamp': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      'log.level': 'info',
      message: 'audit',
      ecs: { version: '8.11.0' },
      event: {
        kind: 'event',
        type: ['allowed'],
        action: 'authorize',
        outcome: 'success',
        reason: 'ok',
        dataset: 'identity_passthrough.audit',
      },
      user: { name: 'alice', id: 'user-alice', roles: [] },
      client: { address: '127.0.0.1', ip: '127.0.0.1' },
      source: { address: '127.0.0.1', ip: '127.0.0.1' },
      http: { request: { id: 'req-allowed-1', method: 'POST' } },
      url: { path: '/ai/chat' },
      trace: { id: 'req-allowed-1' },
      service: { name: 'ai-assistant' },
      related: { user: ['alice', 'user-alice'], ip: ['127.0.0.1'] },
      identity_passthrough: {
        resource: 'POST /ai/chat',
        provider: 'jwt',
        issuer: idp.issuer,
        kind: 'user',
        token_fingerprint: expect.stringMatching(/^jti:/),
      },
    });
    expect(denied).toEqual({
      '@timestamp': expect.any(String),
      'log.level': 'info',
      message: 'audit',
      ecs: { version: '8.11.0' },
      event: {
        kind: 'event',
        category: ['authentication'],
        type: ['info', 'denied'],
        action: 'authenticate',
        outcome: 'failure',
        reason: 'credentials_missing',
        dataset: 'identity_passthrough.audit',
      },
      client: { address: '127.0.0.1', ip: '127.0.0.1' },
      source: { address: '127.0.0.1', ip: '127.0.0.1' },
      http: { request: { id: 'req-denied-1', method: 'POST' }, response: { status_code: 401 } },
      url: { path: '/ai/chat' },
      trace: { id: 'req-denied-1' },
      service: { name: 'ai-assistant' },
      related: { ip: ['127.0.0.1'] },
      identity_passthrough: { resource: 'POST /ai/chat' },
    });
  });

  test("'gateway' (the default) is the package's own shape, unchanged", async () => {
    const [allowed] = await linesOf('gateway', 'gateway.log');
    expect(Object.keys(allowed ?? {})).toEqual([
      'level',
      'message',
      'timestamp',
      'user',
      'action',
      'resource',
      'filters',
      'records_returned',
      'source',
      'ip_address',
      'outcome',
      'reason',
      'status',
      'request_id',
      'provider',
      'subject',
      'issuer',
      'kind',
      'roles',
      'actor',
      'token_fingerprint',
      'upstream',
      'upstream_status',
      'duration_ms',
      'details',
    ]);
    expect(allowed).not.toHaveProperty(['@timestamp']);
  });

  test("'both': the ECS fields, and the package's beside them except user and source", async () => {
    const [allowed] = await linesOf('both', 'both.log');
    expect(allowed).toEqual(
      expect.objectContaining({
        level: 'info',
        'log.level': 'info',
        timestamp: allowed?.['@timestamp'],
        action: 'authorize',
        ip_address: '127.0.0.1',
        request_id: 'req-allowed-1',
        subject: 'user-alice',
        user: { name: 'alice', id: 'user-alice', roles: [] },
        source: { address: '127.0.0.1', ip: '127.0.0.1' },
        service: { name: 'ai-assistant' },
        event: expect.objectContaining({ action: 'authorize', outcome: 'success' }),
      }),
    );
  });
});
