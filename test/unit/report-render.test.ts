import { describe, expect, test } from 'vitest';
import type { EnvReport, WorkloadReport } from '../../src/report/model.js';
import { escapeMarkdown, markdownCode, readableTime, renderMarkdown, renderSweepMarkdown, renderText } from '../../src/report/render.js';
import { renderEnvList } from '../../src/report/cli-text.js';

function workload(over: Partial<WorkloadReport> = {}): WorkloadReport {
  return {
    role: 'service',
    namespace: 'bookinfo',
    deployment: 'reviews',
    clone: 'reviews-pr-42',
    images: ['ghcr.io/acme/reviews:abc123'],
    replicas: { ready: 1, desired: 1 },
    state: 'ready',
    reason: null,
    hosts: ['reviews.bookinfo.svc.cluster.local'],
    destinationRules: [{ name: 'dynamic-env-pr-42-reviews', namespace: 'bookinfo' }],
    virtualServices: [{ name: 'reviews', namespace: 'bookinfo' }],
    ...over,
  };
}

function report(over: Partial<EnvReport> = {}): EnvReport {
  return {
    env: 'pr-42',
    header: 'x-override',
    headerValue: 'pr-42',
    baggage: 'override=pr-42',
    state: 'ready',
    services: [workload()],
    workers: [
      workload({
        role: 'worker',
        deployment: 'mailer',
        clone: 'mailer-pr-42',
        images: ['ghcr.io/acme/mailer:abc123', 'ghcr.io/acme/sidecar:1'],
        hosts: [],
        destinationRules: [],
        virtualServices: [],
      }),
    ],
    context: {
      repo: 'acme/shop',
      pr: 42,
      commit: '0123456789abcdef0123456789abcdef01234567',
      runUrl: 'https://github.com/acme/shop/actions/runs/99',
      updatedAt: '2025-01-02T03:04:05Z',
    },
    ...over,
  };
}

