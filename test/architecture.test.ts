/**
 * The layer rules of DESIGN.md, checked on the import statements of the sources.
 *
 *   core <- contract <- aws <- local <- cli/ui
 *   core, contract <- constructs <- cli   (constructs never import aws or local; the command
 *                                          line deploys jobs onto the embedded cloud with them)
 *   core, contract, aws <- functions
 *
 * lib/core imports nothing outside lib/core: no other layer, no `node:` builtin and no npm
 * package. lib/index.ts is the package's main entry, the public face of lib/core, so it
 * counts as core. The check reads the files itself (no dependencies beyond node:fs and
 * node:path) so that it cannot be switched off by a missing tool, and a layer folder that
 * does not exist yet simply has nothing to check.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

type Layer = 'core' | 'contract' | 'aws' | 'local' | 'cli' | 'ui' | 'constructs' | 'functions';

/** What each layer may import, itself included. */
const ALLOWED: Readonly<Record<Layer, readonly Layer[]>> = {
  core: ['core'],
  contract: ['core', 'contract'],
  aws: ['core', 'contract', 'aws'],
  local: ['core', 'contract', 'aws', 'local'],
  cli: ['core', 'contract', 'aws', 'local', 'cli', 'ui', 'constructs'],
  ui: ['core', 'contract', 'aws', 'local', 'cli', 'ui'],
  constructs: ['core', 'contract', 'constructs'],
  functions: ['core', 'contract', 'aws', 'functions'],
};

/** The folder of each layer, relative to the repository root. */
const FOLDERS: Readonly<Record<Layer, string>> = {
  core: 'lib/core',
  contract: 'lib/contract',
  aws: 'lib/aws',
  local: 'lib/local',
  cli: 'lib/cli',
  ui: 'lib/ui',
  constructs: 'lib/constructs',
  functions: 'functions',
};

const LAYERS = Object.keys(FOLDERS) as Layer[];

/** Layers that run inside a Lambda bundle, which must never pull in the CDK. */
const NO_CDK: ReadonlySet<Layer> = new Set(['contract', 'aws', 'functions']);
const CDK_PACKAGES: ReadonlySet<string> = new Set(['aws-cdk-lib', 'constructs', 'aws-cdk']);

/** The package's own entry points (package.json `exports`), imported by its own name. */
const SELF_NAME = 'sparkless';
const SELF_ENTRIES: Readonly<Record<string, Layer>> = {
  sparkless: 'core',
  'sparkless/testing': 'core',
  'sparkless/aws': 'aws',
  'sparkless/constructs': 'constructs',
};

// ---------------------------------------------------------------------------------------
// Reading import specifiers

/** One module specifier found in a source, with its 1-based line. */
interface ImportRef {
  readonly specifier: string;
  readonly line: number;
}

type Token =
  | { readonly kind: 'word'; readonly text: string; readonly line: number }
  | { readonly kind: 'string'; readonly text: string; readonly line: number }
  | { readonly kind: 'punct'; readonly text: string; readonly line: number };

/** Words after which a `/` starts a regular expression rather than a division. */
const KEYWORDS_BEFORE_EXPRESSION = new Set([
  'return',
  'typeof',
  'instanceof',
  'in',
  'of',
  'new',
  'delete',
  'void',
  'throw',
  'case',
  'do',
  'else',
  'yield',
  'await',
]);

/**
 * Splits TypeScript source into words, string literals and punctuation, dropping comments,
 * regular expressions and the text of template literals (the code inside `${...}` is kept).
 * Enough to find import specifiers without being fooled by comments or strings.
 */
