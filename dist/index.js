import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
async function r(){throw new Error("not implemented yet")}await r();
