// What the observe and otel tests share: a recorder of one diagnostics channel, and a bounded
// wait for events written after the response (the deferred authentication event).
import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/** The messages published on `name` while recording, as they were when published. */
export interface ChannelRecording<Message> {
  readonly messages: Message[];
  stop(): void;
}

/**
 * Records the messages of one channel. Tracing contexts are filled in as the operation goes on,
 * so each message is copied when it arrives: what a `start` subscriber saw stays as it saw it.
 */
export function recordChannel<Message = Record<string, unknown>>(
  name: string,
): ChannelRecording<Message> {
  const messages: Message[] = [];
  const handler = (message: unknown): void => {
    messages.push({ ...(message as object) } as Message);
  };
  subscribe(name, handler);
  return {
    messages,
    stop: () => {
      unsubscribe(name, handler);
    },
  };
}

/** Waits until `ready()` holds, 5 seconds at most (then fails, naming `what`). */
export async function waitFor(ready: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 250 && !ready(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (!ready()) throw new Error(`timed out waiting for ${what}`);
}