function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  // One entry per open `{`: true when it is a template literal's `${`.
  const braces: boolean[] = [];
  let line = 1;
  let i = 0;

  const previousEndsExpression = (): boolean => {
    const last = tokens[tokens.length - 1];
    if (last === undefined) return false;
    if (last.kind === 'string') return true;
    if (last.kind === 'word') return !KEYWORDS_BEFORE_EXPRESSION.has(last.text);
    return last.text === ')' || last.text === ']' || last.text === '}';
  };

  /** Reads template text from `i` (just after a backtick or a closing `}`) up to its end. */
  const readTemplate = (): void => {
    while (i < source.length) {
      const c = source[i];
      if (c === '\\') {
        i += 2;
      } else if (c === '`') {
        i += 1;
        tokens.push({ kind: 'string', text: '', line });
        return;
      } else if (c === '$' && source[i + 1] === '{') {
        i += 2;
        braces.push(true);
        tokens.push({ kind: 'punct', text: '(', line });
        return;
      } else {
        if (c === '\n') line += 1;
        i += 1;
      }
    }
  };

  while (i < source.length) {
    const c = source[i] as string;
    const next = source[i + 1];
    if (c === '\n') {
      line += 1;
      i += 1;
    } else if (/\s/.test(c)) {
      i += 1;
    } else if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i += 1;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      for (let j = i; j < stop; j += 1) if (source[j] === '\n') line += 1;
      i = stop;
    } else if (c === "'" || c === '"') {
      const start = line;
      let text = '';
      i += 1;
      while (i < source.length && source[i] !== c && source[i] !== '\n') {
        if (source[i] === '\\') {
          text += source[i + 1] ?? '';
          i += 2;
        } else {
          text += source[i];
          i += 1;
        }
      }
      i += 1;
      tokens.push({ kind: 'string', text, line: start });
    } else if (c === '`') {
      i += 1;
      readTemplate();
    } else if (c === '{') {
      braces.push(false);
      tokens.push({ kind: 'punct', text: c, line });
      i += 1;
    } else if (c === '}') {
      i += 1;
      if (braces.pop() === true) {
        tokens.push({ kind: 'punct', text: ')', line });
        readTemplate();
      } else {
        tokens.push({ kind: 'punct', text: c, line });
      }
    } else if (c === '/' && !previousEndsExpression()) {
      // A regular expression literal: skip it, classes and escapes included.
      let inClass = false;
      i += 1;
      while (i < source.length && source[i] !== '\n') {
        const r = source[i];
        if (r === '\\') i += 1;
        else if (r === '[') inClass = true;
        else if (r === ']') inClass = false;
        else if (r === '/' && !inClass) break;
        i += 1;
      }
      i += 1;
      while (i < source.length && /[a-z]/i.test(source[i] as string)) i += 1;
      tokens.push({ kind: 'string', text: '', line });
    } else if (/[A-Za-z_$0-9]/.test(c)) {
      let text = '';
      while (i < source.length && /[A-Za-z_$0-9]/.test(source[i] as string)) {
        text += source[i];
        i += 1;
      }
      tokens.push({ kind: 'word', text, line });
    } else {
      tokens.push({ kind: 'punct', text: c, line });
      i += 1;
    }
  }
  return tokens;
}

/**
 * The module specifiers a source refers to: `import ... from 'x'`, `import 'x'`,
 * `export ... from 'x'`, `import('x')`, `require('x')` and `import x = require('x')`,
 * type-only forms included. Specifiers in comments, strings and templates are ignored.
 */
