// The committed JSON Schema matches the zod schema, and describes the file for editors.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { configJsonSchemaText, SCHEMA_PATH } from '../../src/config/json-schema.js';

describe('schema/dynamic-env.schema.json', () => {
  test('is fresh (run `npm run schema` after changing src/config/schema.ts)', () => {
    expect(readFileSync(SCHEMA_PATH, 'utf8')).toBe(configJsonSchemaText());
  });

  test('is strict and names the fields, defaults and patterns editors need', () => {
    const schema = JSON.parse(configJsonSchemaText()) as {
      additionalProperties: boolean;
      properties: Record<string, any>;
    };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(schema.properties)).toEqual(['env', 'lockNamespace', 'clusterDomain', 'istioRootNamespace', 'routing', 'wait', 'timeout', 'services', 'workers', 'gitops']);
    const routing = schema.properties.routing;
    expect(routing.additionalProperties).toBe(false);
    expect(routing.properties.baggageKey.default).toBe('override');
    expect(routing.properties.versionLabel.default).toBe('version');
    const workload = schema.properties.services.items;
    expect(workload.additionalProperties).toBe(false);
    expect(workload.required).toEqual(['namespace', 'deployment']);
    expect(workload.properties.replicas).toMatchObject({ type: 'integer', minimum: 1, maximum: 50, default: 1 });
    expect(workload.properties.containers.items.additionalProperties).toBe(false);
    expect(schema.properties.env.maxLength).toBe(40);
  });
});
