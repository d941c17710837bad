/**
 * A URL as monitoring may show it: without user name, password, query string or fragment,
 * where a configured URL may carry a credential or a key.
 */
export function withoutSecrets(raw: string): string {
  try {
    const url = new URL(raw);
    url.username = '';
    url.password = '';
    url.search = '';
    url.hash = '';
    return url.href;
  } catch {
    return '(invalid url)';
  }
}
