#!/usr/bin/env node
// The `sparkless` command of the published package: runs the built command line
// (dist/lib/cli/main.js, compiled from lib/cli/main.ts by npm run build).
const built = new URL('../../dist/lib/cli/main.js', import.meta.url);
let cli;
try {
  cli = await import(built.href);
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/lib/cli/main.js')) {
    process.stderr.write(
      `sparkless: the command line is not built (${built.pathname} is missing): run npm run build in the sparkless package, or npm run sparkless -- <command> in its repository\n`,
    );
    process.exit(1);
  }
  throw e;
}
await cli.runCli();
