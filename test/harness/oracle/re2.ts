// Envoy's safe_regex is Google RE2 used with RE2::FullMatch. re2-wasm is that library compiled to WebAssembly;
// JavaScript's RegExp differs from it (look-around, backreferences, `$` before a final newline) and is not used.

import { RE2 } from 're2-wasm';
import { OracleConfigError } from './types.js';

// Routes of a snapshot repeat the same few patterns for every request; compiling is the expensive part.
const compiled = new Map<string, RE2 | OracleConfigError>();

/** Whether RE2 matches the whole of `value` with `pattern`. Throws OracleConfigError if RE2 rejects the pattern. */
export function re2FullMatch(pattern: string, value: string): boolean {
  return compiledRegex(pattern).test(value);
}

function compiledRegex(pattern: string): RE2 {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = compile(pattern);
    compiled.set(pattern, re);
  }
  if (re instanceof OracleConfigError) throw re;
  return re;
}

function compile(pattern: string): RE2 | OracleConfigError {
  try {
    // The bare pattern first: one like `a)|(b` is invalid on its own (Envoy rejects it) but balances once wrapped.
    new RE2(pattern, 'u');
    // Without the m flag RE2's `$` is end of text only, so this anchoring is RE2::FullMatch.
    return new RE2(`^(?:${pattern})$`, 'u');
  } catch (e) {
    return new OracleConfigError(`RE2 rejects the regex ${JSON.stringify(pattern)}: ${(e as Error).message}`);
  }
}
