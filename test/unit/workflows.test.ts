// The README's workflows work when copied: actionlint (built from the Go module proxy, cached) finds nothing in them
// or in the project's own .github/workflows, and the rules actionlint cannot see hold (test/workflows/rules.ts).
// Each rule is shown to catch the mistake it is about, on a copy of the README with that mistake made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { actionlint, buildActionlint } from '../harness/actionlint.js';
import {
  majorProblems, markdownWorkflows, parseWorkflow, readmeWorkflowProblems, secretProblems, type Workflow,
} from '../workflows/rules.js';

const README = readFileSync('README.md', 'utf8');
const OWN = '.github/workflows';

const readmeWorkflows = (markdown: string): Workflow[] => markdownWorkflows(markdown).map((w) => parseWorkflow(w.name, w.text));

/** The README with `from` (which must be there: a mutation that changes nothing proves nothing) made `to`. */
function mutated(from: string, to: string): string {
  expect(README, `the README no longer contains ${JSON.stringify(from)}`).toContain(from);
  return README.replace(from, to);
}

describe('README workflows: the rules actionlint cannot see', () => {
  it('has the open, close and sweep workflows', () => {
    expect(markdownWorkflows(README).map((w) => w.name)).toEqual(['dynamic-env', 'dynamic-env-close', 'dynamic-env-sweep']);
  });

  it('follows every rule', () => {
    expect(readmeWorkflowProblems(readmeWorkflows(README))).toEqual([]);
  });

  const OPEN_GATE = "github.event.pull_request.head.repo.full_name == github.repository && github.actor != 'dependabot[bot]'\n    runs-on";
  it.each([
    ['no registry login', '      - uses: docker/login-action@v4\n        with:\n          registry: ghcr.io\n          username: ${{ github.actor }}\n          password: ${{ secrets.GITHUB_TOKEN }}\n', '', /job "build": log in to the registry \(docker\/login-action\) before the push/],
    ['no packages: write', '      packages: write        # push to ghcr.io\n', '', /job "build": pushing an image needs `packages: write`/],
    ['image tagged with the merge commit', 'tags: ghcr.io/acme/reviews:${{ github.event.pull_request.head.sha }}', 'tags: ghcr.io/acme/reviews:${{ github.sha }}', /job "build": tag the image with the PR's head sha/],
    ['open without the fork gate', OPEN_GATE, "github.actor != 'dependabot[bot]'\n    runs-on", /job "open": fork PRs get no secrets/],
    ['build without the Dependabot gate', "github.repository && github.actor != 'dependabot[bot]' &&\n      github.event.action", 'github.repository &&\n      github.event.action', /job "build": Dependabot PRs get no secrets/],
    ['close without the Dependabot gate', "    if: github.actor != 'dependabot[bot]'\n", '', /job "close": Dependabot PRs get no secrets/],
    ['close checks out code', '      - uses: acme/dynamic-env@v1      # no checkout', '      - uses: actions/checkout@v7\n      - uses: acme/dynamic-env@v1      # no checkout', /job "close": pull_request_target runs with secrets; do not check out code/],
    ['no unlabeled', 'converted_to_draft, labeled, unlabeled]', 'converted_to_draft, labeled]', /pull_request types lack unlabeled/],
    ['no converted_to_draft', 'ready_for_review, converted_to_draft, labeled', 'ready_for_review, labeled', /pull_request types lack converted_to_draft/],
    ['a build that is not cancelled', 'cancel-in-progress: true', 'cancel-in-progress: false', /job "build": the build needs concurrency with cancel-in-progress: true/],
    ['an open that may be cancelled', '      group: dynamic-env-${{ github.event.pull_request.number }}\n      cancel-in-progress: false', '      group: dynamic-env-${{ github.event.pull_request.number }}\n      cancel-in-progress: true', /job "open": the open job needs concurrency keyed per PR/],
    ['workflow-level concurrency on the open workflow', 'permissions:\n  contents: read\njobs:\n  build:', 'concurrency: dynamic-env-${{ github.event.pull_request.number }}\npermissions:\n  contents: read\njobs:\n  build:', /job "open": no workflow-level concurrency/],
    ['the open does not wait for the build', '  open:\n    needs: build\n', '  open:\n', /job "open": needs: build/],
    ['the build inside the open job', '      - uses: acme/dynamic-env@v1\n        with:\n          config:', '      - run: docker push ghcr.io/acme/reviews:${{ github.event.pull_request.head.sha }}\n      - uses: acme/dynamic-env@v1\n        with:\n          config:', /job "open": build the image in a job of its own/],
    ['sweep without a concurrency group', '    concurrency:\n      group: dynamic-env-sweep\n      cancel-in-progress: false\n', '', /job "sweep": the sweep needs a concurrency group of its own/],
    ['sweep in the open group', 'group: dynamic-env-sweep', 'group: dynamic-env-${{ github.event.pull_request.number }}', /job "sweep": the sweep needs a concurrency group of its own/],
    ['sweep without deployments: write', '      deployments: write     # mark the swept', '      # mark the swept', /job "sweep": github-deployment: true needs `deployments: write`/],
    ['sweep without github-deployment', '          github-deployment: true\n          ttl: 7d', '          ttl: 7d', /job "sweep": set github-deployment: true here too/],
    ['an old actions/checkout', '      - uses: actions/checkout@v7\n      - uses: docker/setup-buildx-action@v4', '      - uses: actions/checkout@v4\n      - uses: docker/setup-buildx-action@v4', /actions\/checkout@v4 is not the current major of actions\/checkout \(v7\)/],
    ['an old docker/build-push-action', 'docker/build-push-action@v7', 'docker/build-push-action@v6', /docker\/build-push-action@v6 is not the current major/],
    ['an action nobody checked', 'docker/setup-buildx-action@v4', 'someone/setup-buildx@v1', /someone\/setup-buildx@v1 is not in CURRENT_MAJORS/],
  ] as const)('catches %s', (_what, from, to, expected) => {
    const problems = readmeWorkflowProblems(readmeWorkflows(mutated(from, to)));
    expect(problems.join('\n')).toMatch(expected);
  });

  it('catches a login after the push', () => {
    const login = '      - uses: docker/login-action@v4\n        with:\n          registry: ghcr.io\n          username: ${{ github.actor }}\n          password: ${{ secrets.GITHUB_TOKEN }}\n';
    const tags = '          tags: ghcr.io/acme/reviews:${{ github.event.pull_request.head.sha }}\n';
    const text = mutated(login, '').replace(tags, tags + login);
    expect(text).not.toBe(README.replace(login, ''));
    expect(readmeWorkflowProblems(readmeWorkflows(text)).join('\n')).toMatch(/job "build": log in to the registry \(docker\/login-action\) before the push/);
  });

  it('catches a close outside the open group', () => {
    const text = mutated('    # The open workflow\'s group: a close waits for a running open of the same PR, and is never cancelled.\n    concurrency:\n      group: dynamic-env-${{ github.event.pull_request.number }}',
      '    concurrency:\n      group: dynamic-env-close-${{ github.event.pull_request.number }}');
    expect(readmeWorkflowProblems(readmeWorkflows(text)).join('\n')).toMatch(/job "close": share the open job's concurrency group/);
  });
});

describe('the project\'s own workflows', () => {
  const own = readdirSync(OWN).filter((f) => f.endsWith('.yml')).map((f) => parseWorkflow(f, readFileSync(join(OWN, f), 'utf8')));

  it('run the README test command with Go, and the action from ./ in dry-run on pull requests', () => {
    const ci = own.find((w) => w.name === 'ci.yml')!;
    const steps = (job: string): any[] => ci.doc.jobs[job].steps;
    expect(steps('test').map((s) => s.run).filter(Boolean)).toEqual(['npm ci', 'npm test']);
    expect(steps('test').some((s) => String(s.uses).startsWith('actions/setup-go@'))).toBe(true);
    expect(readFileSync('.ci/run', 'utf8')).toMatch(/^npm test$/m);
    expect(README).toMatch(/^npm test\s/m);
    expect(Object.keys(ci.doc.on)).toContain('pull_request');
    const dry = steps('dry-run').find((s) => s.uses === './');
    expect(String(dry?.with?.['dry-run'])).toBe('true');
  });

  it('use the current major of each action, and no secret where a fork PR would fail for want of it', () => {
    expect(own.flatMap((w) => [...majorProblems(w), ...secretProblems(w)])).toEqual([]);
  });
});

describe('actionlint', () => {
  let bin: string | undefined;
  let skipped: string | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'workflows-'));

  beforeAll(async () => {
    try {
      bin = await buildActionlint();
    } catch (e) {
      // Like the e2e tier: a machine without Go may skip, saying why; CI may not.
      if (process.env.CI === 'true' || !/Go toolchain not found/.test(String(e))) throw e;
      skipped = String(e);
      process.stderr.write(`\n[actionlint] SKIPPED: ${skipped}\n`);
    }
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /**
   * Writes README workflows into a scratch repository holding this action.yml, with `owner/dynamic-env@v1` as
   * `./`, so actionlint also checks every input they pass to the action.
   */
  function scratchRepo(markdown: string, name: string): string[] {
    const root = join(dir, name);
    mkdirSync(join(root, OWN), { recursive: true });
    mkdirSync(join(root, '.git')); // how actionlint finds the repository, and so the local action `./`
    copyFileSync('action.yml', join(root, 'action.yml'));
    mkdirSync(join(root, 'dist'));
    writeFileSync(join(root, 'dist', 'index.js'), ''); // action.yml's `main`, which actionlint looks for
    return markdownWorkflows(markdown).map((w, i) => {
      const file = join(OWN, `readme-${i + 1}.yml`);
      writeFileSync(join(root, file), w.text.replace(/uses: [^/\s]+\/dynamic-env@v\d+/g, 'uses: ./'));
      return file;
    });
  }

  it('finds nothing in the README workflows, inputs of the action included', async ({ skip }) => {
    if (skipped) skip(skipped);
    const files = scratchRepo(README, 'readme');
    expect(files).toHaveLength(3);
    expect(await actionlint(bin!, files, join(dir, 'readme'))).toEqual([]);
  });

  it('finds nothing in .github/workflows', async ({ skip }) => {
    if (skipped) skip(skipped);
    const files = readdirSync(OWN).map((f) => join(OWN, f));
    expect(await actionlint(bin!, files, '.')).toEqual([]);
  });

  it('catches a broken workflow: a misspelt event type, an input the action does not have', async ({ skip }) => {
    if (skipped) skip(skipped);
    const broken = mutated('labeled, unlabeled]', 'labeled, unlabelled]').replace('          github-deployment: true\n          # label', '          github-deployments: true\n          # label');
    const files = scratchRepo(broken, 'broken');
    const errors = await actionlint(bin!, files, join(dir, 'broken'));
    expect(errors.map((e) => `${e.kind}: ${e.message}`)).toEqual([
      expect.stringMatching(/^events: invalid activity type "unlabelled" for "pull_request"/),
      expect.stringMatching(/^action: input "github-deployments" is not defined in action/),
    ]);
  });
});
