// createHealthCheck() against real dependencies: a JWKS issuer that stops answering, slapd and a
// port nobody listens on, and winston audit sinks writing to a file and to a full disk.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createBearerAuthenticator,
  createHealthCheck,
  createMemoryAuditSink,
  createWinstonAuditSink,
  DEFAULT_HEALTH_JWKS_STALE_AFTER_MS,
  type HealthCheck,
  type HealthCheckOptions,
} from '../../lib/index.js';
import { createLdapAuthenticator } from '../../lib/ldap.js';
import { freePort } from '../helpers/child-server.js';
import {
  SLAPD_BASE_DN,
  SLAPD_READER,
  SLAPD_USERS,
  startSlapd,
  type Slapd,
} from '../helpers/slapd.js';
import { createTestIssuer, TEST_AUDIENCE, type TestIssuer } from '../helpers/test-issuer.js';
import { waitFor } from './channel-recorder.js';

const checks: HealthCheck[] = [];
function healthCheck(options?: HealthCheckOptions): HealthCheck {
  const check = createHealthCheck(options);
  checks.push(check);
  return check;
}
afterEach(() => {
  for (const check of checks.splice(0)) check.close();
});

describe('options', () => {
  test.each([
    [{ jwksStaleAfterMs: -1 }, /createHealthCheck: option "jwksStaleAfterMs"/],
    [{ jwksUris: ['not a url'] }, /createHealthCheck: option "jwksUris\.0"/],
    [{ auditSink: createMemoryAuditSink() }, /option "auditSink" must be the sink createWinston/],
    [{ auditFailurePolicy: 'closed' }, /option "auditFailurePolicy"/],
    [{ now: 5 }, /option "now" must be a function/],
    [
      { jwksUri: ['https://x.example/jwks'] },
      /unknown option "jwksUri" \(did you mean "jwksUris"\?\)/,
    ],
  ])('%j is refused with a TypeError naming the option', (options, message) => {
    expect(() => createHealthCheck(options as HealthCheckOptions)).toThrow(TypeError);
    expect(() => createHealthCheck(options as HealthCheckOptions)).toThrow(message);
  });

  test('no options: ok, nothing known yet; the default stale window is 25 minutes', () => {
    const report = healthCheck()();
    expect(report).toMatchObject({ status: 'ok', jwks: [], directories: [], audit: null });
    expect(Date.parse(report.checkedAt)).not.toBeNaN();
    expect(DEFAULT_HEALTH_JWKS_STALE_AFTER_MS).toBe(25 * 60_000);
  });
});

describe('JWKS', () => {
  let issuer: TestIssuer;
  beforeEach(async () => {
    issuer = await createTestIssuer();
  });
  afterEach(() => issuer.close());

  test('ok after a fetch; degraded with its error and ages once a fetch fails; down when stale', async () => {
    let clock = Date.now();
    const check = healthCheck({
      jwksUris: [issuer.jwksUri],
      jwksStaleAfterMs: 60_000,
      now: () => clock,
    });
    expect(check().jwks).toEqual([
      {
        url: issuer.jwksUri,
        status: 'unknown',
        cacheAgeMs: null,
        keys: null,
        lastErrorCode: null,
        lastErrorAgeMs: null,
      },
    ]);
    expect(check().status).toBe('ok');

    const api = createBearerAuthenticator({
      issuer: issuer.issuer,
      audience: TEST_AUDIENCE,
      jwksUri: issuer.jwksUri,
    });
    const bearer = async (token: string) =>
      api.authenticate({
        headers: { authorization: `Bearer ${token}` },
        authorization: [`Bearer ${token}`],
        url: '/ai/chat',
        method: 'GET',
      });
    await expect(bearer(await issuer.sign())).resolves.toMatchObject({ username: 'alice' });
    expect(check()).toMatchObject({
      status: 'ok',
      jwks: [{ status: 'ok', cacheAgeMs: 0, keys: 1, lastErrorCode: null }],
    });

    // The endpoint goes away; a token signed with a key never seen makes the next fetch.
    clock += 5_000;
    await issuer.setMode('down');
    await issuer.rotate();
    await expect(bearer(await issuer.sign())).rejects.toMatchObject({
      code: 'identity_provider_unavailable',
    });
    clock += 1_000;
    expect(check()).toMatchObject({
      status: 'degraded',
      jwks: [
        {
          status: 'degraded',
          cacheAgeMs: 6_000,
          keys: 1,
          lastErrorCode: 'unreachable',
          lastErrorAgeMs: 1_000,
        },
      ],
    });

    // Past the window, the cached keys are no longer served either.
    clock += 60_000;
    expect(check()).toMatchObject({
      status: 'down',
      jwks: [{ status: 'down', cacheAgeMs: 66_000, lastErrorCode: 'unreachable' }],
    });
  });

  test('an endpoint that never answered with keys is down, with the code of its failure', async () => {
    const check = healthCheck();
    const api = createBearerAuthenticator({
      issuer: issuer.issuer,
      audience: TEST_AUDIENCE,
      // The issuer serves keys at its exact path only: this URL is answered 404.
      jwksUri: `${issuer.jwksUri}?key=secret-query-value`,
    });
    await expect(api.warm()).rejects.toMatchObject({ code: 'identity_provider_unavailable' });
    const report = check();
    expect(report).toMatchObject({
      status: 'down',
      jwks: [{ url: issuer.jwksUri, status: 'down', cacheAgeMs: null, lastErrorCode: 'http_404' }],
    });
    expect(JSON.stringify(report)).not.toContain('secret-query-value');
  });

  test('after close(), fetches are no longer followed', async () => {
    const check = healthCheck();
    check.close();
    await createBearerAuthenticator({
      issuer: issuer.issuer,
      audience: TEST_AUDIENCE,
      jwksUri: issuer.jwksUri,
    }).warm();
    expect(check().jwks).toEqual([]);
  });
});

