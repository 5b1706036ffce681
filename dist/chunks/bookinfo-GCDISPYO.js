import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import"./chunk-TZN7URKK.js";var v="bookinfo",s=v,n="2026-01-05T09:00:00Z";function i(e,t,a,r={}){let p=t?`${e}-${t}`:e,m={app:e,...t?{version:t}:{}};return{apiVersion:"apps/v1",kind:"Deployment",metadata:{name:p,namespace:s,uid:`demo-uid-${p}`,resourceVersion:"1201",generation:3,creationTimestamp:n,labels:{...m,"app.kubernetes.io/instance":"bookinfo","app.kubernetes.io/managed-by":"Helm"},annotations:{"deployment.kubernetes.io/revision":"3","meta.helm.sh/release-name":"bookinfo","meta.helm.sh/release-namespace":s},...r},spec:{replicas:2,selector:{matchLabels:m},template:{metadata:{labels:{...m}},spec:{serviceAccountName:`bookinfo-${e}`,containers:[{name:e,image:a,imagePullPolicy:"IfNotPresent",ports:[{containerPort:9080}],env:[{name:"LOG_DIR",value:"/tmp/logs"}]}]}}},status:{observedGeneration:3,replicas:2,readyReplicas:2,availableReplicas:2,updatedReplicas:2}}}function u(e){return{apiVersion:"v1",kind:"Service",metadata:{name:e,namespace:s,labels:{app:e,service:e},creationTimestamp:n},spec:{selector:{app:e},ports:[{name:"http",port:9080}]}}}function o(e,t,a={}){return{apiVersion:"networking.istio.io/v1",kind:"DestinationRule",metadata:{name:e,namespace:s,creationTimestamp:n},spec:{host:e,subsets:t.map(r=>({name:r,labels:{version:r}})),...a}}}function c(e,t){return{apiVersion:"networking.istio.io/v1",kind:"VirtualService",metadata:{name:e,namespace:s,creationTimestamp:n,resourceVersion:"2001"},spec:{hosts:[e],http:t}}}function d(){let e=a=>`docker.io/istio/examples-bookinfo-${a}:1.20.3`,t={tls:{mode:"ISTIO_MUTUAL"}};return{deployments:[i("productpage","v1",e("productpage-v1")),i("details","v1",e("details-v1")),i("reviews","v1",e("reviews-v1")),i("reviews","v2",e("reviews-v2")),i("reviews","v3",e("reviews-v3")),i("ratings","v1",e("ratings-v1")),i("review-indexer",void 0,"ghcr.io/acme/review-indexer:1.4.0")],services:["productpage","details","reviews","ratings"].map(u),destinationRules:[o("productpage",["v1"]),o("details",["v1","v2"]),o("reviews",["v1","v2","v3"],{trafficPolicy:t}),o("ratings",["v1"])],virtualServices:[{apiVersion:"networking.istio.io/v1",kind:"VirtualService",metadata:{name:"bookinfo",namespace:s,creationTimestamp:n,resourceVersion:"2000"},spec:{hosts:["*"],gateways:["bookinfo-gateway"],http:[{name:"productpage",match:[{uri:{exact:"/productpage"}},{uri:{prefix:"/static"}},{uri:{exact:"/login"}},{uri:{exact:"/logout"}},{uri:{prefix:"/api/v1/products"}}],route:[{destination:{host:"productpage",subset:"v1",port:{number:9080}}}]}]}},c("productpage",[{name:"default",route:[{destination:{host:"productpage",subset:"v1"}}]}]),c("details",[{name:"default",route:[{destination:{host:"details",subset:"v1"}}]}]),c("reviews",[{name:"jason",match:[{headers:{"end-user":{exact:"jason"}}}],route:[{destination:{host:"reviews",subset:"v2"}}]},{name:"default",route:[{destination:{host:"reviews",subset:"v1"},weight:90},{destination:{host:"reviews",subset:"v3"},weight:10}],timeout:"10s"}]),c("ratings",[{name:"default",route:[{destination:{host:"ratings",subset:"v1"}}]}])]}}var l=`# dynamic-env demo: open reviews (v3) with the PR's image, plus the review indexer worker.
env: pr-42
routing:
  header: x-override
  baggageKey: override
services:
  - namespace: bookinfo
    deployment: reviews-v3
    image: ghcr.io/acme/reviews:pr-42
workers:
  - namespace: bookinfo
    deployment: review-indexer
    containers:
      - image: ghcr.io/acme/review-indexer:pr-42
        env:
          - name: QUEUE
            value: reviews-pr-42
`;export{v as DEMO_NAMESPACE,l as demoConfigText,d as demoSnapshot};
