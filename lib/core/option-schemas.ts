import { zod } from './lazy-zod.js';

/** An option that must be a function (a clock, a fetch, a hook), typed as `T`. */
export function functionOption<T>() {
  return zod().custom<T>((value) => typeof value === 'function', { message: 'must be a function' });
}

/**
 * An option that must be an object with these methods, and these string properties (a sink,
 * a rule, a strategy).
 */
export function objectWithMethods<T>(
  methods: readonly string[],
  message: string,
  strings: readonly string[] = [],
) {
  return zod().custom<T>(
    (value) =>
      typeof value === 'object' &&
      value !== null &&
      methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function') &&
      strings.every((name) => typeof (value as Record<string, unknown>)[name] === 'string'),
    { message },
  );
}
