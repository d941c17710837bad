import { lazySchema } from './lazy-zod.js';

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** HTTPS, or plain HTTP on the loopback interface only (local development and tests). */
export const secureUrl = lazySchema((z) =>
  z.string().refine(
    (value) => {
      try {
        const url = new URL(value);
        return (
          url.protocol === 'https:' || (url.protocol === 'http:' && loopbackHosts.has(url.hostname))
        );
      } catch {
        return false;
      }
    },
    { message: 'must be an https:// URL (http:// is accepted on 127.0.0.1 and localhost only)' },
  ),
);
