import type { KeyObject, JsonWebKey } from 'node:crypto';
import type winston from 'winston';
import type { z } from 'zod';
import { lazySchema, type Zod } from '../core/lazy-zod.js';
import { parseOptions } from '../core/options.js';
import type { AuditFields } from './checkpoint.js';
import { checkpointSigningKey } from './checkpoint-key.js';
import {
  DEFAULT_CHECKPOINT_EVERY,
  DEFAULT_CHECKPOINT_INTERVAL_MS,
  type IntegritySettings,
} from './checkpointer.js';

/** Default: 10000 events waiting for winston's transports. */
export const DEFAULT_MAX_QUEUED_AUDIT_EVENTS = 10_000;
/** Default: 1000 (1 second) between two checks that the audit file was rotated away. */
export const DEFAULT_ROTATION_CHECK_INTERVAL_MS = 1_000;

/** Options of `createWinstonAuditSink()`: where the audit log goes, in which names, how kept. */
export interface WinstonAuditSinkOptions {
  /** Append JSON lines to this file. */
  filename?: string;
  /** Write JSON lines to standard output. Default: true when no other destination is given. */
  console?: boolean;
  /** Any winston transports (HTTP, syslog, cloud loggers...). */
  transports?: winston.transport[];
  /** A logger of your own; its format and transports are used as they are. */
  logger?: winston.Logger;
  /**
   * Default: 10000. Events accepted but not yet written, at most. winston buffers without limit
   * when its transports fall behind; past this, an event is refused (and reported by the audit
   * policy) rather than held in memory.
   */
  maxQueuedEvents?: number;
  /**
   * The field names of every line. Default: `'gateway'`, the package's own (`timestamp`,
   * `user`, `ip_address`...). `'ecs'`: Elastic Common Schema (`@timestamp`, `user.name`,
   * `client.ip`...), see `toEcs()`. `'both'`: the ECS fields and the package's beside them,
   * except `user` and `source`, which ECS defines as objects (their values are in `user.name`
   * and `service.name`).
   */
  fields?: AuditFields;
  /**
   * Makes the audit file (`filename`) tamper-evident: every line carries
   * `"chain":{"seq":n,"prev":"<SHA-256 of line n-1>"}`, and a checkpoint line signed with `key`
   * is written every `checkpointEvery` events (default: 1000) and every
   * `checkpointIntervalMs` while events arrive (default: 60000, 1 minute).
   * `express-identity-passthrough verify --key public.pem <files>` checks the files.
   *
   * **Warning:** what was written after the last checkpoint is protected by the chain alone:
   * someone who can write the file can rewrite or cut that tail unnoticed. Ship the lines off
   * the host too, and keep the private key readable by this process only.
   */
  integrity?: {
    /** An Ed25519 (EdDSA), EC P-256 (ES256) or RSA (RS256) private key: KeyObject, PEM or JWK. */
    key: KeyObject | string | JsonWebKey;
    checkpointEvery?: number;
    checkpointIntervalMs?: number;
  };
  /**
   * Default: false. Checks every `rotationCheckIntervalMs` whether `filename` still names the
   * open file; when logrotate has renamed it away (its default `create` mode), the sink opens a
   * new file at that path, and the chain goes on in it. Without it, call the sink's `reopen()`
   * (from a SIGHUP handler or logrotate's `postrotate`), or the events keep going to the renamed
   * file. `copytruncate` needs neither, but loses what is written between its copy and truncate.
   */
  reopenOnRotation?: boolean;
  /** Default: 1000 (1 second). */
  rotationCheckIntervalMs?: number;
}

/** The options, checked, with their defaults. */
export interface WinstonSinkSettings {
  readonly filename: string | undefined;
  readonly console: boolean | undefined;
  readonly transports: readonly winston.transport[];
  readonly logger: winston.Logger | undefined;
  readonly maxQueuedEvents: number;
  readonly fields: AuditFields;
  readonly integrity: IntegritySettings | undefined;
  readonly rotationCheckIntervalMs: number | undefined;
}

const isObject = (value: unknown): boolean => typeof value === 'object' && value !== null;
const positiveInteger = (z: Zod) => z.number().int().positive().optional();

const sinkSchema = lazySchema((z) =>
  z.strictObject({
    filename: z.string().min(1).optional(),
    console: z.boolean().optional(),
    transports: z
      .array(z.custom<winston.transport>(isObject, { message: 'must be a winston transport' }))
      .optional(),
    logger: z
      .custom<winston.Logger>(
        (value) => isObject(value) && typeof (value as { log?: unknown }).log === 'function',
        { message: 'must be a winston logger' },
      )
      .optional(),
    maxQueuedEvents: positiveInteger(z),
    fields: z.enum(['gateway', 'ecs', 'both']).optional(),
    integrity: z
      .strictObject({
        key: z.custom<KeyObject | string | JsonWebKey>((value) => value !== undefined, {
          message: 'is required: the private key that signs checkpoints',
        }),
        checkpointEvery: positiveInteger(z),
        checkpointIntervalMs: positiveInteger(z),
      })
      .optional(),
    reopenOnRotation: z.boolean().optional(),
    rotationCheckIntervalMs: z.number().int().min(10).optional(),
  }),
);

type ParsedOptions = z.output<ReturnType<typeof sinkSchema>>;

/** Checks the options once, at startup; a bad one throws a TypeError naming it. */
export function winstonSinkSettings(
  options: WinstonAuditSinkOptions,
  now: () => number = Date.now,
): WinstonSinkSettings {
  const parsed: ParsedOptions = parseOptions(sinkSchema(), options, 'createWinstonAuditSink');
  const fields = parsed.fields ?? 'gateway';
  if (
    parsed.integrity !== undefined &&
    (parsed.filename === undefined || parsed.logger !== undefined)
  ) {
    throw new TypeError(
      'createWinstonAuditSink: option "integrity" needs "filename" (and no "logger"): it protects the audit file the sink writes',
    );
  }
  if (parsed.reopenOnRotation === true && parsed.filename === undefined) {
    throw new TypeError('createWinstonAuditSink: option "reopenOnRotation" needs "filename"');
  }
  return {
    filename: parsed.filename,
    console: parsed.console,
    transports: parsed.transports ?? [],
    logger: parsed.logger,
    maxQueuedEvents: parsed.maxQueuedEvents ?? DEFAULT_MAX_QUEUED_AUDIT_EVENTS,
    fields,
    integrity:
      parsed.integrity === undefined
        ? undefined
        : {
            key: checkpointSigningKey(
              parsed.integrity.key,
              'createWinstonAuditSink: option "integrity.key"',
            ),
            checkpointEvery: parsed.integrity.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY,
            checkpointIntervalMs:
              parsed.integrity.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS,
            fields,
            now,
          },
    rotationCheckIntervalMs:
      parsed.reopenOnRotation === true
        ? (parsed.rotationCheckIntervalMs ?? DEFAULT_ROTATION_CHECK_INTERVAL_MS)
        : undefined,
  };
}
