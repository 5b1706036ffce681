// dist/ is what runners execute (action.yml: main dist/index.js). It must be exactly what the sources build to.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
// @ts-expect-error: plain ESM build script without types
import { bundle } from '../../scripts/build.mjs';

describe('dist/', () => {
  it('is rebuilt from the current sources (run `npm run build` and commit dist/)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'dist-check-'));
    try {
      await bundle(out);
      // Every file: the entry points and the chunks they import on demand (dist/chunks/), none missing or extra.
      const files = (dir: string) => readdirSync(dir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
      expect(files('dist'), 'dist/ has other files than the build makes: run npm run build').toEqual(files(out));
      expect(files(out)).toEqual(expect.arrayContaining(['cli.js', 'index.js']));
      for (const file of files(out)) {
        const fresh = readFileSync(join(out, file));
        const committed = readFileSync(join('dist', file));
        expect(committed.equals(fresh), `dist/${file} is stale: run npm run build`).toBe(true);
      }
      expect(statSync('dist/cli.js').mode & 0o111).not.toBe(0);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);

  it('ships the licence of every bundled package (dist/licenses.txt)', () => {
    const notices = readFileSync('dist/licenses.txt', 'utf8');
    // The packages the bundles are mostly made of, each listed with its licence and carrying its own text.
    for (const pkg of ['@kubernetes/client-node', '@octokit/rest', '@actions/core', 'yaml', 'zod', 'js-yaml']) {
      expect(notices, pkg).toMatch(new RegExp(`^- ${pkg.replace('/', '\\/')}@[^ ]+ \\((MIT|ISC|Apache-2\\.0)\\)$`, 'm'));
      expect(notices, pkg).toMatch(new RegExp(`^${pkg.replace('/', '\\/')}@[^ ]+ \\(.*\\)\\n={78}\\n\\n\\S`, 'm'));
    }
    expect(notices).toContain('Apache License');
    expect(notices).not.toMatch(/node_modules|\/work\/|\/home\//);
  });

  it('the action loads at start only what comes before its first request: no GitHub client, no second YAML parser', async () => {
    const out = mkdtempSync(join(tmpdir(), 'dist-start-'));
    try {
      const meta = await bundle(out) as { outputs: Record<string, { imports: { path: string; kind: string }[]; inputs: Record<string, unknown> }> };
      const atStart = new Set<string>();
      const visit = (k: string) => {
        if (atStart.has(k)) return;
        atStart.add(k);
        for (const i of meta.outputs[k]!.imports) if (i.kind === 'import-statement' && meta.outputs[i.path]) visit(i.path);
      };
      visit(Object.keys(meta.outputs).find((k) => k.endsWith('/index.js'))!);
      const inputs = [...atStart].flatMap((k) => Object.keys(meta.outputs[k]!.inputs));
      expect(inputs.some((i) => i.includes('src/action.ts'))).toBe(true);
      expect(inputs.filter((i) => /node_modules\/(yaml|@octokit)\/|src\/config\/file\.ts/.test(i))).toEqual([]);
      // What the action needs before its first request is there: the kubeconfig's parser and the kube client.
      expect(inputs.some((i) => i.includes('node_modules/js-yaml/'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);

  it('keeps the action bundle under 2 MB (with the chunks it loads)', () => {
    const chunks = readdirSync('dist/chunks').reduce((n, f) => n + statSync(join('dist/chunks', f)).size, 0);
    expect(statSync('dist/index.js').size + chunks).toBeLessThan(2 * 1024 * 1024);
  });
});
