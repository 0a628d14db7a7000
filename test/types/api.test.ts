/**
 * The API's type tests live in api.types.ts and are checked by `tsc` in `npm run typecheck` (part
 * of `npm test`), not by vitest. This checks that they stay wired in: the typecheck script runs the
 * root tsconfig, and that tsconfig's file list includes the type tests.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const typesFile = fileURLToPath(new URL('./api.types.ts', import.meta.url));

describe('API type tests', () => {
  it('are type-checked by npm run typecheck', () => {
    const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.typecheck).toMatch(/\btsc -p tsconfig\.json\b/);
    expect(pkg.scripts.test).toMatch(/npm run typecheck/);

    const configPath = `${root}tsconfig.json`;
    const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
    expect(error).toBeUndefined();
    const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, configPath);
    expect(parsed.fileNames).toContain(typesFile.replaceAll('\\', '/'));
  });

  it('assert both what compiles and what must not', () => {
    const text = readFileSync(typesFile, 'utf8');
    expect(text.match(/expectType<Equal</g)?.length ?? 0).toBeGreaterThan(40);
    expect(text.match(/@ts-expect-error/g)?.length ?? 0).toBeGreaterThan(25);
  });
});
