// The JSON Schema editors read, and the example files operators start from.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { schemaText } from '../../../src/commands/schema.js';
import { validateCommand } from '../../../src/commands/validate.js';
import { loadDesiredStateFile } from '../../../src/desired-state/load.js';

describe('JSON Schema', () => {
  it('is committed as schema/desired-state.schema.json exactly as `warden schema` prints it', async () => {
    // If this fails: npm run warden -- schema > schema/desired-state.schema.json
    expect(await readFile('schema/desired-state.schema.json', 'utf8')).toBe(schemaText());
  });

  it('is strict and carries the contract defaults for editors', () => {
    const schema = JSON.parse(schemaText()) as {
      additionalProperties: boolean;
      required: string[];
      properties: { spec: { properties: { policy: { properties: Record<string, { default?: unknown }> } } } };
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
    const policy = schema.properties.spec.properties.policy.properties;
    expect(policy.mode?.default).toBe('enforce');
    expect(policy.maxActionsPerPass?.default).toBe(20);
    expect(policy.resync?.default).toBe('*/30 * * * * *');
    expect(policy.ignoreLabel?.default).toBe('warden.ignore');
  });
});

describe('examples', () => {
  it.each(['examples/msa-ha.yml', 'examples/dccn.yml'])('%s is valid and names the schema for editors', async (file) => {
    const text = await readFile(file, 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../schema/desired-state.schema.json');
    const loaded = await loadDesiredStateFile(file);
    expect(loaded.warnings).toBeUndefined();
    const out: string[] = [];
    expect(await validateCommand(file, { out: (t) => out.push(t), err: (t) => out.push(t) })).toBe(0);
  });

  it('msa-ha holds 3 managers, app and database workers and the NAS volumes', async () => {
    const { state } = await loadDesiredStateFile('examples/msa-ha.yml');
    expect(state.managers?.count).toBe(3);
    expect(state.nodes?.map((n) => n.labels?.function)).toEqual(['app', 'database', undefined]);
    expect(state.volumes?.map((v) => [v.owner, v.group])).toEqual([[70, 70], [1000, 1000], [1001, 0], [1001, 1001]]);
    const api = state.services?.find((s) => s.name === 'msa_api');
    expect(api).toMatchObject({ origin: 'stack:msa', replicas: 3, placement: { maxReplicasPerNode: 1 } });
    // The explicit entry wins over the stack's msa_front.
    expect(state.services?.find((s) => s.name === 'msa_front')).toMatchObject({ origin: 'services', dependsOn: ['msa_api'] });
  });

  it('dccn puts the private registry first', async () => {
    const { state } = await loadDesiredStateFile('examples/dccn.yml');
    expect(state.registry?.service).toBe('registry');
    expect(state.services?.[0]?.name).toBe('registry');
    expect(state.services?.filter((s) => s.name !== 'registry').every((s) => s.dependsOn?.includes('registry'))).toBe(true);
    expect(state.nodes?.[0]?.labels).toEqual({ function: 'production' });
  });
});

describe('warden validate', () => {
  it('exits 1 and prints FILE:LINE:COL problems for an invalid file, 2 when it cannot read it', async () => {
    const err: string[] = [];
    const io = { out: () => undefined, err: (t: string) => void err.push(t) };
    const dir = await mkdtemp(path.join(tmpdir(), 'warden-validate-'));
    await writeFile(`${dir}/w.yml`, 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: t }\nspec:\n  managers: { count: 4 }\n');
    expect(await validateCommand(`${dir}/w.yml`, io)).toBe(1);
    expect(err[0]).toMatch(new RegExp(`^${dir}/w\\.yml:5:22: spec\\.managers\\.count: 4 managers tolerate`));
    expect(await validateCommand(`${dir}/missing.yml`, io)).toBe(2);
    expect(err.at(-1)).toMatch(/cannot read the desired-state file: no such file/);
  });
});
