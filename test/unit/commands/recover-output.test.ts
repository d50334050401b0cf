// How `warden recover` reports (and `apply` chooses the same way): lines for a person on a terminal, JSON
// log lines (one per event) with --log-format json or when stdout is not a terminal. The recovery runs
// against the recording fake port; its behaviour on a real swarm is test/integration/cold-boot.test.ts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { logFormatFor, type LogFormat } from '../../../src/commands/log-format.js';
import { recoverCommand } from '../../../src/commands/recover.js';
import type { SwarmService, SwarmTask, TaskFilter } from '../../../src/docker/port.js';
import { FakePort, fakeNode, fakeService } from '../../support/fake-port.js';

describe('logFormatFor', () => {
  it.each<[LogFormat | undefined, boolean | undefined, LogFormat]>([
    [undefined, true, 'text'],
    [undefined, false, 'json'],
    [undefined, undefined, 'json'], // a stream that is no terminal at all (a file, a pipe)
    ['json', true, 'json'],
    ['text', false, 'text'],
    ['text', true, 'text'],
  ])('--log-format %s with isTTY %s is %s', (asked, isTTY, want) => {
    expect(logFormatFor(asked, isTTY === undefined ? {} : { isTTY })).toBe(want);
  });
});

// The fake engine runs every task a service wants, from its current spec: a forced restart converges at once.
class RunningPort extends FakePort {
  override async listServices(): Promise<SwarmService[]> {
    return (await super.listServices()).map((s) => ({ ...s, status: { runningTasks: s.replicas ?? 0, desiredTasks: s.replicas ?? 0 } }));
  }

  override async listTasks(filter: TaskFilter = {}): Promise<SwarmTask[]> {
    await super.listTasks(filter);
    const s = this.services.find((x) => x.id === filter.serviceId);
    return Array.from({ length: s?.replicas ?? 0 }, (_, i) => ({
      id: `${s!.id}.${i}`, serviceId: s!.id, nodeId: 'm1', slot: i + 1, desiredState: 'running' as const, state: 'running' as const,
      message: 'started', err: '', timestamp: '2026-11-21T10:00:00Z', image: s!.image, forceUpdate: s!.forceUpdate,
    }));
  }
}

// api first; web after api; cron is left alone (ignore label); gone is not in the cluster, so report,
// which depends on it, is held.
const FILE = `apiVersion: swarm-warden/v1
kind: ClusterState
metadata: { name: t }
spec:
  services:
    - { name: api }
    - { name: web, dependsOn: [api] }
    - { name: cron }
    - { name: gone }
    - { name: report, dependsOn: [gone] }
`;

let dir: string;
let file: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-recover-'));
  file = path.join(dir, 'state.yml');
  await writeFile(file, FILE);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function recover(isTTY: boolean, logFormat?: LogFormat, f = file): Promise<{ code: number; out: string; err: string; port: RunningPort }> {
  const port = new RunningPort(
    [fakeService('api', 2), fakeService('web', 1), fakeService('cron', 1, { labels: { 'warden.ignore': 'true' } }), fakeService('report', 1)],
    [fakeNode('m1', 'manager', true), fakeNode('w1', 'worker')],
    'm1',
  );
  let out = '';
  let err = '';
  const stream = { isTTY, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream & { isTTY: boolean };
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true));
  try {
    const code = await recoverCommand({
      file: f, gitRef: 'main', gitPath: 'warden.yml', gitInterval: '60s', port, out: stream, waveTimeoutMs: 5_000,
      ...(logFormat ? { logFormat } : {}),
    });
    return { code, out, err, port };
  } finally {
    spy.mockRestore();
  }
}

const TEXT = [
  'managers 1/1 reachable, nodes 2/2 ready',
  'recovering 5 service(s) in 2 wave(s)',
  'wave 1/2: api, cron, gone',
  '  left    cron: left alone: labelled warden.ignore=true',
  '  skipped gone: missing from the cluster',
  '  ok      api: 2/2 running after N s',
  'wave 2/2: report, web',
  '  skipped report: not restarted: gone did not converge',
  '  ok      web: 1/1 running after N s',
  'not recovered: gone (missing from the cluster); report (not restarted: gone did not converge)',
  '',
];

