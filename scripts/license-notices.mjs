// Writes dist/licenses.txt: the licence of every package that esbuild bundled into dist/ (minification strips the
// notices their licences ask us to keep). The packages come from the bundles' metafiles, so the list is exactly what
// ships; the text is each package's own licence file. Reproducible: sorted, no timestamps, no absolute paths.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const LICENSE_FILE = /^(licen[cs]e|copying)(\.(md|txt|markdown))?$/i;
// Apache-2.0 section 4(d): a NOTICE file the package ships must be passed on with it.
const NOTICE_FILE = /^notice(\.(md|txt))?$/i;

/** The package directory (relative to the repository root) of a metafile input inside node_modules, or undefined. */
export function packageDirOf(input) {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m?.[1];
}

/** Sorted, de-duplicated `name@version` entries with their licence, from esbuild metafiles. */
export function bundledPackages(root, metafiles) {
  const dirs = new Set();
  for (const metafile of metafiles) {
    for (const out of Object.values(metafile.outputs)) {
      for (const [input, { bytesInOutput }] of Object.entries(out.inputs)) {
        const dir = packageDirOf(input);
        // A module tree-shaken to nothing ships no code of that package.
        if (dir && bytesInOutput > 0) dirs.add(dir);
      }
    }
  }
  const packages = new Map();
  for (const dir of dirs) {
    const manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
    const id = `${manifest.name}@${manifest.version}`;
    if (packages.has(id)) continue;
    const texts = [LICENSE_FILE, NOTICE_FILE].map((name) => fileText(join(root, dir), name));
    packages.set(id, { id, license: licenseOf(manifest), text: texts[0] && texts.filter(Boolean).join('\n\n') });
  }
  return [...packages.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function licenseOf(manifest) {
  if (typeof manifest.license === 'string') return manifest.license;
  if (manifest.license?.type) return manifest.license.type;
  if (Array.isArray(manifest.licenses)) return manifest.licenses.map((l) => l.type ?? l).join(' OR ');
  return 'UNKNOWN';
}

function fileText(dir, name) {
  const file = readdirSync(dir).filter((f) => name.test(f)).sort()[0];
  return file ? readFileSync(join(dir, file), 'utf8').replace(/\r\n/g, '\n').trim() : undefined;
}

/** The text of dist/licenses.txt. A package without a licence file of its own fails the build: we cannot ship it. */
export function licenseNotices(root, metafiles) {
  const packages = bundledPackages(root, metafiles);
  const missing = packages.filter((p) => !p.text);
  if (missing.length) {
    throw new Error(`no licence file found for bundled package(s) ${missing.map((p) => p.id).join(', ')}; add its notice by hand to scripts/license-notices.mjs before shipping it`);
  }
  const head = [
    'Third-party software bundled into dist/index.js and dist/cli.js, with the licence of each.',
    'dynamic-env itself is MIT-licensed: see LICENSE.',
    '',
    ...packages.map((p) => `- ${p.id} (${p.license})`),
  ].join('\n');
  const bodies = packages.map((p) => `${'='.repeat(78)}\n${p.id} (${p.license})\n${'='.repeat(78)}\n\n${p.text}`);
  return `${head}\n\n${bodies.join('\n\n')}\n`;
}

/** Writes `licenses.txt` into `outdir` for the given metafiles. */
export function writeLicenseNotices(root, outdir, metafiles) {
  writeFileSync(join(outdir, 'licenses.txt'), licenseNotices(root, metafiles));
}
