import { types } from 'node:util';
import winston from 'winston';
import { AuditFileTransport } from './audit-file-transport.js';
import type { AuditSink } from './audit-sink.js';

type Transport = winston.transport;

/** Options of `createWinstonAuditSink()`: where the audit log goes. */
export interface WinstonAuditSinkOptions {
  /** Append JSON lines to this file. */
  filename?: string;
  /** Write JSON lines to standard output. Default: true when no other destination is given. */
  console?: boolean;
  /** Any winston transports (HTTP, syslog, cloud loggers...). */
  transports?: Transport[];
  /** A logger of your own; its format and transports are used as they are. */
  logger?: winston.Logger;
  /**
   * Default: 10000. Events accepted but not yet written, at most. winston buffers without limit
   * when its transports fall behind; past this, an event is refused (and reported by the audit
   * policy) rather than held in memory.
   */
  maxQueuedEvents?: number;
}

/** Default: 10000 events waiting for winston's transports. */
export const DEFAULT_MAX_QUEUED_AUDIT_EVENTS = 10_000;

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
 * unhandled `error` event from crashing the process. Under `fail-closed`, `flush()` writes the
 * audit file's batch at once, so the event is on disk before the action it records.
 *
 * @example
 * ```ts
 * app.use(authenticate({ ...fromEnv(), audit: createWinstonAuditSink({ filename: 'audit.log' }) }));
 * ```
 */
export function createWinstonAuditSink(options: WinstonAuditSinkOptions = {}): WinstonAuditSink {
  let failure: Error | undefined;
  let fileFailure: Error | undefined;
  const asError = (error: unknown): Error =>
    types.isNativeError(error) || error instanceof Error
      ? error
      : new Error('audit transport failed');
  const file =
    options.logger === undefined && options.filename !== undefined
      ? openAuditFile(options.filename, {
          onFailure: (error) => {
            fileFailure = asError(error);
          },
          onSuccess: () => {
            fileFailure = undefined;
          },
        })
      : undefined;
  const logger = options.logger ?? createLogger(options, file);
  const maxQueued = options.maxQueuedEvents ?? DEFAULT_MAX_QUEUED_AUDIT_EVENTS;
  logger.on('error', (error: unknown) => {
    failure = asError(error);
  });
  for (const transport of logger.transports) {
    if (transport instanceof AuditFileTransport) continue;
    transport.on('logged', () => {
      failure = undefined;
    });
  }
  const currentFailure = (): Error | undefined => fileFailure ?? failure;
  return {
    logger,
    get failure() {
      return currentFailure();
    },
    log(event) {
      const queued = logger.writableLength + logger.readableLength + (file?.pending ?? 0);
      if (queued >= maxQueued) {
        throw new Error(`audit sink overloaded: ${queued} events are waiting to be written`);
      }
      // Always handed to winston, so a recovered transport can log again and clear the failure;
      // while a failure stands (or happens during this write), the event is also reported.
      logger.log({ level: 'info', message: 'audit', ...event });
      const failed = currentFailure();
      if (failed !== undefined) throw failed;
    },
    flush() {
      // winston hands an event to its transports synchronously unless one has fallen behind;
      // then the event waits inside winston, and is not written whatever the file does.
      const waiting = logger.writableLength + logger.readableLength;
      if (waiting > 0) {
        throw new Error(`${waiting} audit events are waiting behind a transport that is behind`);
      }
      file?.flush();
      const failed = currentFailure();
      if (failed !== undefined) throw failed;
    },
  };
}

function openAuditFile(
  filename: string,
  callbacks: ConstructorParameters<typeof AuditFileTransport>[1],
): AuditFileTransport {
  try {
    return new AuditFileTransport(filename, callbacks);
  } catch (cause) {
    // At startup, naming the option: a missing directory or a read-only volume is found before
    // the first request is served without its audit trail.
    throw new Error(
      `createWinstonAuditSink: option "filename": cannot open ${JSON.stringify(filename)} for appending (${types.isNativeError(cause) ? cause.message : String(cause)})`,
      { cause },
    );
  }
}

function createLogger(
  options: WinstonAuditSinkOptions,
  file: AuditFileTransport | undefined,
): winston.Logger {
  const transports: (
    Transport | AuditFileTransport | winston.transports.ConsoleTransportInstance
  )[] = [...(options.transports ?? [])];
  // Rather than winston's File transport, which writes one event per drain cycle and falls
  // behind a busy server (its queue then grows without bound).
  if (file !== undefined) transports.push(file);
  if (options.console ?? transports.length === 0) {
    transports.push(new winston.transports.Console());
  }
  return winston.createLogger({
    level: 'info',
    format: auditLine(),
    // winston's typings declare its built-in transports (and winston-transport, for the file
    // transport here) apart from the TransportStream class they extend at run time; the
    // instances are the real thing.
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
    transports,
    exitOnError: false,
  });
}

// winston reads the serialized line from this symbol (triple-beam's MESSAGE).
const MESSAGE = Symbol.for('message');

/**
 * One JSON line per event with plain `JSON.stringify`, in the event's own field order. winston's
 * `format.json()` sorts keys and guards against cycles, at three to four times the cost; audit
 * events need neither, since they are built as plain, bounded, acyclic data.
 */
const auditLine = winston.format((info) => {
  (info as unknown as Record<symbol, string>)[MESSAGE] = JSON.stringify(info);
  return info;
});
