import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{b as a,c as b,d as c,e as d}from"./chunk-7NGDFP7M.js";import"./chunk-N3H3ES4F.js";import"./chunk-FQYTFKGZ.js";import"./chunk-TZN7URKK.js";export{b as MAX_ALIAS_COUNT,a as MAX_CONFIG_BYTES,c as loadConfigFile,d as parseConfigText};
