import { createRequire } from 'node:module';
import { types } from 'node:util';
import type winston from 'winston';
import { AuditFileTransport, type AuditFileOptions } from './audit-file-transport.js';
import { AUDIT_RECORD_SHAPES, type AuditRecordShape } from './audit-record.js';
import type { AuditSink } from './audit-sink.js';
import {
  winstonSinkSettings,
  type WinstonAuditSinkOptions,
  type WinstonSinkSettings,
} from './winston-sink-options.js';

export {
  DEFAULT_MAX_QUEUED_AUDIT_EVENTS,
  DEFAULT_ROTATION_CHECK_INTERVAL_MS,
} from './winston-sink-options.js';
export type { WinstonAuditSinkOptions } from './winston-sink-options.js';

type Transport = winston.transport;

/** An audit sink on winston, with whether its transports are currently failing. */
export interface WinstonAuditSink extends AuditSink {
  readonly logger: winston.Logger;
  /** The last transport error, until a transport logs successfully again. */
  readonly failure: Error | undefined;
  /**
   * Continues the audit file in a new file at `filename`, after logrotate (or anyone) renamed
   * it away: call it from a SIGHUP handler or logrotate's `postrotate`, or set
   * `reopenOnRotation`. Does nothing without `filename`.
   */
  reopen(): void;
  /**
   * Writes a signed checkpoint now, covering every event logged before the call (with the
   * `integrity` option; rejects without it): before a graceful shutdown, so that the file ends
   * on a checkpoint. Resolves once it is written.
   */
  checkpoint(): Promise<void>;
}

const requireHere = createRequire(import.meta.url);
let winstonModule: typeof winston | undefined;

// Loaded on the first sink, not when the package is imported: winston and its dependencies
// take longer to load than the rest of the package, and many applications give their own sink.
function loadWinston(): typeof winston {
  winstonModule ??= requireHere('winston') as typeof winston;
  return winstonModule;
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
 * `fields: 'ecs'` writes Elastic Common Schema names (see `toEcs()`); `integrity` makes the
 * file tamper-evident (chained lines and signed checkpoints, checked by the `verify` command);
 * `reopenOnRotation` follows logrotate. The options are checked here, once: a bad one throws a
 * TypeError that names it.
 *
 * @example
 * ```ts
 * const audit = createWinstonAuditSink({
 *   filename: '/var/log/ai-backend/audit.log',
 *   fields: 'ecs',
 *   integrity: { key: readFileSync('/etc/ai-backend/audit-signing.pem', 'utf8') },
 *   reopenOnRotation: true,
 * });
 * app.use(authenticate({ ...fromEnv(), audit }));
 * ```
 */
export function createWinstonAuditSink(options: WinstonAuditSinkOptions = {}): WinstonAuditSink {
  const settings = winstonSinkSettings(options);
  const shape = AUDIT_RECORD_SHAPES[settings.fields];
  let failure: Error | undefined;
  let fileFailure: Error | undefined;
  const file =
    settings.logger === undefined && settings.filename !== undefined
      ? openAuditFile(settings.filename, {
          onFailure: (error) => {
            fileFailure = asError(error);
          },
          onSuccess: () => {
            fileFailure = undefined;
          },
          integrity: settings.integrity,
          rotationCheckIntervalMs: settings.rotationCheckIntervalMs,
        })
      : undefined;
  const logger = settings.logger ?? createLogger(settings, file, shape);
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
  // When the audit file is the logger's only transport, its lines go to it directly: winston's
  // logger is a stream, and its hop per event (a Transform, its buffering, the pipe to the
  // transport) cost more CPU than building and serializing the event. Checked per event, since
  // the logger is the application's to change (a transport added, the logger silenced); with
  // any other transport, every event goes through winston.
  const direct = (): AuditFileTransport | undefined =>
    file !== undefined &&
    settings.logger === undefined &&
    logger.transports.length === 1 &&
    !logger.silent
      ? file
      : undefined;
  return {
    logger,
    get failure() {
      return currentFailure();
    },
    log(event) {
      const queued = logger.writableLength + logger.readableLength + (file?.pending ?? 0);
      if (queued >= settings.maxQueuedEvents) {
        throw new Error(`audit sink overloaded: ${queued} events are waiting to be written`);
      }
      // Always handed over, so a recovered transport can log again and clear the failure;
      // while a failure stands (or happens during this write), the event is also reported.
      const straight = direct();
      if (straight === undefined) logger.log(shape.record(event));
      else straight.appendLine(shape.fileLine(event));
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
    reopen() {
      file?.reopen();
    },
    checkpoint() {
      if (file === undefined || settings.integrity === undefined) {
        return Promise.reject(
          new TypeError('createWinstonAuditSink: no "integrity" option, so no checkpoint'),
        );
      }
      return file.checkpoint();
    },
  };
}

function asError(error: unknown): Error {
  return types.isNativeError(error) || error instanceof Error
    ? error
    : new Error('audit transport failed');
}

function openAuditFile(filename: string, options: AuditFileOptions): AuditFileTransport {
  try {
    return new AuditFileTransport(filename, options);
  } catch (cause) {
    // At startup, naming the option: a missing directory, a read-only volume, or a file that
    // does not end with a chained line is found before the first request goes unaudited.
    throw new Error(
      `createWinstonAuditSink: option "filename": cannot open ${JSON.stringify(filename)} for appending (${types.isNativeError(cause) ? cause.message : String(cause)})`,
      { cause },
    );
  }
}

function createLogger(
  settings: WinstonSinkSettings,
  file: AuditFileTransport | undefined,
  shape: AuditRecordShape,
): winston.Logger {
  const library = loadWinston();
  const transports: (
    Transport | AuditFileTransport | winston.transports.ConsoleTransportInstance
  )[] = [...settings.transports];
  // Rather than winston's File transport, which writes one event per drain cycle and falls
  // behind a busy server (its queue then grows without bound).
  if (file !== undefined) transports.push(file);
  if (settings.console ?? transports.length === 0) {
    transports.push(new library.transports.Console());
  }
  return library.createLogger({
    level: 'info',
    format: auditLine(library, shape),
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
 * One JSON line per event with plain `JSON.stringify`, in the record's own field order.
 * winston's `format.json()` sorts keys and guards against cycles, at three to four times the
 * cost; audit events need neither, since they are built as plain, bounded, acyclic data.
 */
function auditLine(library: typeof winston, shape: AuditRecordShape): winston.Logform.Format {
  return library.format((info) => {
    (info as unknown as Record<symbol, string>)[MESSAGE] = shape.line(info);
    return info;
  })();
}
