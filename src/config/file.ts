// Reading the config file: one YAML document, at most 1 MiB, no duplicate keys, no alias bombs, then the strict
// schema. Every problem is one line `<file>: <where>: <what is wrong and what to do>`, all reported at once.

import { readFile, stat } from 'node:fs/promises';
import { LineCounter, parseAllDocuments } from 'yaml';
import { usageError } from '../errors.js';
import { errorMap, issueLines } from './issues.js';
import { configFileSchema, type ConfigFile } from './schema.js';

export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Alias expansions allowed per document (yaml's guard against "billion laughs"); real configs need few or none. */
export const MAX_ALIAS_COUNT = 100;

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

function tooLarge(source: string, bytes: number): Error {
  return usageError(
    `${source}: the file is ${mib(bytes)} (${bytes} bytes), more than the 1 MiB limit for a config file; ` +
      'a dynamic-env config is a few kilobytes, check that the right file is named',
  );
}

/** Reads and validates the config file at `path`. */
export async function loadConfigFile(path: string): Promise<ConfigFile> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw usageError(`${path}: is not a file; pass the path of the YAML config file`);
    size = info.size;
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') {
      throw usageError(`${path}: config file not found; check the path (it is relative to the working directory)`);
    }
    if ((error as { kind?: string }).kind === 'usage') throw error;
    throw usageError(`${path}: cannot read the config file: ${(error as Error).message}`);
  }
  if (size > MAX_CONFIG_BYTES) throw tooLarge(path, size);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw usageError(`${path}: cannot read the config file: ${(error as Error).message}`);
  }
  return parseConfigText(text, path);
}

/** Parses and validates config YAML; `sourceName` prefixes every message (usually the file's path). */
export function parseConfigText(text: string, sourceName: string): ConfigFile {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) throw tooLarge(sourceName, bytes);

  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, version: '1.2' });
  // parseAllDocuments returns an EmptyStream (an array with extra fields) for a stream without documents.
  const documents = Array.isArray(docs) ? docs : [docs];
  const where = (offset: number | undefined): string => {
    if (offset === undefined || offset < 0) return '';
    const { line, col } = lineCounter.linePos(offset);
    return `line ${line}, column ${col}: `;
  };

  const syntax: string[] = [];
  for (const doc of documents) {
    for (const e of [...doc.errors, ...doc.warnings]) {
      const message = e.code === 'DUPLICATE_KEY' ? 'duplicate key; each key may appear once per mapping' : e.message;
      syntax.push(`${sourceName}: ${where(e.pos[0])}${message}`);
    }
  }
  if (syntax.length > 0) throw usageError(syntax);
  if (documents.length > 1) {
    const second = documents[1]!;
    throw usageError(
      `${sourceName}: ${where(second.range[0])}the file holds ${documents.length} YAML documents; ` +
        'put the whole config in one document (remove the "---" separators)',
    );
  }
  const doc = documents[0];
  if (!doc || doc.contents === null) {
    throw usageError(`${sourceName}: the file is empty; it needs at least a services or workers list`);
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const message = (error as Error).message;
    if (/alias count|resource exhaustion/i.test(message)) {
      throw usageError(
        `${sourceName}: too many YAML alias expansions (a "billion laughs" document?); write the values out ` +
          'instead of repeating anchors (*name) so often',
      );
    }
    throw usageError(`${sourceName}: ${message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw usageError(
      `${sourceName}: the top level must be a mapping (keys like services, workers, routing), got ${Array.isArray(data) ? 'a list' : typeof data}`,
    );
  }

  const parsed = configFileSchema.safeParse(data, { error: errorMap });
  if (!parsed.success) {
    throw usageError(issueLines(configFileSchema, parsed.error.issues).map((line) => `${sourceName}: ${line}`));
  }
  return parsed.data;
}
