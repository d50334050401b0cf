// `warden export` against the lab swarm: a service made for the test with replicas, constraints,
// a spread preference and a per-node maximum, a labelled node; the export must validate and say so.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDockerPort } from '../../src/docker/engine.js';
import { readLiveCluster } from '../../src/commands/export.js';
import { exportDesiredState } from '../../src/desired-state/export.js';
import { loadDesiredStateText } from '../../src/desired-state/load.js';
import { restoreLab, testLab } from '../support/lab.js';

const run = promisify(execFile);
const host = inject('dockerHost');
const service = `export-${process.pid.toString(36)}`;
const label = `warden-export-test-${process.pid.toString(36)}`;
let worker = '';

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', ['-H', host, ...args]);
  return stdout.trim();
}

beforeAll(async () => {
  // Start from a healthy lab, whatever the file before left.
  await restoreLab(testLab());
  worker = (await docker('node', 'ls', '--filter', 'role=worker', '--format', '{{.Hostname}}')).split('\n')[0] ?? '';
  await docker('node', 'update', '--label-add', `${label}=yes`, worker);
  await docker(
    'service', 'create', '--detach', '--quiet', '--name', service, '--replicas', '2',
    '--constraint', 'node.role == worker', '--placement-pref', 'spread=node.labels.zone', '--replicas-max-per-node', '1',
    'busybox:lab', 'sleep', '3600',
  );
});

afterAll(async () => {
  await docker('service', 'rm', service).catch(() => undefined);
  if (worker) await docker('node', 'update', '--label-rm', label, worker).catch(() => undefined);
});

describe('warden export on the lab swarm', () => {
  it('writes a file that validates and holds the managers, the node labels and the service', async () => {
    const text = await exportDesiredState(await readLiveCluster(createDockerPort({ host })), 'lab');
    const { state } = await loadDesiredStateText(text, 'export.yml');
    const managers = (await docker('node', 'ls', '--filter', 'role=manager', '-q')).split('\n').length;
    expect(state.cluster).toBe('lab');
    expect(state.managers?.count).toBe(managers % 2 === 0 ? managers - 1 : managers);
    const nodes = (await docker('node', 'ls', '--format', '{{.Hostname}}')).split('\n');
    expect(state.nodes?.map((n) => n.match.hostname ?? n.match.id).sort()).toEqual([...nodes].sort());
    expect(state.nodes?.find((n) => n.match.hostname === worker)?.labels).toMatchObject({ [label]: 'yes' });
    expect(state.nodes?.every((n) => n.availability !== undefined)).toBe(true);
    expect(state.services?.find((s) => s.name === service)).toEqual({
      name: service,
      origin: 'services',
      replicas: 2,
      placement: { constraints: ['node.role == worker'], preferences: ['node.labels.zone'], maxReplicasPerNode: 1 },
    });
  });
});