function importsOf(source: string): ImportRef[] {
  const tokens = tokenize(source);
  const found: ImportRef[] = [];
  const isWord = (t: Token | undefined, text: string) => t?.kind === 'word' && t.text === text;
  const isPunct = (t: Token | undefined, text: string) => t?.kind === 'punct' && t.text === text;
  for (let k = 0; k < tokens.length; k += 1) {
    const t = tokens[k];
    const next = tokens[k + 1];
    const afterParen = tokens[k + 2];
    const previous = tokens[k - 1];
    // `a.import(...)`, `a.require(...)` and `a.from '...'` are not module references.
    if (isPunct(previous, '.')) continue;
    if (next?.kind === 'string' && (isWord(t, 'from') || isWord(t, 'import'))) {
      found.push({ specifier: next.text, line: next.line });
    } else if (
      (isWord(t, 'import') || isWord(t, 'require')) &&
      isPunct(next, '(') &&
      afterParen?.kind === 'string'
    ) {
      found.push({ specifier: afterParen.text, line: afterParen.line });
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------
// Judging them

/** Which layer a repository-relative path (with `/` separators) belongs to, if any. */
function layerOfPath(path: string): Layer | undefined {
  if (/^lib\/index\.(ts|js|d\.ts)$/.test(path)) return 'core';
  for (const layer of LAYERS) {
    if (path === FOLDERS[layer] || path.startsWith(`${FOLDERS[layer]}/`)) return layer;
  }
  return undefined;
}

/** The target of a specifier, as the rules see it. */
type Target =
  | { readonly kind: 'layer'; readonly layer: Layer; readonly path: string }
  | { readonly kind: 'other'; readonly path: string }
  | { readonly kind: 'package'; readonly name: string };

function targetOf(fromFile: string, specifier: string): Target {
  if (specifier.startsWith('.') || specifier.startsWith('/')) {
    const path = specifier.startsWith('/')
      ? specifier
      : posix.normalize(posix.join(posix.dirname(fromFile), specifier));
    const layer = layerOfPath(path);
    return layer === undefined ? { kind: 'other', path } : { kind: 'layer', layer, path };
  }
  const self = SELF_ENTRIES[specifier];
  if (self !== undefined) return { kind: 'layer', layer: self, path: specifier };
  if (specifier === SELF_NAME || specifier.startsWith(`${SELF_NAME}/`)) {
    return { kind: 'other', path: specifier };
  }
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
  return { kind: 'package', name };
}

function describeTarget(target: Target): string {
  if (target.kind === 'package') return `package ${target.name}`;
  if (target.kind === 'layer') return FOLDERS[target.layer];
  return target.path;
}

/**
 * The layer rule violations in one source file, given its repository-relative path.
 * Pure, so that the checker itself can be tested on made-up sources.
 */
function violationsIn(file: string, source: string): string[] {
  const layer = layerOfPath(file);
  if (layer === undefined) {
    return [`${file}: not in a known layer (${LAYERS.map((l) => FOLDERS[l]).join(', ')})`];
  }
  const allowed = ALLOWED[layer];
  const violations: string[] = [];
  for (const { specifier, line } of importsOf(source)) {
    const target = targetOf(file, specifier);
    const where = `${file}:${line} imports '${specifier}' (${describeTarget(target)})`;
    const bare = !specifier.startsWith('.') && !specifier.startsWith('/');
    if (layer === 'core' && bare) {
      violations.push(
        `${where}: lib/core is pure TypeScript and imports no packages or node: builtins ` +
          '(not even its own package name); take what it needs through a port that lib/aws ' +
          'or lib/core/testing implements',
      );
    } else if (target.kind === 'layer') {
      if (!allowed.includes(target.layer)) {
        const may = allowed.map((l) => FOLDERS[l]).join(', ');
        violations.push(`${where}: ${FOLDERS[layer]} may import only ${may}`);
      }
    } else if (target.kind === 'other') {
      violations.push(`${where}: ${FOLDERS[layer]} may not import outside its allowed layers`);
    } else if (NO_CDK.has(layer) && CDK_PACKAGES.has(target.name)) {
      violations.push(
        `${where}: ${FOLDERS[layer]} runs inside Lambda bundles and must not pull in the CDK`,
      );
    }
  }
  return violations;
}

// ---------------------------------------------------------------------------------------
// The repository

const ROOT = join(import.meta.dirname, '..');
const SOURCE_FILE = /\.(ts|tsx|mts|cts)$/;

/** Every source file under a repository-relative folder, as `/`-separated relative paths. */
function sourcesUnder(folder: string): string[] {
  const absolute = join(ROOT, folder);
  if (!existsSync(absolute)) return [];
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && SOURCE_FILE.test(entry.name)) {
        files.push(relative(ROOT, path).split(sep).join('/'));
      }
    }
  };
  walk(absolute);
  return files.sort();
}

function violationsOfFiles(files: readonly string[]): string[] {
  return files.flatMap((file) => violationsIn(file, readFileSync(join(ROOT, file), 'utf8')));
}

describe('architecture: imports follow the layers of DESIGN.md', () => {
  for (const layer of LAYERS) {
    const folder = FOLDERS[layer];
    it(`${folder} imports only ${ALLOWED[layer].map((l) => FOLDERS[l]).join(', ')}`, () => {
      const files = sourcesUnder(folder);
      if (layer === 'core' && existsSync(join(ROOT, 'lib/index.ts'))) files.push('lib/index.ts');
      expect(violationsOfFiles(files)).toEqual([]);
    });
  }

  it('every source file under lib/ belongs to a layer', () => {
    const strays = sourcesUnder('lib').filter((file) => layerOfPath(file) === undefined);
    expect(strays).toEqual([]);
  });

  it('the repository root is where this test thinks it is', () => {
    expect(existsSync(join(ROOT, 'package.json'))).toBe(true);
    expect(dirname(join(ROOT, 'lib'))).toBe(ROOT);
  });
});

