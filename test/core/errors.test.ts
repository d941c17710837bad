import express from 'express';
import {
  IDENTITY_ERROR_CODES,
  IdentityError,
  identityErrorHandler,
  isIdentityError,
} from '../../lib/index.js';
import { clientMessage } from '../../lib/core/errors.js';
import { closeServers, serve } from '../helpers/http.js';

afterAll(() => closeServers());

describe('IdentityError', () => {
  test('every code maps to a status in 400-504 and 5xx codes are not exposed', () => {
    for (const code of IDENTITY_ERROR_CODES) {
      const error = new IdentityError(code, 'message');
      expect([400, 401, 403, 404, 413, 415, 422, 429, 500, 502, 503, 504]).toContain(error.status);
      expect(error.expose).toBe(error.status < 500);
      expect(isIdentityError(error)).toBe(true);
    }
  });

  test('401 invalid_token carries the RFC 6750 challenge with realm, error and description', () => {
    const error = new IdentityError('token_expired', 'The access token has expired.');
    expect(error.wwwAuthenticate('ai')).toBe(
      'Bearer realm="ai", error="invalid_token", error_description="The access token has expired."',
    );
  });

  test('no credential: a challenge without an error attribute (RFC 6750 §3.1)', () => {
    expect(new IdentityError('credentials_missing', 'x').wwwAuthenticate()).toBe('Bearer');
    expect(new IdentityError('credentials_missing', 'x').wwwAuthenticate('r')).toBe(
      'Bearer realm="r"',
    );
  });

  test('insufficient_scope names the scopes; other 403s and 503 carry no challenge', () => {
    const error = new IdentityError('insufficient_scope', 'needs more', {
      requiredScopes: ['a', 'b'],
    });
    expect(error.wwwAuthenticate()).toBe(
      'Bearer error="insufficient_scope", error_description="needs more", scope="a b"',
    );
    expect(new IdentityError('role_missing', 'x').wwwAuthenticate()).toBeUndefined();
    expect(
      new IdentityError('identity_provider_unavailable', 'x').wwwAuthenticate(),
    ).toBeUndefined();
    expect(new IdentityError('identity_provider_unavailable', 'x').headers).toEqual({
      'Cache-Control': 'no-store',
    });
  });

  test('quotes, backslashes, control and non-ASCII characters cannot break the header', () => {
    const challenge =
      new IdentityError(
        'token_malformed',
        'a "quoted"\\ line\r\nSet-Cookie: x=1 é',
      ).wwwAuthenticate() ?? '';
    expect(challenge).not.toMatch(/[\r\n]/);
    expect(challenge).toBe(
      "Bearer error=\"invalid_token\", error_description=\"a 'quoted'' line''Set-Cookie: x=1 '\"",
    );
  });

  test('details and scopes are frozen; the cause is kept', () => {
    const cause = new Error('inner');
    const error = new IdentityError('token_expired', 'x', { cause, details: { claim: 'exp' } });
    expect(error.cause).toBe(cause);
    expect(Object.isFrozen(error.details)).toBe(true);
    expect(isIdentityError(new Error('plain'))).toBe(false);
    expect(isIdentityError({ name: 'IdentityError', code: 'token_expired' })).toBe(false);
  });
});

describe('what the client is told of a 5xx', () => {
  const serverCodes = IDENTITY_ERROR_CODES.filter(
    (code) => new IdentityError(code, 'x').status >= 500,
  );

  test('every 5xx code has a message of its own, never the internal one', () => {
    const messages = serverCodes.map((code) =>
      clientMessage(new IdentityError(code, 'internal detail')),
    );
    expect(new Set(messages).size).toBe(serverCodes.length);
    for (const message of messages) {
      expect(message).not.toContain('internal detail');
      expect(message.length).toBeGreaterThan(20);
    }
  });

  test.each([
    ['audit_unavailable', /audit/i],
    ['session_store_unavailable', /session store/i],
    ['identity_provider_unavailable', /identity provider/i],
    ['upstream_timeout', /data API.*in time/i],
    ['upstream_response_too_large', /data API.*larger/i],
  ] as const)('%s says what is unavailable, and what to do', (code, subject) => {
    const message = clientMessage(new IdentityError(code, 'x'));
    expect(message).toMatch(subject);
    expect(message).toMatch(/retry|ask|operator|administrator/i);
    if (code !== 'identity_provider_unavailable') expect(message).not.toMatch(/identity provider/i);
  });

  test('an exposed (4xx) error is told as it is', () => {
    expect(clientMessage(new IdentityError('role_missing', 'Needs the role sales.'))).toBe(
      'Needs the role sales.',
    );
  });

  test.each(['audit_unavailable', 'session_store_unavailable', 'upstream_timeout'] as const)(
    'the error handler renders %s with its own message',
    async (code) => {
      const app = express();
      app.get('/', (_req, _res, next) => next(new IdentityError(code, 'internal detail')));
      app.use(identityErrorHandler());
      const res = await (await serve(app)).get('/');
      expect(res.body).toEqual({
        code,
        message: clientMessage(new IdentityError(code, 'x')),
        request_id: null,
      });
    },
  );
});
