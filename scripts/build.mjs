// Bundles the action (dist/index.js) and the CLI (dist/cli.js) as ESM, with code loaded on demand in dist/chunks/.
// Reproducible: no timestamps, no absolute paths, sorted inputs are esbuild's default.
import { build } from 'esbuild';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeLicenseNotices } from './license-notices.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// @kubernetes/client-node does not declare `sideEffects: false`, so esbuild keeps all of its ~1 MB of generated
// API models although we only use KubeConfig. Its modules have no import-time side effects we rely on; saying so
// lets tree-shaking drop what is unused.
const clientNodeSideEffectFree = {
  name: 'client-node-side-effect-free',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.skip || !/@kubernetes[\\/]client-node|^\.\.?\//.test(args.path)) return undefined;
      if (!args.path.includes('@kubernetes/client-node') && !args.importer.includes('@kubernetes/client-node')) return undefined;
      const r = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: { skip: true } });
      if (r.errors.length || !r.path.includes('@kubernetes/client-node')) return undefined;
      return { path: r.path, sideEffects: false };
    });
  },
};

// `import http from 'node:http'` in an ES module makes Node build the module's ESM facade, which reads every export,
// lazy ones included: node:http's WebSocket/MessageEvent getters load Node's bundled undici (~50 ms of CPU at every
// start, for nothing we use). Loaded with require() the module is returned as it is and its getters stay lazy.
const builtinsViaRequire = {
  name: 'builtins-via-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?http$/ }, (args) => (args.namespace === 'builtin-via-require'
      ? { path: 'node:http', external: true } // the require() below: Node's own module
      : { path: 'node:http', namespace: 'builtin-via-require' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin-via-require' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

const socksStub = join(root, 'scripts/stubs/socks.mjs');
/** socks, loaded on its first use (scripts/stubs/socks.mjs): everyone but the stub gets the stub. */
const lazySocks = {
  name: 'lazy-socks',
  setup(b) {
    b.onResolve({ filter: /^socks$/ }, (args) => (args.importer === socksStub ? undefined : { path: socksStub }));
  },
};

const common = {
  plugins: [clientNodeSideEffectFree, builtinsViaRequire, lazySocks],
  alias: { undici: join(root, 'scripts/stubs/undici.mjs') },
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  minify: true,
  legalComments: 'none',
  sourcemap: false,
  logLevel: 'warning',
  // Some CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};

/**
 * Bundles the action (index.js) and the CLI (cli.js) into `outdir`, with the code they load on demand (import())
 * and what they share in `outdir/chunks/` (named by content hash, so the build stays reproducible); returns the
 * metafile. Chunks of an earlier build are removed first.
 */
export async function bundle(outdir) {
  // --version: package.json's version, baked in (src/cli/version.ts) so the CLI never reads package.json.
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const result = await build({
    ...common,
    define: { DYNAMIC_ENV_VERSION: JSON.stringify(version) },
    absWorkingDir: root,
    entryPoints: { index: 'src/index.ts', cli: 'src/cli-bin.ts' },
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    write: false,
  });
  await rm(join(outdir, 'chunks'), { recursive: true, force: true });
  await mkdir(join(outdir, 'chunks'), { recursive: true });
  for (const file of result.outputFiles) {
    const cli = file.path === join(outdir, 'cli.js');
    await writeFile(file.path, cli ? Buffer.concat([Buffer.from('#!/usr/bin/env node\n'), file.contents]) : file.contents);
    if (cli) await chmod(file.path, 0o755);
  }
  writeLicenseNotices(root, outdir, [result.metafile]);
  return result.metafile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const metafile = await bundle(join(root, 'dist'));
  // BUNDLE_REPORT=1 npm run build: what the action bundle is made of, by package.
  if (process.env.BUNDLE_REPORT) {
    const sizes = {};
    for (const out of Object.values(metafile.outputs)) {
      for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
        const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? 'src';
        sizes[pkg] = (sizes[pkg] ?? 0) + bytesInOutput;
      }
    }
    for (const [pkg, bytes] of Object.entries(sizes).sort((a, b) => b[1] - a[1]).slice(0, 15)) {
      console.log(`${String(Math.round(bytes / 1024)).padStart(6)} KiB  ${pkg}`);
    }
  }
}
