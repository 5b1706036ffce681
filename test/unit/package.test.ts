// What `npm install dynamic-env-action` and a release ship: dist/ is self-contained, so the package declares no
// runtime dependency (each would be installed for nothing, next to its bundled copy).
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));

describe('package.json', () => {
  it('publishes dist/, the action metadata, the schema, the RBAC manifest and the licence notices', () => {
    for (const entry of ['dist/', 'action.yml', 'schema/', 'deploy/']) expect(pkg.files).toContain(entry);
    for (const file of ['dist/cli.js', 'dist/index.js', 'dist/licenses.txt', 'LICENSE', 'CHANGELOG.md', 'SECURITY.md']) {
      expect(existsSync(file), file).toBe(true);
    }
    expect(pkg.bin['dynamic-env']).toBe('dist/cli.js');
  });

  it('says where the project lives and under which licence', () => {
    expect(pkg.repository.url).toMatch(/^git\+https:\/\/github\.com\/[^/]+\/[^/]+\.git$/);
    expect(pkg.homepage).toMatch(/^https:\/\/github\.com\//);
    expect(pkg.bugs.url).toMatch(/\/issues$/);
    expect(pkg.keywords).toEqual(expect.arrayContaining(['github-action', 'kubernetes', 'istio']));
    expect(pkg.license).toBe('MIT');
    expect(readFileSync('LICENSE', 'utf8')).toMatch(/^MIT License\n/);
  });

  it('declares no runtime dependency: what dist/ bundles is a devDependency only', () => {
    expect(pkg.dependencies ?? {}).toEqual({});
    const notices = readFileSync('dist/licenses.txt', 'utf8');
    for (const name of ['@actions/core', '@kubernetes/client-node', 'yaml', 'zod']) {
      expect(notices).toContain(`- ${name}@`);
      expect(pkg.devDependencies[name], name).toBeDefined();
    }
  });

  it('npm test type-checks, runs the unit tier first and says so, then the end-to-end tier', () => {
    const steps = pkg.scripts.test.split(' && ');
    expect(steps[0]).toBe('tsc --noEmit');
    expect(steps[1]).toMatch(/^echo ".*unit tier/);
    expect(steps[2]).toBe('vitest run --project unit');
    expect(steps[3]).toMatch(/^echo ".*end-to-end tier/);
    expect(steps[4]).toBe('vitest run --project e2e');
    expect(steps).toHaveLength(5);
  });

  it('runs dist/cli.js from a directory without node_modules', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dist-alone-'));
    try {
      // dist/ as published: the entry points and the chunks they load on demand.
      cpSync('dist', dir, { recursive: true });
      const run = (...args: string[]) => execFileSync(process.execPath, [join(dir, 'cli.js'), ...args], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      // demo loads the engine's and the file readers' chunks (yaml, the planner, the renderer).
      expect(run('demo')).toContain('x-override: pr-42');
      const out = run('--help');
      expect(out).toMatch(/^dynamic-env: /);
      expect(out).toContain('Usage: dynamic-env <command>');
      expect(out).toMatch(/^ {2}open {2,}open or update an env/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
