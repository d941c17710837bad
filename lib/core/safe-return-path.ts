/**
 * A same-site path to return to after sign-in, or `/`. Only a path is accepted: a full URL,
 * `//host` or `/\host` (which browsers treat as another host) would make the sign-in an open
 * redirect to a look-alike page.
 */
export function safeReturnPathOf(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1_024) return '/';
  // eslint-disable-next-line no-control-regex
  if (!value.startsWith('/') || /^\/[/\\]/.test(value) || /[\u0000-\u001f\\]/.test(value)) {
    return '/';
  }
  const base = 'https://same-site.invalid';
  try {
    const url = new URL(value, base);
    const path = `${url.pathname}${url.search}${url.hash}`;
    // Normalising can create what the first check refused: `/.//evil.example` becomes
    // `//evil.example`. The result is checked again.
    return url.origin === base && !/^\/[/\\]/.test(path) ? path : '/';
  } catch {
    return '/';
  }
}
