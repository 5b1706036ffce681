// The size of the bundles, and what the action's is made of by package (the build script bundles the sources
// again into bench/out/bundle for the esbuild metafile; dist/ is not touched). Needs no cluster.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { log } from '../lib/plane.mjs';

export const title = 'bundle sizes';
export const needsCluster = false;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const file = (p) => {
  const buf = readFileSync(join(root, p));
  return { path: p, bytes: buf.length, gzipBytes: gzipSync(buf).length, sha256: createHash('sha256').update(buf).digest('hex') };
};

export async function run() {
  let byPackage;
  let rebuiltBytes;
  try {
    const { bundle } = await import('../../scripts/build.mjs');
    const outdir = join(root, 'bench', 'out', 'bundle');
    const metafile = await bundle(outdir);
    const sizes = {};
    for (const out of Object.values(metafile.outputs)) {
      for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
        const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input)?.[1] ?? 'src';
        sizes[pkg] = (sizes[pkg] ?? 0) + bytesInOutput;
      }
    }
    byPackage = Object.fromEntries(Object.entries(sizes).sort((x, y) => y[1] - x[1]).slice(0, 10));
    rebuiltBytes = statSync(join(outdir, 'index.js')).size;
  } catch (e) {
    log(`bundle composition: ${e.message}`);
  }
  // dist/chunks (esbuild splitting), shared by both entries: those the action's entry imports statically (at once or
  // through another chunk) load with it; the rest only when a dynamic import() asks for them.
  const chunkDir = join(root, 'dist', 'chunks');
  const chunks = existsSync(chunkDir) ? readdirSync(chunkDir).map((f) => file(`dist/chunks/${f}`)) : [];
  const chunksBytes = chunks.reduce((n, c) => n + c.bytes, 0);
  const atStart = staticChunks('dist/index.js');
  const startBytes = chunks.filter((c) => atStart.has(c.path)).reduce((n, c) => n + c.bytes, 0);
  return {
    action: { ...file('dist/index.js'), byPackage, rebuiltBytes },
    cli: file('dist/cli.js'),
    chunks: { files: chunks.length, bytes: chunksBytes, actionStart: { files: atStart.size, bytes: startBytes } },
  };
}

/** The chunks `entry` imports statically, directly or through one another (`import ... from"./chunks/x.js"`). */
function staticChunks(entry) {
  const found = new Set();
  const visit = (path) => {
    const text = readFileSync(join(root, path), 'utf8');
    for (const m of text.matchAll(/(?:\bfrom|\bimport)\s*"\.\/(?:chunks\/)?([^"]+\.js)"/g)) {
      const chunk = `dist/chunks/${m[1]}`;
      if (found.has(chunk)) continue;
      found.add(chunk);
      visit(chunk);
    }
  };
  visit(entry);
  return found;
}
