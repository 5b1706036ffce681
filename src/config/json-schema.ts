// The JSON Schema of the config file as committed in schema/dynamic-env.schema.json (`npm run schema` writes it,
// a unit test fails when the committed file is stale).

import { configJsonSchema } from './schema.js';

export const SCHEMA_PATH = 'schema/dynamic-env.schema.json';

export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