describe('architecture: the checker', () => {
  it('finds every form of import', () => {
    const source = [
      "import a from './a.js';",
      "import type { B } from './b.js';",
      'import {',
      '  c,',
      '  d,',
      "} from './cd.js';",
      "import './side-effect.js';",
      "export * from './e.js';",
      "export type { F } from './f.js';",
      "const g = await import('./g.js');",
      "const h = require('./h.js');",
      "import i = require('./i.js');",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the text of a template literal
      'const j = `${await import("./j.js")}`;',
    ].join('\n');
    expect(importsOf(source)).toEqual([
      { specifier: './a.js', line: 1 },
      { specifier: './b.js', line: 2 },
      { specifier: './cd.js', line: 6 },
      { specifier: './side-effect.js', line: 7 },
      { specifier: './e.js', line: 8 },
      { specifier: './f.js', line: 9 },
      { specifier: './g.js', line: 10 },
      { specifier: './h.js', line: 11 },
      { specifier: './i.js', line: 12 },
      { specifier: './j.js', line: 13 },
    ]);
  });

  it('ignores comments, strings, templates and regular expressions', () => {
    const source = [
      "// import x from '../aws/x.js';",
      "/* export * from 'node:fs'; */",
      'const s = "import y from \'../aws/y.js\'";',
      "const t = `import z from '../aws/z.js'`;",
      "const r = /from '[a-z]'/;",
      "const n = 4 / 2; const m = 'from';",
      "obj.import('../aws/w.js');",
    ].join('\n');
    expect(importsOf(source)).toEqual([]);
  });

  it('flags lib/core importing another layer, a builtin or a package', () => {
    const source = [
      "import { ok } from './duration.js';",
      "import { shard } from '../aws/shards.js';",
      "import { readFileSync } from 'node:fs';",
      "import { z } from 'zod';",
      "import { env } from '../contract/env.js';",
    ].join('\n');
    const violations = violationsIn('lib/core/graph.ts', source);
    expect(violations).toHaveLength(4);
    expect(violations[0]).toMatch(
      /lib\/core\/graph\.ts:2 imports '\.\.\/aws\/shards\.js' \(lib\/aws\)/,
    );
    expect(violations[1]).toMatch(/'node:fs'.*imports no packages or node: builtins/);
    expect(violations[2]).toMatch(/'zod' \(package zod\)/);
    expect(violations[3]).toMatch(/lib\/contract.*lib\/core may import only lib\/core$/);
  });

  it('flags lib/constructs importing lib/aws or lib/local, by path or by package name', () => {
    const source = [
      "import { plan } from '../core/graph.js';",
      "import { TABLES } from '../contract/tables.js';",
      "import { Stack } from 'aws-cdk-lib';",
      "import { worker } from '../aws/worker.js';",
      "import { Emulator } from '../local/emulator.js';",
      "import { handler } from 'sparkless/aws';",
    ].join('\n');
    const violations = violationsIn('lib/constructs/streaming-job.ts', source);
    expect(violations).toEqual([
      expect.stringMatching(/:4 imports '\.\.\/aws\/worker\.js' \(lib\/aws\)/),
      expect.stringMatching(/:5 imports '\.\.\/local\/emulator\.js' \(lib\/local\)/),
      expect.stringMatching(/:6 imports 'sparkless\/aws' \(lib\/aws\)/),
    ]);
  });

  it('allows each layer what DESIGN.md allows', () => {
    expect(violationsIn('lib/index.ts', "export * from './core/index.js';")).toEqual([]);
    expect(violationsIn('lib/contract/env.ts', "import { hash } from '../core/keys.js';")).toEqual(
      [],
    );
    expect(
      violationsIn(
        'lib/aws/worker.ts',
        "import { env } from '../contract/env.js';\nimport { DynamoDB } from '@aws-sdk/client-dynamodb';",
      ),
    ).toEqual([]);
    expect(violationsIn('lib/local/router.ts', "import { run } from '../aws/run.js';")).toEqual([]);
    expect(violationsIn('lib/cli/main.ts', "import { ui } from '../ui/server.js';")).toEqual([]);
    expect(
      violationsIn('functions/worker.ts', "import { run } from '../lib/aws/worker.js';"),
    ).toEqual([]);
  });

  it('flags the other wrong directions', () => {
    expect(violationsIn('lib/contract/env.ts', "import '../aws/x.js';")).toHaveLength(1);
    expect(violationsIn('lib/aws/x.ts', "import '../local/x.js';")).toHaveLength(1);
    expect(violationsIn('lib/local/x.ts', "import '../cli/main.js';")).toHaveLength(1);
    expect(violationsIn('functions/worker.ts', "import '../lib/local/x.js';")).toHaveLength(1);
    expect(violationsIn('functions/worker.ts', "import 'aws-cdk-lib';")).toHaveLength(1);
    expect(violationsIn('lib/aws/x.ts', "import '../../test/helpers.js';")).toHaveLength(1);
    expect(violationsIn('lib/core/x.ts', "import '../index.js';")).toEqual([]);
    expect(violationsIn('lib/core/x.ts', "import 'sparkless';")).toHaveLength(1);
    expect(violationsIn('lib/streams/x.ts', '')).toEqual([
      expect.stringMatching(/lib\/streams\/x\.ts: not in a known layer/),
    ]);
  });
});
