// An audit sink on pino, for applications that already log with it: each event is one JSON line
// through the application's own logger.
//   app.use(authenticate({ ...fromEnv(), audit: createPinoAuditSink(pino()) }));
import type { Logger } from 'pino';
import type { AuditSink } from 'express-identity-passthrough';

export function createPinoAuditSink(logger: Logger): AuditSink {
  const audit = logger.child({ channel: 'audit' });
  return {
    log(event) {
      audit.info(event, 'audit');
    },
  };
}
