import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a,b,c,d}from"./chunk-ZR65AZNY.js";import"./chunk-CSXIN2XO.js";import"./chunk-XHFMSVB2.js";import"./chunk-ELUJ2KHH.js";import"./chunk-TZN7URKK.js";export{b as MAX_ALIAS_COUNT,a as MAX_CONFIG_BYTES,c as loadConfigFile,d as parseConfigText};
