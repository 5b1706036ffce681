// The CLI's executable (dist/cli.js): turns on Node's compile cache, then loads and runs the CLI (src/cli.ts).
// A person or a pipeline runs the CLI many times on one machine; with the cache, Node reuses the compiled code of
// the bundle instead of compiling it again at each start (about 15 ms of its start, bench `open`). Turned on before
// the CLI's modules load, since an ES module's imports are all compiled before its body runs; kept in Node's default
// place (the temporary directory), and off where NODE_DISABLE_COMPILE_CACHE is set. A cache that cannot be written
// only costs the saving.
import * as nodeModule from 'node:module';

nodeModule.enableCompileCache?.();
const { main } = await import('./cli.js');
process.exitCode = await main(process.argv.slice(2));
