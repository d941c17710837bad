import { createRequire } from 'node:module';
import type { z } from 'zod';

/** The zod namespace (`z`), as the schemas are built with it. */
export type Zod = typeof z;

const requireHere = createRequire(import.meta.url);
let loaded: Zod | undefined;

/**
 * zod, loaded the first time options are validated rather than when the package is imported.
 * Loading it takes about as long as loading Express, and no request needs it: options are
 * checked once, when a factory is called at startup. A synchronous `require` (rather than
 * `import()`) because the factories are synchronous; Node 20.19 and later load zod either way.
 */
export function zod(): Zod {
  loaded ??= (requireHere('zod') as { z: Zod }).z;
  return loaded;
}

/**
 * A schema built, and zod loaded, on its first use, then kept: the form of every option
 * schema of the package, so that importing the package builds none of them.
 */
export function lazySchema<Schema>(build: (zod: Zod) => Schema): () => Schema {
  let schema: Schema | undefined;
  return () => {
    schema ??= build(zod());
    return schema;
  };
}
