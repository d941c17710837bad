// A resolve hook (module.register) that appends every specifier it resolves, and the URL it
// resolved to, to the file named in its data: the import-cost test reads from it which npm
// packages an entry point loads through `import`.
import { appendFileSync } from 'node:fs';

let logFile;

export function initialize(data) {
  logFile = data.logFile;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(logFile, `${specifier}\t${resolved.url}\n`);
  return resolved;
}
