// The README's code is what new users paste first: every function a snippet calls from this
// package (or from node:fs) is imported in that snippet.
import { readFileSync } from 'node:fs';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const entries = ['index', 'core', 'ldap', 'saml', 'oidc', 'mcp', 'redis', 'postgres', 'otel'].map(
  (name) => readFileSync(new URL(`../lib/${name}.ts`, import.meta.url), 'utf8'),
);
const exported = new Set(
  entries.flatMap((source) =>
    [...source.matchAll(/^export \{([^}]*)\} from/gm)].flatMap((match) =>
      (match[1] ?? '').split(',').map((name) => name.trim()),
    ),
  ),
);
exported.add('readFileSync');
const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');

test('the README has snippets, and the package exports functions to find in them', () => {
  expect(snippets.length).toBeGreaterThan(5);
  expect(exported.has('createPassthrough')).toBe(true);
});

test.each(snippets.map((code, index) => [index, code]))(
  'snippet %i imports every function it calls',
  (_index, code) => {
    const imported = new Set(
      [...code.matchAll(/import\s*\{([^}]*)\}\s*from/g)].flatMap((match) =>
        (match[1] ?? '').split(',').map((name) => name.replace(/^type\s+/, '').trim()),
      ),
    );
    // Calls outside comments: `name(`, not `.name(` (a method) nor text after `//`.
    const code_ = code.replace(/\/\/.*$/gm, '');
    const called = [...code_.matchAll(/(?<![.\w])([A-Za-z_]\w*)\(/g)].map((match) => match[1]);
    const missing = [...new Set(called)].filter(
      (name) => name !== undefined && exported.has(name) && !imported.has(name),
    );
    expect(missing).toEqual([]);
  },
);
