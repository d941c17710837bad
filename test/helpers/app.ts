import {
  authenticate,
  getCurrentIdentity,
  identityErrorHandler,
  requireUser,
  type AuthenticateOptions,
  type RequireUserOptions,
} from '../../lib/index.js';
import type { EXPRESS_VERSIONS } from './http.js';

type ExpressFactory = (typeof EXPRESS_VERSIONS)[number][1];

/**
 * The smallest AI backend: authentication on every route, `/me` echoing the identity, and
 * `POST /ai/chat` behind the route guard.
 */
export function buildApp(
  express: ExpressFactory,
  options: AuthenticateOptions,
  guard: RequireUserOptions = {},
): ReturnType<ExpressFactory> {
  const app = express();
  app.use(express.urlencoded({ extended: false }));
  app.use(authenticate(options));
  app.get('/me', (req, res) => {
    res.json({ identity: req.identity ?? null, scoped: getCurrentIdentity()?.subject ?? null });
  });
  app.post('/ai/chat', requireUser(guard), (req, res) => {
    res.json({
      answer: 'ok',
      user: req.identity?.username,
      scoped: getCurrentIdentity()?.username,
    });
  });
  app.use(identityErrorHandler());
  return app;
}