/** Splits a markdown table row on unescaped pipes. */
function cells(row: string): string[] {
  return row
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

describe('renderMarkdown', () => {
  test('shows the env, its state and how to reach it', () => {
    const md = renderMarkdown(report());
    expect(md).toMatch(/^### .*Dynamic environment `pr-42`: ready$/m);
    expect(md).toContain('`x-override: pr-42`');
    expect(md).toContain("curl -i -H 'x-override: pr-42' http://reviews.bookinfo.svc.cluster.local/");
    expect(md).toContain('`baggage: override=pr-42`');
    expect(md).toContain("The response header `x-dynamic-env: pr-42` confirms that the env's version answered; without it, the baseline did.");
    expect(md).toMatch(/must propagate the header/);
    expect(md).toMatch(/OpenTelemetry-instrumented apps forward `baggage` for free/);
  });

  test('the curl line uses the example URL when there is one, quoted when the shell would read it', () => {
    expect(renderMarkdown(report({ context: { exampleUrl: 'https://pr-42.preview.acme.dev/' } }))).toContain(
      "```sh\ncurl -i -H 'x-override: pr-42' https://pr-42.preview.acme.dev/\n```",
    );
    expect(renderMarkdown(report({ context: { exampleUrl: 'https://shop.acme.dev/?a=1&b=2' } }))).toContain(
      "curl -i -H 'x-override: pr-42' 'https://shop.acme.dev/?a=1&b=2'",
    );
  });

  test('no baggage line when baggage is off', () => {
    const md = renderMarkdown(report({ baggage: null }));
    expect(md).not.toContain('baggage:');
    expect(md).toContain('`x-override: pr-42`');
  });

  test('one table row per service and worker with namespace, deployment, images, clone, ready/desired, state', () => {
    const md = renderMarkdown(
      report({ state: 'progressing', services: [workload({ replicas: { ready: 1, desired: 2 }, state: 'progressing' })] }),
    );
    const rows = md.split('\n').filter((l) => l.startsWith('| ')).slice(2); // after the reach table
    expect(cells(rows[0]!)).toEqual(['Role', 'Namespace', 'Deployment', 'Image', 'Clone', 'Ready', 'State']);
    const service = cells(rows[1]!);
    expect(service.slice(0, 3)).toEqual(['service', 'bookinfo', 'reviews']);
    expect(service[3]).toBe('`ghcr.io/acme/reviews:abc123`');
    expect(service[4]).toBe('reviews-pr-42');
    expect(service[5]).toBe('1/2');
    expect(service[6]).toMatch(/progressing$/);
    const worker = cells(rows[2]!);
    expect(worker[0]).toBe('worker');
    expect(worker[3]).toBe('`ghcr.io/acme/mailer:abc123`<br>`ghcr.io/acme/sidecar:1`');
    expect(rows).toHaveLength(3);
  });

  test('each service gets its own row with its URL and a copy-paste curl line', () => {
    const md = renderMarkdown(report({
      services: [
        workload({ url: 'http://reviews.bookinfo.svc.cluster.local:9080/' }),
        workload({ deployment: 'ratings', clone: 'ratings-pr-42', hosts: ['ratings.bookinfo.svc.cluster.local'] }),
        workload({ namespace: 'shop', deployment: 'cart|x', clone: 'cart-pr-42', url: 'http://cart.shop.svc.cluster.local:8080/' }),
      ],
    }));
    const table = md.split('\n').filter((l) => l.startsWith('| ')).slice(0, 5);
    expect(cells(table[0]!)).toEqual(['Service', 'URL', 'Try it (from a pod in the mesh)']);
    expect(table.slice(1, 4).map(cells)).toEqual([
      ['bookinfo/reviews', '`http://reviews.bookinfo.svc.cluster.local:9080/`', "`curl -i -H 'x-override: pr-42' http://reviews.bookinfo.svc.cluster.local:9080/`"],
      ['bookinfo/ratings', '`http://ratings.bookinfo.svc.cluster.local/`', "`curl -i -H 'x-override: pr-42' http://ratings.bookinfo.svc.cluster.local/`"],
      ['shop/cart\\|x', '`http://cart.shop.svc.cluster.local:8080/`', "`curl -i -H 'x-override: pr-42' http://cart.shop.svc.cluster.local:8080/`"],
    ]);
    expect(table[4]).toMatch(/^\| Role/);
    // No separate block repeating the first row.
    expect(md).not.toContain('```sh');
  });

  test('deploying: the commit it is for, rolling out, no reach section and no not-ready list yet', () => {
    const md = renderMarkdown(report({
      state: 'deploying',
      services: [workload({ state: 'progressing', replicas: { ready: 0, desired: 1 }, reason: 'not waited for yet' })],
    }));
    expect(md).toMatch(/^### ⏳ Dynamic environment `pr-42`: deploying$/m);
    expect(md).toContain('Deploying commit `0123456`. The clones are written and rolling out;');
    expect(md).not.toContain('curl');
    expect(md).not.toContain('Not ready');
    expect(md).toContain('| service | bookinfo | reviews |');
    expect(renderText(report({ state: 'deploying' }))).toContain('The clones are written and rolling out');
  });

  test('a report about an older commit than the PR head says so; about the head it does not', () => {
    const head = 'fedcba9876543210fedcba9876543210fedcba98';
    const older = renderMarkdown(report({ context: { ...report().context, headCommit: head } }));
    expect(older).toContain("> This describes commit `0123456`, not the pull request's head `fedcba9`: a newer run updates it.");
    const same = renderMarkdown(report({ context: { ...report().context, headCommit: report().context!.commit! } }));
    expect(same).not.toContain('This describes commit');
    expect(renderText(report({ context: { ...report().context, headCommit: head } }))).toMatch(/pr head\s+fedcba9876543210fedcba9876543210fedcba98 \(newer than this report\)/);
  });

  test('failures list their reasons', () => {
    const md = renderMarkdown(
      report({
        state: 'failed',
        services: [workload({ state: 'failed', replicas: { ready: 0, desired: 1 }, reason: 'ImagePullBackOff: image not found' })],
      }),
    );
    expect(md).toMatch(/`bookinfo\/reviews-pr-42` \(failed\): ImagePullBackOff: image not found/);
    // A failed env gets no routes: no "reach it" curl line.
    expect(md).toContain('The environment failed to start (see **Not ready** below); fix it and push again.');
    expect(md).not.toContain('curl');
    expect(md).not.toContain('Reach it');
  });

  test('escapes pipes, newlines, backticks and HTML from the cluster in table cells and reasons', () => {
    const nasty = 'bad | value `code`\nsecond line <img src=x> @someone #12';
    const md = renderMarkdown(
      report({
        state: 'failed',
        services: [workload({ namespace: 'ns|x', images: ['img`with|pipe'], state: 'failed', reason: nasty })],
        workers: [],
      }),
    );
    const rows = md.split('\n').filter((l) => l.startsWith('| '));
    const row = cells(rows[1]!);
    expect(row).toHaveLength(7);
    expect(row[1]).toBe('ns\\|x');
    expect(row[3]).toBe('``img`with\\|pipe``');
    const reasonLine = md.split('\n').find((l) => l.includes('(failed):'))!;
    expect(reasonLine).toContain('bad \\| value \\`code\\`<br>second line \\<img src=x\\>');
    expect(reasonLine).not.toMatch(/(?<!\\)<img/);
    expect(reasonLine).not.toMatch(/@someone/); // zero-width space keeps it from mentioning anyone
    expect(md.split('\n').every((l) => !l.includes('\r'))).toBe(true);
  });

  test('escapeMarkdown and markdownCode', () => {
    expect(escapeMarkdown('a*b_c[d](e)')).toBe('a\\*b\\_c\\[d\\](e)');
    expect(escapeMarkdown('x\r\ny')).toBe('x<br>y');
    expect(markdownCode('a`b')).toBe('``a`b``');
    expect(markdownCode('`a')).toBe('`` `a ``');
    expect(markdownCode('a|b', true)).toBe('`a\\|b`');
  });

  test('footer has the short commit linked to its page, a readable UTC time and a link to the run', () => {
    const md = renderMarkdown(report());
    const footer = md.trimEnd().split('\n').at(-1)!;
    expect(footer).toBe('<sub>Commit [`0123456`](https://github.com/acme/shop/commit/0123456789abcdef0123456789abcdef01234567)'
      + ' · updated 2 Jan 2025, 03:04 UTC · [run](https://github.com/acme/shop/actions/runs/99)</sub>');
    // GHES: the server the workflow runs on.
    expect(renderMarkdown(report({ context: { ...report().context, serverUrl: 'https://git.acme.dev' } })))
      .toContain('(https://git.acme.dev/acme/shop/commit/0123456789abcdef0123456789abcdef01234567)');
    // Without a repository, or with a commit that is not a SHA, no link.
    expect(renderMarkdown(report({ context: { commit: 'abc1234567abc1234567abc1234567abc1234567' } }))).toContain('<sub>Commit `abc1234`</sub>');
    expect(renderMarkdown(report({ context: { repo: 'acme/shop', commit: 'HEAD)[x](y' } }))).not.toContain('/commit/');
  });

  test.each([
    ['2026-12-02T16:40:59Z', '2 Dec 2026, 16:40 UTC'],
    ['2025-01-02T03:04:05.123+02:00', '2 Jan 2025, 01:04 UTC'],
    ['not a time', 'not a time'],
  ])('readableTime(%s) = %s', (iso, text) => {
    expect(readableTime(iso)).toBe(text);
  });

  test('closed report: torn down, when, why and what was removed; no reach-it section', () => {
    const md = renderMarkdown(
      report({
        state: 'closed',
        services: [],
        workers: [],
        removed: {
          clones: [{ name: 'reviews-pr-42', namespace: 'bookinfo' }],
          destinationRules: [{ name: 'dynamic-env-pr-42-reviews', namespace: 'bookinfo' }],
          virtualServices: [],
          routes: 3,
        },
        context: { updatedAt: '2025-01-02T03:04:05Z', closeReason: 'merged' },
      }),
    );
    expect(md).toMatch(/Dynamic environment `pr-42`: closed/);
    expect(md).toContain('torn down on 2 Jan 2025, 03:04 UTC because the pull request was merged');
    expect(md).toContain('1 clone: `bookinfo/reviews-pr-42`');
    expect(md).toContain('1 DestinationRule: `bookinfo/dynamic-env-pr-42-reviews`');
    expect(md).toContain('3 routes');
    expect(md).not.toContain('curl');
    expect(md).not.toContain('| Role');
  });

  test.each([
    ['closed', 'closed without merging'],
    ['swept', 'sweep'],
    ['unlabeled', 'label was removed'],
    ['draft', 'converted to a draft (skip-drafts is on)'],
    ['manual', 'by hand'],
  ] as const)('closed report says why: %s', (reason, text) => {
    const md = renderMarkdown(report({ state: 'closed', services: [], workers: [], removed: { clones: [], destinationRules: [], virtualServices: [], routes: 0 }, context: { closeReason: reason } }));
    expect(md).toContain(text);
    expect(md).toContain('Nothing was left to remove');
  });
});

describe('other states', () => {
  test('skipped shows the reason, absent says so; neither shows how to reach it', () => {
    const skipped = report({ state: 'skipped', services: [], workers: [], context: { skipReason: 'pull request #42 is a draft (skip-drafts is on)' } });
    expect(renderMarkdown(skipped)).toContain('Skipped: pull request #\u200b42 is a draft (skip-drafts is on)');
    expect(renderText(skipped)).toContain('Skipped: pull request #42 is a draft (skip-drafts is on)');
    const absent = report({ state: 'absent', services: [], workers: [] });
    expect(renderMarkdown(absent)).toContain('No environment `pr-42` exists.');
    for (const r of [skipped, absent]) {
      expect(renderMarkdown(r)).not.toContain('curl');
      expect(renderText(r)).not.toContain('curl');
    }
  });
});

describe('renderText', () => {
  test('has the same facts without markdown', () => {
    const text = renderText(report());
    expect(text).toContain('Dynamic environment pr-42: ready');
    expect(text).toContain('x-override: pr-42');
    expect(text).toMatch(/bookinfo\/reviews\s+curl -i -H 'x-override: pr-42' http:\/\/reviews\.bookinfo\.svc\.cluster\.local\//);
    expect(text).toContain('the response header "x-dynamic-env: pr-42"');
    expect(text).toContain('baggage: override=pr-42');
    expect(text).toMatch(/must propagate the header/);
    expect(text).toContain('0123456789abcdef0123456789abcdef01234567');
    expect(text).toContain('https://github.com/acme/shop/actions/runs/99');
    expect(text).not.toMatch(/[`*|#]|<br>|\[run\]|<!--/);
  });

  test('the workload table is aligned', () => {
    const lines = renderText(report()).split('\n');
    const header = lines.findIndex((l) => l.startsWith('ROLE'));
    const table = lines.slice(header, header + 3);
    expect(table[1]).toMatch(/^service\s+bookinfo\s+reviews\s+ghcr\.io\/acme\/reviews:abc123\s+reviews-pr-42\s+1\/1\s+ready$/);
    expect(table[2]).toMatch(/^worker\s+bookinfo\s+mailer\s+ghcr\.io\/acme\/mailer:abc123, ghcr\.io\/acme\/sidecar:1\s+mailer-pr-42/);
    for (const column of ['NAMESPACE', 'CLONE', 'READY', 'STATE']) {
      const at = table[0]!.indexOf(column);
      // every row has a value starting where the header's column starts
      for (const row of table.slice(1)) expect(row[at - 1]).toBe(' ');
      for (const row of table.slice(1)) expect(row[at]).not.toBe(' ');
    }
  });

  test('strips control characters and newlines from cluster text', () => {
    const text = renderText(
      report({ state: 'failed', services: [workload({ state: 'failed', reason: 'boom\n\u001b[31mred\u001b[0m' })], workers: [] }),
    );
    expect(text).not.toContain('\u001b');
    expect(text).toContain('failed  bookinfo/reviews-pr-42: boom [31mred[0m');
  });

  test('closed report', () => {
    const text = renderText(
      report({
        state: 'closed',
        services: [],
        workers: [],
        removed: { clones: [{ name: 'reviews-pr-42', namespace: 'bookinfo' }], destinationRules: [], virtualServices: [], routes: 2 },
        context: { closeReason: 'swept', updatedAt: '2025-01-02T03:04:05Z' },
      }),
    );
    expect(text).toContain('Torn down on 2 Jan 2025, 03:04 UTC because the sweep found it stale');
    expect(text).toMatch(/clones\s+bookinfo\/reviews-pr-42/);
    expect(text).toMatch(/routes\s+2/);
    expect(text).not.toContain('curl');
  });

  test('status: where the env\'s Lease lives, in the text and never in the PR comment', () => {
    const r = report({ lockNamespace: 'dynamic-env' });
    expect(renderText(r)).toMatch(/\nlease\s+dynamic-env\/dynamic-env-pr-42\n/);
    expect(renderMarkdown(r)).not.toContain('dynamic-env/dynamic-env-pr-42');
    expect(renderText(report())).not.toMatch(/\nlease\s/);
  });
});

describe('dynamic-env list (text)', () => {
  test('one row per env, with where its Lease lives ("-" when no clone records it)', () => {
    const row = { repo: null, pr: null, openedAt: null, updatedAt: null, services: 1, workers: 0, state: 'ready' as const, routes: 2 };
    const text = renderEnvList([{ ...row, env: 'pr-1', lockNamespace: 'dynamic-env' }, { ...row, env: 'pr-22', state: 'absent', lockNamespace: null }], []);
    expect(text.split('\n')).toEqual([
      'ENV    STATE   SERVICES  WORKERS  PR  OPENED  LEASE IN',
      'pr-1   ready   1         0        -   -       dynamic-env',
      'pr-22  absent  1         0        -   -       -',
      '',
    ]);
  });
});

describe('sweep job summary', () => {
  test('one row per env: closed, kept, would close (a dry run), failed; cluster text escaped', () => {
    const md = renderSweepMarkdown([
      { env: 'pr-1', closed: true, reason: 'pull request #1 is closed' },
      { env: 'pr-2', closed: false, reason: 'pull request #2 is open' },
      { env: 'pr-3', closed: false, reason: 'older than 72h' },
      { env: 'pr-4', closed: false, reason: 'pull request #4 is merged', error: 'Lease | taken <b>' },
    ], (env) => env === 'pr-3');
    expect(md.split('\n').slice(0, 8)).toEqual([
      '### Dynamic environments: sweep',
      '',
      '| Env | Result | Why |',
      '|---|---|---|',
      `| pr-1 | closed | ${escapeMarkdown('pull request #1 is closed')} |`,
      `| pr-2 | kept | ${escapeMarkdown('pull request #2 is open')} |`,
      '| pr-3 | would close | older than 72h |',
      `| pr-4 | failed: ${escapeMarkdown('Lease | taken <b>')} | ${escapeMarkdown('pull request #4 is merged')} |`,
    ]);
    // Cluster text cannot open HTML or link issues: #4 is not a link.
    expect(md).not.toContain('<b>');
    expect(md).not.toContain('#4');
  });

  test('no env: said so, no empty table', () => {
    expect(renderSweepMarkdown([], () => false)).toBe('### Dynamic environments: sweep\n\nNo environments in the cluster.\n');
  });
});
