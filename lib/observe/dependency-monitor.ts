import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import {
  DIAGNOSTICS_CHANNELS,
  tracingEventName,
  type DirectoryMessage,
  type JwksFetchMessage,
} from '../core/diagnostics.js';

const JWKS_END = tracingEventName(DIAGNOSTICS_CHANNELS.jwksFetch, 'asyncEnd');
const DIRECTORY_END = tracingEventName(DIAGNOSTICS_CHANNELS.directory, 'asyncEnd');

/** What the last JWKS fetches of one URL said. */
export interface JwksRecord {
  /** When a fetch last succeeded; undefined if none has. */
  successAt: number | undefined;
  /** Whether the last fetch succeeded. */
  lastOk: boolean;
  errorAt: number | undefined;
  errorCode: string | undefined;
  keys: number | undefined;
}

/** What the last LDAP operation on one directory said. */
export interface DirectoryRecord {
  at: number;
  outcome: 'ok' | 'refused' | 'error';
  errorCode: string | undefined;
}

// URLs come from the configuration, not from requests; the bound is a guard all the same.
const MAX_TRACKED = 32;

/**
 * Follows the JWKS and directory channels and keeps, per URL, the last outcome and when: what a
 * health check reports. Subscribes to the `asyncEnd` events only, so no request pays for it.
 */
export class DependencyMonitor {
  readonly jwks = new Map<string, JwksRecord>();
  readonly directories = new Map<string, DirectoryRecord>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Starts following the channels. */
  start(): void {
    subscribe(JWKS_END, this.#onJwksFetch);
    subscribe(DIRECTORY_END, this.#onDirectoryCall);
  }

  /** Stops following them. */
  stop(): void {
    unsubscribe(JWKS_END, this.#onJwksFetch);
    unsubscribe(DIRECTORY_END, this.#onDirectoryCall);
  }

  /** Reports `url` before its first fetch (as `unknown`). */
  expectJwks(url: string): void {
    if (!this.jwks.has(url) && this.jwks.size < MAX_TRACKED) this.jwks.set(url, emptyJwks());
  }

  readonly #onJwksFetch = (message: unknown): void => {
    const { url, outcome, errorCode, keys } = message as JwksFetchMessage;
    this.expectJwks(url);
    const record = this.jwks.get(url);
    if (record === undefined) return;
    const at = this.#now();
    record.lastOk = outcome === 'ok';
    if (record.lastOk) {
      record.successAt = at;
      record.keys = keys;
    } else {
      record.errorAt = at;
      record.errorCode = errorCode ?? 'error';
    }
  };

  readonly #onDirectoryCall = (message: unknown): void => {
    const { url, outcome, errorCode } = message as DirectoryMessage;
    if (!this.directories.has(url) && this.directories.size >= MAX_TRACKED) return;
    this.directories.set(url, {
      at: this.#now(),
      outcome: outcome ?? 'error',
      errorCode: errorCode ?? undefined,
    });
  };
}

function emptyJwks(): JwksRecord {
  return {
    successAt: undefined,
    lastOk: false,
    errorAt: undefined,
    errorCode: undefined,
    keys: undefined,
  };
}
