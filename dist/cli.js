#!/usr/bin/env node
import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
process.stdout.write(`dynamic-env: engine not built yet
`);
