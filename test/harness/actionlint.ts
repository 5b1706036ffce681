// actionlint, built from the Go module proxy by build-actionlint.sh (once, cached in ~/.cache/dynamic-env/) and run
// on workflow files. shellcheck and pyflakes stay off: they are not built here, and a check that depends on what a
// machine happens to have installed would pass on one and fail on another.
import { execFile, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface LintError {
  message: string;
  filepath: string;
  line: number;
  column: number;
  kind: string;
}

/** Builds actionlint (a no-op when cached) and returns its path. Exit 3 of the script: no Go on PATH. */
export function buildActionlint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(here, 'build-actionlint.sh')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(out.trim().split('\n').pop()!);
      else reject(new Error(code === 3 ? 'Go toolchain not found on PATH; it is needed to build actionlint' : `building actionlint failed (exit ${code}); see the output above`));
    });
  });
}

/** Lints workflow files; `cwd` is the repository whose local actions (`uses: ./`) actionlint reads. */
export function actionlint(bin: string, files: string[], cwd: string): Promise<LintError[]> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['-shellcheck=', '-pyflakes=', '-format', '{{json .}}', ...files], { cwd }, (error, stdout, stderr) => {
      // Exit 1: problems found (listed on stdout); anything else is actionlint failing.
      if (error && error.code !== 1) return reject(new Error(`actionlint failed (${error.code}): ${stderr}`));
      resolve(stdout.trim() ? JSON.parse(stdout) as LintError[] : []);
    });
  });
}
