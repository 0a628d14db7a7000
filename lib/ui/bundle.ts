/**
 * The page's script and styles, built in memory by esbuild the first time a server starts in
 * this process (a few hundred milliseconds), and kept: the page (lib/ui/client) is TypeScript
 * that imports uPlot from node_modules, so it is bundled into one script with no import left
 * for the browser to fetch; the styles are uPlot's own and the page's.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SparklessError } from '../core/errors.js';
import { PAGE_CSS } from './page.js';

/** The built page. */
export interface PageAssets {
  /** The script (an ES module, minified). */
  readonly js: string;
  readonly css: string;
}

let built: Promise<PageAssets> | undefined;

/** Builds the page once per process. */
export function pageAssets(): Promise<PageAssets> {
  built ??= build().catch((e: unknown) => {
    built = undefined;
    throw e;
  });
  return built;
}

async function build(): Promise<PageAssets> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new SparklessError(
      'UI_BUILD_FAILED',
      'the streaming UI builds its page with esbuild, which is not installed: run `npm install --save-dev esbuild`',
      { cause: e },
    );
  }
  // The sources, or the compiled files beside them when running from a build.
  const ts = fileURLToPath(new URL('./client/main.ts', import.meta.url));
  const entry = existsSync(ts) ? ts : fileURLToPath(new URL('./client/main.js', import.meta.url));
  const require = createRequire(import.meta.url);
  let uplotCss: string;
  let uplotLicense: string;
  try {
    uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
    uplotLicense = readFileSync(require.resolve('uplot/LICENSE'), 'utf8');
  } catch (e) {
    throw new SparklessError(
      'UI_BUILD_FAILED',
      'the streaming UI draws its charts with uPlot, which is not installed: run `npm install`',
      { cause: e },
    );
  }
  try {
    const out = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      // uPlot's MIT license goes with every copy of it.
      banner: { js: `/*! uPlot (bundled):\n${uplotLicense.replaceAll('*/', '* /')}\n*/` },
      legalComments: 'inline',
      logLevel: 'silent',
    });
    const js = out.outputFiles[0]?.text ?? '';
    return { js, css: `${uplotCss}\n${PAGE_CSS}` };
  } catch (e) {
    throw new SparklessError(
      'UI_BUILD_FAILED',
      `the streaming UI's page did not build: ${(e as Error).message}`,
      { cause: e },
    );
  }
}
