// Every default of the config file in one place (the JSON Schema shows them too).

/** Default GitOps tracking metadata removed from a clone Deployment's own metadata (never from its pod template). */
export const DEFAULT_STRIP_LABELS: readonly string[] = [
  // Argo CD: the default tracking label, and the legacy instance label.
  'app.kubernetes.io/instance',
  'argocd.argoproj.io/instance',
  // Flux kustomize-controller and helm-controller ownership labels.
  'kustomize.toolkit.fluxcd.io/name',
  'kustomize.toolkit.fluxcd.io/namespace',
  'helm.toolkit.fluxcd.io/name',
  'helm.toolkit.fluxcd.io/namespace',
];

export const DEFAULT_STRIP_ANNOTATIONS: readonly string[] = [
  // Argo CD annotation tracking.
  'argocd.argoproj.io/tracking-id',
  // Helm release ownership.
  'meta.helm.sh/release-name',
  'meta.helm.sh/release-namespace',
  // History of the original object.
  'kubectl.kubernetes.io/last-applied-configuration',
  'deployment.kubernetes.io/revision',
  // Flux: checksum of the last applied revision, and per-object reconcile/prune/ssa switches.
  'kustomize.toolkit.fluxcd.io/checksum',
  'kustomize.toolkit.fluxcd.io/reconcile',
  'kustomize.toolkit.fluxcd.io/prune',
  'kustomize.toolkit.fluxcd.io/ssa',
  'kustomize.toolkit.fluxcd.io/force',
];

export const DEFAULTS = {
  lockNamespace: 'default',
  clusterDomain: 'cluster.local',
  istioRootNamespace: 'istio-system',
  routing: {
    header: 'x-override',
    baggageKey: 'override' as string | false,
    versionLabel: 'version',
    pinUnsubsetRoutes: false,
    allowPinningGitOpsManaged: false,
  },
  wait: true,
  timeoutSeconds: 300,
  replicas: 1,
  gitops: { stripLabels: DEFAULT_STRIP_LABELS, stripAnnotations: DEFAULT_STRIP_ANNOTATIONS },
} as const;
