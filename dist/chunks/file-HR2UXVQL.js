import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{b as a,c as b,d as c,e as d}from"./chunk-JRO3VPU2.js";import"./chunk-TLQZP6V4.js";import"./chunk-52ZERDD5.js";import"./chunk-TZN7URKK.js";export{b as MAX_ALIAS_COUNT,a as MAX_CONFIG_BYTES,c as loadConfigFile,d as parseConfigText};
