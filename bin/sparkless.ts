/**
 * `npm run sparkless -- <command>`: the command line, run from the sources (the published
 * package runs the built one through lib/cli/sparkless.js).
 */
import { runCli } from '../lib/cli/main.js';

await runCli();
