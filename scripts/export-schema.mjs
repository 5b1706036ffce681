// Writes schema/dynamic-env.schema.json from the zod schema in src/config/schema.ts (`npm run schema`).
// `--check` exits 1 instead when the committed file is stale (test/unit/config-schema.test.ts checks it too).

import { build } from 'esbuild';
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'schema', 'dynamic-env.schema.json');

const bundle = await build({
  stdin: {
    contents: "export { configJsonSchemaText } from './src/config/json-schema.ts';",
    resolveDir: root,
    sourcefile: 'export-schema-entry.ts',
    loader: 'ts',
  },
  bundle: true,
  write: false,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'error',
});
const code = bundle.outputFiles[0].text;
const { configJsonSchemaText } = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
const text = configJsonSchemaText();

if (process.argv.includes('--check')) {
  const current = await readFile(out, 'utf8').catch(() => '');
  if (current !== text) {
    console.error(`${out} is stale; run npm run schema`);
    process.exit(1);
  }
  console.log(`${out} is up to date`);
} else {
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, text);
  console.log(`wrote ${out}`);
}
