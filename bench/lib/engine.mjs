// The engine, in the bench's own process: src/ bundled as the CLI is (esbuild, the same target and stub), into
// bench/out/engine.mjs (not committed). Measurements that must not pay for a Node process per command (the
// concurrent opens, released together at a barrier) call openEnv and closeEnv directly.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

export async function loadEngine() {
  const outfile = join(root, 'bench', 'out', 'engine.mjs');
  await build({
    entryPoints: [join(here, 'engine-entry.mjs')],
    outfile,
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    logLevel: 'warning',
    alias: { undici: join(root, 'scripts/stubs/undici.mjs') },
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
  return import(`${pathToFileURL(outfile).href}?t=${Date.now()}`);
}
