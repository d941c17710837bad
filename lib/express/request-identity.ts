import type { Identity } from '../core/identity.js';

declare global {
  // Express's own typings extend Request through this global namespace (Express 4 and 5).
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The authenticated person, set by `authenticate()`; read-only and frozen. */
      readonly identity?: Identity;
    }
  }
}

export {};
