#!/usr/bin/env node
import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import*as e from"node:module";e.enableCompileCache?.();var{main:o}=await import("./chunks/cli-DO34OFE6.js");process.exitCode=await o(process.argv.slice(2));
