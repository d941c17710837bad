import winston from 'winston';
import type { AuditSink } from './audit-sink.js';

type Transport = winston.transport;

export interface WinstonAuditSinkOptions {
  /** Append JSON lines to this file. */
  filename?: string;
  /** Write JSON lines to standard output. Default: true when no other destination is given. */
  console?: boolean;
  /** Any winston transports (HTTP, syslog, cloud loggers...). */
  transports?: Transport[];
  /** A logger of your own; its format and transports are used as they are. */
  logger?: winston.Logger;
}

/** An audit sink on winston, with whether its transports are currently failing. */
export interface WinstonAuditSink extends AuditSink {
  readonly logger: winston.Logger;
  /** The last transport error, until a transport logs successfully again. */
  readonly failure: Error | undefined;
}

/**
 * The default audit sink: one JSON line per event through winston, to standard output, a file,
 * or any winston transport.
 *
 * winston reports transport failures as events rather than to the caller, so this sink listens
 * for them: an event written while a transport is failing throws, which the audit policy turns
 * into a report (`fail-open`) or a refusal (`fail-closed`). The listener also keeps an
 * unhandled `error` event from crashing the process.
 *
 * @example
 * ```ts
 * app.use(authenticate({ ...fromEnv(), audit: createWinstonAuditSink({ filename: 'audit.log' }) }));
 * ```
 */
export function createWinstonAuditSink(options: WinstonAuditSinkOptions = {}): WinstonAuditSink {
  const logger = options.logger ?? createLogger(options);
  let failure: Error | undefined;
  const currentFailure = (): Error | undefined => failure;
  logger.on('error', (error: unknown) => {
    failure = error instanceof Error ? error : new Error('audit transport failed');
  });
  for (const transport of logger.transports) {
    transport.on('logged', () => {
      failure = undefined;
    });
  }
  return {
    logger,
    get failure() {
      return failure;
    },
    log(event) {
      // Always handed to winston, so a recovered transport can log again and clear the failure;
      // while a failure stands (or happens during this write), the event is also reported.
      logger.log({ level: 'info', message: 'audit', ...event });
      const failed = currentFailure();
      if (failed !== undefined) throw failed;
    },
  };
}

function createLogger(options: WinstonAuditSinkOptions): winston.Logger {
  const transports: (
    | Transport
    | winston.transports.FileTransportInstance
    | winston.transports.ConsoleTransportInstance
  )[] = [...(options.transports ?? [])];
  if (options.filename !== undefined) {
    transports.push(new winston.transports.File({ filename: options.filename }));
  }
  if (options.console ?? transports.length === 0) {
    transports.push(new winston.transports.Console());
  }
  return winston.createLogger({
    level: 'info',
    format: winston.format.json(),
    // winston's typings declare its built-in transports apart from the TransportStream class
    // they extend at run time; the instances are the real thing.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    transports,
    exitOnError: false,
  });
}
