#!/usr/bin/env node
import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as h,b as x}from"./chunks/chunk-EIAHAW4I.js";import{a as b,b as k,n as v}from"./chunks/chunk-CSXIN2XO.js";import{a as S,b as d,d as N,t as C}from"./chunks/chunk-ELUJ2KHH.js";import"./chunks/chunk-TZN7URKK.js";import{parseArgs as U}from"node:util";import{readFile as _}from"node:fs/promises";var I=async()=>{let e=await import("./chunks/dist-AWTLUVOD.js");return e.default??e},u=()=>import("./chunks/cli-engine-GWVGIWPF.js"),P,A=`dynamic-env: per-pull-request environments in a shared Kubernetes + Istio mesh

Usage:
  dynamic-env open   --env NAME (--config FILE | --namespace NS --deployment NAME --image IMAGE [--container NAME])
  dynamic-env close  --env NAME
  dynamic-env status --env NAME
  dynamic-env list
  dynamic-env sweep  [--ttl 72h] [--keep pr-1,pr-2] [--heal [--env NAME]]
  dynamic-env plan   --snapshot FILE (--config FILE | shorthand) [--env NAME]    offline, no cluster
  dynamic-env demo                                                            plan against a bundled bookinfo

Options:
  --env NAME             environment name (RFC 1123 label, <= 40 chars), e.g. pr-42
  --config FILE          YAML config (schema: schema/dynamic-env.schema.json)
  --namespace, --deployment, --container, --image   the one-Deployment shorthand
  --kubeconfig FILE      default: $KUBECONFIG, ~/.kube/config, in-cluster
  --context NAME         kubeconfig context
  --lock-namespace NS    where a new env's Lease lives (default: default); an existing env's clones record theirs,
                         and every command uses that one
  --wait / --no-wait     wait for the clones to become available before routing (default: wait)
  --timeout DURATION     rollout wait, e.g. 300s, 5m (default 5m)
  --drain DURATION       wait between a change and what depends on it, so proxies get them in that order:
                         close/sweep between routes and subsets/clones, open around baseline pins (default 3s;
                         0 turns it off)
  --repo OWNER/REPO --pr N --commit SHA   open: ownership recorded on the env's objects; open and close refuse an
                         env recorded for another repository or PR (close without --repo closes any env)
  --heal                 sweep: put back the routes of every open env that a GitOps sync or kubectl apply of a
                         VirtualService removed (from what the env's clones record); alone, or after --ttl/--keep
  --dry-run              print the changes, write nothing
  --output text|json|yaml
  -h, --help
`,q={env:{type:"string"},config:{type:"string"},namespace:{type:"string"},deployment:{type:"string"},container:{type:"string"},image:{type:"string"},kubeconfig:{type:"string"},context:{type:"string"},"lock-namespace":{type:"string"},wait:{type:"boolean"},"no-wait":{type:"boolean"},timeout:{type:"string"},drain:{type:"string"},"dry-run":{type:"boolean"},output:{type:"string",short:"o"},snapshot:{type:"string"},ttl:{type:"string"},keep:{type:"string"},heal:{type:"boolean"},repo:{type:"string"},pr:{type:"string"},commit:{type:"string"},help:{type:"boolean",short:"h"}},G=e=>U({args:e,options:q,allowPositionals:!0,strict:!0}),B={out:e=>process.stdout.write(e),err:e=>process.stderr.write(e)};async function J(e,t=B){let n,i;try{({values:n,positionals:i}=G(e))}catch(r){return t.err(`dynamic-env: ${r.message}

${A}`),2}let a=i[0];if(n.help||!a)return(a||n.help?t.out:t.err)(A),n.help?0:2;try{let r=Y(n.output);if(r==="yaml"&&(P=(await I()).stringify),i.length>1)throw d(`unexpected argument "${i[1]}"; options take the form --name value`);switch(a){case"open":return await X(n,r,t);case"close":return await z(n,r,t);case"status":return await Q(n,r,t);case"list":return await Z(n,r,t);case"sweep":return await ee(n,r,t);case"plan":return await te(n,r,t);case"demo":return await re(r,t);default:throw d(`unknown command "${a}"; commands: open, close, status, list, sweep, plan, demo`)}}catch(r){return t.err(`dynamic-env ${a}: ${r instanceof S?r.message:W(r)}
`),N(r)}}function W(e){return e instanceof Error?process.env.DYNAMIC_ENV_DEBUG?e.stack??e.message:e.message:String(e)}function Y(e){if(e===void 0)return"text";if(e==="text"||e==="json"||e==="yaml")return e;throw d(`--output "${e}": use text, json or yaml`)}function f(e,t,n,i){t==="json"?e.out(`${JSON.stringify(n,null,2)}
`):t==="yaml"?e.out(P(n)):e.out(i())}async function V(e){return e.config?(await import("./chunks/file-AWKT55BK.js")).loadConfigFile(e.config):{services:[],workers:[]}}function j(e){let t={};e.env!==void 0&&(t.env=e.env);let n=[e.namespace,e.deployment,e.image];if(n.some(a=>a!==void 0)||e.container!==void 0){let a=["namespace","deployment","image"].filter((r,s)=>n[s]===void 0);if(a.length)throw d(`the one-Deployment shorthand needs --${a.join(", --")} as well`);H(e),t.deployment={namespace:e.namespace,deployment:e.deployment,image:e.image,...e.container?{container:e.container}:{}}}let i=D(e);return Object.keys(i).length&&(t.owner=i),t}function D(e){let t={};if(e.repo&&(t.repo=e.repo),e.pr!==void 0){if(!/^[1-9]\d{0,9}$/.test(e.pr))throw d(`--pr "${e.pr}": a pull request number, e.g. 42`);t.pr=Number(e.pr)}return e.commit&&(t.commit=e.commit),t}var F=e=>e.length<=C&&b.test(e);function H(e){let t=v.safeParse({namespace:e.namespace,deployment:e.deployment,containers:[{...e.container!==void 0?{name:e.container}:{},image:e.image}]});if(t.success)return;let n=i=>i[0]==="containers"?i[2]==="name"?"--container":"--image":`--${String(i[0])}`;throw d([...new Set(t.error.issues.map(i=>`${n(i.path)}: ${i.message}`))])}function y(e,t){if(e.wait&&e["no-wait"])throw d("--wait and --no-wait: pick one");let n=e["lock-namespace"];if(n&&(n.length>63||!b.test(n)))throw d(`--lock-namespace "${n.length>80?`${n.slice(0,77)}...`:n}": a namespace name is a lowercase RFC 1123 label of at most 63 characters, e.g. dynamic-env`);return x(t??{},{...e["lock-namespace"]?{lockNamespace:e["lock-namespace"]}:{},...e.wait?{wait:!0}:e["no-wait"]?{wait:!1}:{},...e.timeout!==void 0?{timeout:e.timeout}:{}})}function $(e){let t=e.drain?.trim();if(t===void 0||t==="")return{};if(/^0+[sm]?$/.test(t))return{drainMs:0};let n=k(t,"ms");if(typeof n=="string")throw d(`--drain: ${n}`);if(n>600)throw d(`--drain: must be at most 10m, got "${t}"`);return{drainMs:n*1e3}}async function g(e){let{KubeClient:t}=await u();return t.load({...e.kubeconfig?{kubeconfig:e.kubeconfig}:{},...e.context?{context:e.context}:{}})}var E=e=>{if(!e.env)throw d("--env is required, e.g. --env pr-42");if(!F(e.env))throw d(`--env "${e.env}": an env name is a lowercase RFC 1123 label of at most 40 characters, e.g. pr-42`);return e.env},M=e=>e.state==="failed"||e.state==="degraded"?1:0;function O(e){let t=e.filter(n=>n.action!=="unchanged");return t.length===0?`No changes: the cluster already matches.
`:t.map(n=>`  ${n.action.padEnd(7)} ${n.kind} ${n.namespace}/${n.name}${n.detail?` (${n.detail})`:""}`).join(`
`)+`
`}async function X(e,t,n){let i=await V(e),a=h(i,j(e)),r=y(e,i),{openEnv:s,renderText:c}=await u(),m=await g(e);try{let o=await s({client:m,spec:a,run:r,...$(e),dryRun:e["dry-run"],log:p=>n.err(`${p}
`)});return f(n,t,e["dry-run"]?{changes:o.changes,report:o.report}:o.report,()=>(e["dry-run"]?`Dry run: these changes would be made:
${O(o.changes)}
`:"")+c(o.report)),M(o.report)}finally{m.close()}}async function z(e,t,n){let i=E(e),a=y(e),{closeEnv:r,renderText:s}=await u(),c=await g(e);try{let m=await r({client:c,env:i,run:a,...$(e),dryRun:e["dry-run"],reason:"manual",owner:D(e),log:o=>n.err(`${o}
`)});return f(n,t,m,()=>s(m)),0}finally{c.close()}}async function Q(e,t,n){let i=E(e),{envStatus:a,renderText:r}=await u(),s=await g(e);try{let c=await a(s,i);return f(n,t,c,()=>r(c)),c.state==="absent"?1:M(c)}finally{s.close()}}async function Z(e,t,n){let{listEnvs:i,listOrphans:a}=await u(),r=await g(e);try{let[s,c]=await Promise.all([i(r),a(r)]),m=c.map(o=>`orphan: ${o.message}`);if(t!=="text")for(let o of m)n.err(`${o}
`);return f(n,t,s,()=>(s.length===0?`No environments.
`:["ENV  STATE  SERVICES  WORKERS  PR  OPENED",...s.map(o=>`${o.env}  ${o.state}  ${o.services}  ${o.workers}  ${o.pr??"-"}  ${o.openedAt??"-"}`)].map(o=>o.split("  ")).map((o,p,w)=>o.map((l,T)=>l.padEnd(Math.max(...w.map(K=>(K[T]??"").length)))).join("  ").trimEnd()).join(`
`)+`
`)+(m.length?`
Orphans (dynamic-env sweep removes them):
${m.map(o=>`  ${o}`).join(`
`)}
`:"")),0}finally{r.close()}}async function ee(e,t,n){if(e.ttl===void 0&&e.keep===void 0){if(e.heal)return R(e,t,n);throw d("sweep needs --ttl DURATION and/or --keep ENV,ENV (which envs to keep), or --heal")}let i;if(e.ttl!==void 0){let p=k(e.ttl.trim(),"dhms");if(typeof p=="string")throw d(`--ttl: ${p}`);i=p}let a=e.keep!==void 0?e.keep.split(",").map(p=>p.trim()).filter(Boolean):void 0;if(a!==void 0&&a.length===0)throw d("--keep lists no env; name the envs to keep, comma-separated (--keep pr-1,pr-7), or use --ttl");let r=(a??[]).filter(p=>!F(p));if(r.length>0)throw d(`--keep: ${r.map(p=>JSON.stringify(p)).join(", ")} ${r.length===1?"is not an env name":"are not env names"}; separate names with commas, e.g. --keep pr-1,pr-7`);let s=y(e),{sweepEnvs:c,ttlAndKeepList:m}=await u(),o=await g(e);try{let p=await c({client:o,run:s,...$(e),decide:m(i,a),dryRun:e["dry-run"],log:l=>n.err(`${l}
`)});f(n,t,p,()=>p.length===0?`No environments.
`:p.map(l=>`${l.env}: ${l.error?`FAILED to close (${l.error})`:l.closed?"closed":e["dry-run"]&&l.reason!=="kept"?"would close":"kept"} \u2014 ${l.reason}`).join(`
`)+`
`);let w=e.heal?await R(e,t,n,o):0;return p.some(l=>l.error)?1:w}finally{o.close()}}async function R(e,t,n,i){let a=y(e),{healEnvs:r}=await u(),s=i??await g(e);try{let c=e.env!==void 0?E(e):void 0,m=await r({client:s,run:a,dryRun:e["dry-run"],log:o=>n.err(`${o}
`),...c?{only:o=>o===c}:{}});return f(n,t,{healed:m},()=>m.length===0?`Heal: no open environments.
`:m.map(o=>`${o.env}: ${o.error?`FAILED to heal (${o.error})`:o.healed.length?"healed":"ok"} \u2014 ${o.reason}`).join(`
`)+`
`),m.some(o=>o.error)?1:0}finally{i||s.close()}}async function ne(e,t){let n={deployments:[],services:[],destinationRules:[],virtualServices:[]},i=(await I()).parseAllDocuments(e),a=[];for(let r of Array.isArray(i)?i:[i]){if(r.errors.length)throw d(`${t}: ${r.errors[0].message.split(`
`)[0]}`);let s=r.toJS({maxAliasCount:100});s!=null&&(s.kind==="List"||s.kind?.endsWith?.("List")?a.push(...s.items??[]):a.push(s))}for(let r of a){if(!r?.kind||!r.metadata?.name)throw d(`${t}: every document needs kind and metadata.name`);switch(r.kind){case"Deployment":n.deployments.push(r);break;case"Service":n.services.push(r);break;case"DestinationRule":n.destinationRules.push(r);break;case"VirtualService":n.virtualServices.push(r);break;default:break}}return n}async function L(e,t){let{planWithAnnotations:n,diffPlan:i,reportFromPlan:a}=await u(),r=n(e,t),s=i(r,e),c=a(r,{header:t.routing.header,baggageKey:t.routing.baggageKey},()=>({state:"progressing",reason:"planned, not applied",ready:0,desired:0}));return{plan:r,changes:s,report:c}}async function te(e,t,n){if(!e.snapshot)throw d("plan needs --snapshot FILE: a YAML dump of Deployments, Services, DestinationRules and VirtualServices");let i;try{i=await _(e.snapshot,"utf8")}catch(p){throw d(`--snapshot ${e.snapshot}: cannot be read (${p.code??String(p)})`)}let a=await V(e),r=h(a,j(e)),{plan:s,changes:c,report:m}=await L(await ne(i,e.snapshot),r),{renderText:o}=await u();return f(n,t,{changes:c,objects:{clones:s.clones,destinationRules:s.destinationRules,virtualServices:s.createVirtualServices},routeEdits:s.routeEdits,warnings:s.warnings},()=>`Plan for env ${r.name}:
${O(c)}${s.warnings.map(p=>`warning: ${p}
`).join("")}
${o(m)}`),0}async function re(e,t){let[{demoConfigText:n,demoSnapshot:i},{parseConfigText:a},{renderMarkdown:r}]=await Promise.all([import("./chunks/bookinfo-GCDISPYO.js"),import("./chunks/file-AWKT55BK.js"),u()]),s=h(a(n,"demo config"),{owner:{repo:"acme/bookinfo",pr:42,commit:"4b825dc642cb6eb9a060e54bf8d69288fbee4904"}}),{changes:c,report:m}=await L(i(),s),o={repo:"acme/bookinfo",pr:42,commit:"4b825dc642cb6eb9a060e54bf8d69288fbee4904",updatedAt:s.now};return f(t,e,{changes:c,report:{...m,context:o}},()=>[`dynamic-env demo: planning env ${s.name} against a bundled bookinfo snapshot (no cluster needed).`,"","Config:",n.trimEnd().split(`
`).map(p=>`  ${p}`).join(`
`),"","Changes open would make, in this order (clones, DestinationRules, then routes):",O(c),"Preview of the pull request comment:","----------------------------------------------------------------",r({...m,context:o}),"----------------------------------------------------------------",""].join(`
`)),0}var oe=process.argv[1]??"";/(?:^|[\\/])(cli\.(?:js|ts)|dynamic-env)$/.test(oe)&&J(process.argv.slice(2)).then(e=>{process.exitCode=e});export{J as main,ne as parseSnapshot};
