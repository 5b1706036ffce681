// Bundles the action (dist/index.js) and the CLI (dist/cli.js) into single ESM files.
// Reproducible: no timestamps, no absolute paths, sorted inputs are esbuild's default.
import { build } from 'esbuild';
import { chmod, readFile } from 'node:fs/promises';
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

const common = {
  plugins: [clientNodeSideEffectFree],
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

/** Bundles the action and the CLI into `outdir`; returns the action bundle's metafile. */
export async function bundle(outdir) {
  const action = await build({ ...common, absWorkingDir: root, entryPoints: ['src/index.ts'], outfile: join(outdir, 'index.js'), metafile: true });
  // --version: package.json's version, baked in (src/cli/version.ts) so the CLI never reads package.json.
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const cli = await build({
    ...common,
    define: { DYNAMIC_ENV_VERSION: JSON.stringify(version) },
    absWorkingDir: root,
    entryPoints: ['src/cli.ts'],
    outfile: join(outdir, 'cli.js'),
    metafile: true,
    banner: { js: '#!/usr/bin/env node\n' + common.banner.js },
  });
  await chmod(join(outdir, 'cli.js'), 0o755);
  writeLicenseNotices(root, outdir, [action.metafile, cli.metafile]);
  return action.metafile;
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