/** textLines splits the text output, with the seconds a wave took (not the fake's to decide) as N. */
function textLines(out: string): string[] {
  return out.replace(/after \d+\.\d s/g, 'after N s').split('\n');
}

function jsonLines(out: string): Array<Record<string, unknown>> {
  return out.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('warden recover output', () => {
  it('writes the lines for people on a terminal', async () => {
    const r = await recover(true);
    expect(r.code).toBe(1);
    expect(textLines(r.out)).toEqual(TEXT);
    expect(r.err).toBe('');
    expect(r.port.writes).toBe(2);
  });

  it('writes one JSON log line per event when stdout is not a terminal', async () => {
    const r = await recover(false);
    expect(r.code).toBe(1);
    expect(r.err).toBe('');
    const lines = jsonLines(r.out);
    for (const l of lines) expect(l).toMatchObject({ app: 'swarm-warden', level: expect.any(String), time: expect.any(String) });
    expect(lines.map((l) => [l.msg, l.service ?? l.wave ?? ''])).toEqual([
      ['cluster ready', ''],
      ['recovery started', ''],
      ['wave started', 1],
      ['service restarted', 'api'],
      ['service left alone', 'cron'],
      ['service held', 'gone'],
      ['service converged', 'api'],
      ['wave started', 2],
      ['service held', 'report'],
      ['service restarted', 'web'],
      ['service converged', 'web'],
      ['recovery finished', ''],
    ]);
    expect(lines[0]).toMatchObject({ level: 'info', managers: { reachable: 1, total: 1 }, nodes: { ready: 2, total: 2 } });
    expect(lines[1]).toMatchObject({ services: 5, waves: 2, plan: [['api', 'cron', 'gone'], ['report', 'web']] });
    expect(lines[2]).toMatchObject({ wave: 1, waves: 2, services: ['api', 'cron', 'gone'] });
    expect(lines[3]).toMatchObject({ level: 'info', wave: 1, service: 'api', forceUpdate: 1 });
    expect(lines[4]).toMatchObject({ level: 'info', reason: 'left alone: labelled warden.ignore=true' });
    expect(lines[5]).toMatchObject({ level: 'warn', reason: 'missing from the cluster' });
    expect(lines[6]).toMatchObject({ level: 'info', wave: 1, running: '2/2', seconds: expect.any(Number) });
    expect(lines[8]).toMatchObject({ level: 'warn', wave: 2, reason: 'not restarted: gone did not converge' });
    expect(lines[11]).toMatchObject({
      level: 'error', outcome: 'not recovered', exitCode: 1, services: 5, converged: 3,
      notConverged: [{ service: 'gone', reason: 'missing from the cluster' }, { service: 'report', reason: 'not restarted: gone did not converge' }],
    });
  });

  it('follows --log-format over the terminal', async () => {
    expect(textLines((await recover(false, 'text')).out)).toEqual(TEXT);
    const json = jsonLines((await recover(true, 'json')).out);
    expect(json.at(-1)).toMatchObject({ msg: 'recovery finished', outcome: 'not recovered' });
  });

  it('ends the JSON lines with the outcome when it cannot run, and says why on stderr', async () => {
    const bad = path.join(dir, 'bad.yml');
    await writeFile(bad, FILE.replace('{ name: api }', '{ name: api, replicaz: 2 }'));
    const r = await recover(false, undefined, bad);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.yml:6:\d+: unknown key "replicaz"/);
    const lines = jsonLines(r.out);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', msg: 'recovery finished', outcome: 'error', exitCode: 2, err: { message: expect.stringMatching(/unknown key "replicaz"/) } });
    expect(r.port.calls).toEqual([]);
  });
});
