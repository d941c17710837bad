import { checkSameOrigin, readSessionCookie } from '../../lib/core/session-cookie.js';

const allowed = new Set(['https://assistant.example.test']);
const attempt = (method: string, headers: Record<string, string>) => () => {
  checkSameOrigin(method, headers, allowed);
};

describe('checkSameOrigin (the CSRF defence of cookie sessions)', () => {
  test('safe methods pass; unsafe ones need an allowed Origin', () => {
    expect(attempt('GET', {})).not.toThrow();
    expect(attempt('POST', { origin: 'https://assistant.example.test' })).not.toThrow();
    expect(attempt('POST', { origin: 'https://evil.example' })).toThrow(
      expect.objectContaining({ code: 'csrf_refused', status: 403 }),
    );
    expect(attempt('DELETE', {})).toThrow(expect.objectContaining({ code: 'csrf_refused' }));
  });

  test('Referer stands in only when Origin is absent', () => {
    expect(attempt('POST', { referer: 'https://assistant.example.test/chat' })).not.toThrow();
    expect(attempt('POST', { referer: 'https://evil.example/x' })).toThrow(
      expect.objectContaining({ code: 'csrf_refused' }),
    );
  });

  test('Origin "null" (a sandboxed frame) is refused, whatever the Referer says', () => {
    expect(
      attempt('POST', { origin: 'null', referer: 'https://assistant.example.test/chat' }),
    ).toThrow(expect.objectContaining({ code: 'csrf_refused' }));
  });

  test('a WebSocket upgrade is checked like a POST', () => {
    expect(attempt('GET', { upgrade: 'websocket', origin: 'https://evil.example' })).toThrow(
      expect.objectContaining({ code: 'csrf_refused' }),
    );
    expect(
      attempt('GET', { upgrade: 'websocket', origin: 'https://assistant.example.test' }),
    ).not.toThrow();
  });
});

describe('readSessionCookie', () => {
  test('finds the named cookie among others; none when absent or empty', () => {
    expect(readSessionCookie('a=1; __Host-eip-session=tok; b=2', '__Host-eip-session')).toBe('tok');
    expect(readSessionCookie('a=1', '__Host-eip-session')).toBeUndefined();
    expect(readSessionCookie('__Host-eip-session=', '__Host-eip-session')).toBeUndefined();
    expect(readSessionCookie(undefined, '__Host-eip-session')).toBeUndefined();
  });
});