describe('directory', () => {
  let slapd: Slapd;
  beforeAll(async () => {
    slapd = await startSlapd();
  }, 60_000);
  afterAll(() => slapd.stop());

  const directory = (port: number) =>
    createLdapAuthenticator({
      type: 'ldap',
      host: '127.0.0.1',
      port,
      ca: slapd.ca,
      baseDn: SLAPD_BASE_DN,
      bindDn: SLAPD_READER.dn,
      bindPassword: SLAPD_READER.password,
      connectTimeoutMs: 1_000,
    });

  test('reachable after a sign-in, a wrong password included; degraded when unreachable', async () => {
    let clock = Date.now();
    const check = healthCheck({ now: () => clock });
    const { alice } = SLAPD_USERS;
    const port = Number(new URL(slapd.ldapsUrl).port);
    await expect(
      directory(port).authenticate({ username: alice.uid, password: 'wrong-Pass-1' }),
    ).rejects.toMatchObject({ code: 'invalid_credentials' });
    clock += 2_000;
    expect(check()).toMatchObject({
      status: 'ok',
      directories: [
        {
          url: `ldaps://127.0.0.1:${port}`,
          status: 'ok',
          lastOutcome: 'refused',
          ageMs: 2_000,
          lastErrorCode: 'invalid_credentials',
        },
      ],
    });

    const closed = await freePort();
    await expect(
      directory(closed).authenticate({ username: alice.uid, password: alice.password }),
    ).rejects.toMatchObject({ code: 'identity_provider_unavailable' });
    const report = check();
    expect(report.status).toBe('degraded');
    expect(report.directories).toEqual([
      expect.objectContaining({ status: 'ok', lastOutcome: 'refused' }),
      {
        url: `ldaps://127.0.0.1:${closed}`,
        status: 'degraded',
        lastOutcome: 'error',
        ageMs: 0,
        lastErrorCode: 'unreachable',
      },
    ]);
    expect(JSON.stringify(report)).not.toContain(alice.password);
  });
});

describe('audit sink', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eip-health-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const event = {
    timestamp: new Date().toISOString(),
    user: 'alice',
    action: 'authenticate',
    resource: 'GET /',
    outcome: 'allowed',
    reason: 'ok',
  } as unknown as Parameters<ReturnType<typeof createWinstonAuditSink>['log']>[0];

  test('a sink that writes is ok; one on a full disk shows its failure, down under fail-closed', async () => {
    const working = createWinstonAuditSink({ filename: join(dir, 'audit.log') });
    const full = createWinstonAuditSink({ filename: '/dev/full' });
    try {
      working.log(event);
      full.log(event);
      await waitFor(() => full.failure !== undefined, 'the failed write');
      expect(healthCheck({ auditSink: working })().audit).toEqual({
        status: 'ok',
        failing: false,
        errorCode: null,
      });
      const open = healthCheck({ auditSink: full })();
      expect(open).toMatchObject({
        status: 'degraded',
        audit: { status: 'degraded', failing: true, errorCode: 'ENOSPC' },
      });
      const closed = healthCheck({ auditSink: full, auditFailurePolicy: 'fail-closed' })();
      expect(closed).toMatchObject({ status: 'down', audit: { status: 'down', failing: true } });
      // The library's text stays in the logs.
      expect(JSON.stringify(closed)).not.toContain(full.failure?.message ?? '(none)');
    } finally {
      working.logger.close();
      full.logger.close();
    }
  });
});
