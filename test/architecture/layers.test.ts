// The package is built in layers, and imports only point down: a sign-in method never reaches
// into the Express adapter, the core never into anything. Read from the source, so a new import
// that points up fails here, naming the file.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'lib');

// Lowest first; a file may import from its own layer or any layer below.
// The two adapters (MCP, Express) sit on top and do not import each other; the Redis stores
// implement the interfaces of the layers below them.
const LAYERS = [
  'core',
  'audit',
  'bearer',
  'tokens',
  'sign-in',
  'outbound',
  'postgres',
  'observe',
  'mcp',
  'redis',
  'express',
  'cli',
] as const;

function layerOf(file: string): number {
  const path = relative(LIB, file);
  if (!path.includes('/')) return LAYERS.length; // an entry point: lib/index.ts, lib/core.ts...
  const folder = path.split('/')[0] ?? '';
  const rank = (LAYERS as readonly string[]).indexOf(folder);
  if (rank === -1) throw new Error(`lib/${path} is in no layer; add its folder to LAYERS`);
  return rank;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sources(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/from '(\.{1,2}\/[^']+)'/g)].map((match) =>
    resolve(dirname(file), (match[1] ?? '').replace(/\.js$/, '.ts')),
  );
}

const files = sources(LIB);

test('every folder of lib is a layer, and there are files in each', () => {
  const ranks = new Set(files.map(layerOf));
  for (let rank = 0; rank < LAYERS.length; rank += 1) expect(ranks.has(rank)).toBe(true);
});

test('imports point down (or stay within their layer)', () => {
  const upward = files.flatMap((file) =>
    importsOf(file)
      .filter((target) => layerOf(target) > layerOf(file))
      .map((target) => `${relative(LIB, file)} -> ${relative(LIB, target)}`),
  );
  expect(upward).toEqual([]);
});

test('the sign-in methods do not import each other', () => {
  const across = files
    .filter((file) => relative(LIB, file).startsWith('sign-in/'))
    .flatMap((file) => {
      const own = relative(LIB, file).split('/')[1];
      return importsOf(file)
        .filter((target) => {
          const path = relative(LIB, target);
          return path.startsWith('sign-in/') && path.split('/')[1] !== own;
        })
        .map((target) => `${relative(LIB, file)} -> ${relative(LIB, target)}`);
    });
  expect(across).toEqual([]);
});

test('the sign-in methods know nothing of Express (they run under plain node:http too)', () => {
  const express = files
    .filter((file) => relative(LIB, file).startsWith('sign-in/'))
    .filter((file) => /from '(express|passport)[^']*'/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(LIB, file));
  expect(express).toEqual([]);
});

test('no import cycles between files', () => {
  const graph = new Map(files.map((file) => [file, importsOf(file)]));
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      cycles.push(
        [...path.slice(path.indexOf(file)), file].map((f) => relative(LIB, f)).join(' -> '),
      );
      return;
    }
    state.set(file, 'visiting');
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  expect(cycles).toEqual([]);
});

test('the sign-in methods and the core know nothing of Express', () => {
  const framework = files
    .filter((file) =>
      /^(core|audit|bearer|tokens|sign-in|outbound|postgres|observe|mcp|redis)\//.test(
        relative(LIB, file),
      ),
    )
    .filter((file) => /from 'express'/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(LIB, file));
  expect(framework).toEqual([]);
});

test('the MCP adapter does not import the Express adapter, nor the other way round', () => {
  const across = files
    .filter((file) => /^(mcp|express)\//.test(relative(LIB, file)))
    .flatMap((file) => {
      const own = relative(LIB, file).split('/')[0];
      return importsOf(file)
        .filter((target) => {
          const folder = relative(LIB, target).split('/')[0];
          return (folder === 'mcp' || folder === 'express') && folder !== own;
        })
        .map((target) => `${relative(LIB, file)} -> ${relative(LIB, target)}`);
    });
  expect(across).toEqual([]);
});
