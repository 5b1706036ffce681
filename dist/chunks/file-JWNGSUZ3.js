import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{b as a,c as b,d as c,e as d}from"./chunk-ZCSSPU5B.js";import"./chunk-JQXKZHOK.js";import"./chunk-YPGJBH27.js";import"./chunk-TZN7URKK.js";export{b as MAX_ALIAS_COUNT,a as MAX_CONFIG_BYTES,c as loadConfigFile,d as parseConfigText};
