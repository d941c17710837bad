// Adding the package to an existing Express AI backend: the README's example, runnable.
//   JWT_ISSUER=... JWT_AUDIENCE=... OAUTH_JWKS_URL=... npx tsx examples/existing-app.ts
import { pathToFileURL } from 'node:url';
import express, { type Express } from 'express';
import {
  authenticate,
  fromEnv,
  getCurrentIdentity,
  identityErrorHandler,
  requireUser,
  type AuthenticateOptions,
} from 'express-identity-passthrough';

export function createApp(auth: AuthenticateOptions): Express {
  const app = express();
  app.use(express.json());
  app.use(authenticate(auth)); // who is the person behind this request?
  app.post('/ai/chat', requireUser({ roles: ['sales_readonly'] }), async (req, res) => {
    const { question } = req.body as { question?: unknown };
    if (typeof question !== 'string') {
      res.status(400).json({ code: 'invalid_request', message: 'Send {"question": "..."}.' });
      return;
    }
    res.json({ user: req.identity?.username, answer: await answer(question) });
  });
  app.use(identityErrorHandler()); // 401/403/503 with a code, a fix, and no stack trace
  return app;
}

// Agent tool code has no `req`, and still knows whom it acts for.
function answer(question: string): Promise<string> {
  const user = getCurrentIdentity();
  return Promise.resolve(`${user?.name ?? user?.username ?? 'nobody'} asked: ${question}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const port = Number(process.env['PORT'] ?? 3000);
  createApp(fromEnv()).listen(port, '127.0.0.1', () => {
    console.log(`AI backend on http://127.0.0.1:${port}/ai/chat`);
  });
}
