import { subscribe, unsubscribe } from 'node:diagnostics_channel';

/** A handler on one diagnostics channel, by name, subscribed and unsubscribed as a pair. */
export interface Subscription {
  readonly name: string;
  readonly handler: (message: unknown) => void;
}

/** Subscribes every handler, and returns the function that unsubscribes them all, once. */
export function subscribeAll(subscriptions: readonly Subscription[]): () => void {
  for (const { name, handler } of subscriptions) subscribe(name, handler);
  let active = true;
  return () => {
    if (!active) return;
    active = false;
    for (const { name, handler } of subscriptions) unsubscribe(name, handler);
  };
}
