// warden's conversion of compose files against the docker CLI's own (`docker stack deploy`, the CLI on
// PATH): each file is deployed by the CLI, read back and removed, then deployed from warden's conversion
// under the same stack name and read back; services, networks, configs and secrets must be equal field by
// field once IDs are replaced by names (and warden's content-hashed config and secret names by the CLI's).
// The conversion must also compare in sync, as the stacks reconciler compares it, with what the CLI made.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentName } from '../../src/desired-state/compose/convert.js';
import { diffServiceSpecs, normalizeServiceSpec } from '../../src/desired-state/compose/normalize.js';
import { stripForApiVersion } from '../../src/desired-state/compose/engine-fields.js';
import { withoutIds } from '../../src/desired-state/compose/references.js';
import { LABEL_CONTENT_HASH, type DesiredStack } from '../../src/desired-state/compose/types.js';
import { compareApiVersions } from '../../src/docker/engine-versions.js';
import { run } from '../../src/lab/exec.js';
import type { LabNode } from '../../src/lab/lab.js';
import { restoreLab, runningManager, testLab } from '../support/lab.js';
import { cliDeploy, deployDirect, readComposeStack, removeStack, stackObjects, stackPort, type StackObjects } from '../support/stacks.js';
import { runWarden } from '../support/warden.js';

/**
 * servicesToWrite is what `warden plan` (the stacks reconciler on what the engine shows) would write to
 * the stack's services: none, when the CLI's deployment is in sync for warden.
 */
async function servicesToWrite(host: string, file: string, env: Record<string, string>): Promise<string[]> {
  return withDesiredState(file, env, async (desired) => {
    const r = await runWarden(['plan', '-f', desired, '--host', host, '--output', 'json']);
    expect(r.code, r.stderr).not.toBe(2);
    const plan = JSON.parse(r.stdout) as { reconcilers: Array<{ id: string; actions: Array<{ action: { kind: string; object: string } }> }> };
    return plan.reconcilers.flatMap((x) => x.actions).map((a) => a.action).filter((a) => a.kind.endsWith('-service')).map((a) => `${a.kind} ${a.object}`);
  });
}

// Runs `fn` with a desired-state file that deploys `file` as stack NAME, removed afterwards.
async function withDesiredState<T>(file: string, env: Record<string, string>, fn: (desired: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-cmp-'));
  try {
    const vars = Object.entries(env).map(([k, v]) => `${k}: "${v}"`).join(', ');
    writeFileSync(path.join(dir, 'warden.yml'), `apiVersion: swarm-warden/v1
kind: ClusterState
metadata: { name: lab }
spec:
  stacks:
    - { name: ${NAME}, file: ${file}, deploy: true, resolveImage: never, env: { ${vars} } }
`);
    return await fn(path.join(dir, 'warden.yml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// The Engine API version warden speaks with the node's engine (negotiated as the pass negotiates it).
async function apiVersionOf(node: LabNode): Promise<string> {
  const version = await stackPort(node).apiVersion?.();
  if (version === undefined) throw new Error('the engine port does not say its API version');
  return version;
}

const lab = testLab();
const NAME = 'cmp';

// Removes the stack, first the containers of its finished tasks on every node: on Docker 20.10 those of
// a job whose tasks started as the stack was removed outlive it (defaults.compose.yml's `once`) and keep
// the stack's network listed on their node, so that the next removal would wait for it in vain.
async function removeCmp(node: LabNode): Promise<void> {
  for (const n of lab.nodes) {
    await run('docker', ['-H', n.host, 'container', 'prune', '-f', '--filter', `label=com.docker.stack.namespace=${NAME}`], { timeoutMs: 30_000 }).catch(() => undefined);
  }
  await removeStack(node, NAME);
}

beforeAll(() => restoreLab(lab));
afterAll(async () => {
  await removeCmp(await runningManager(lab));
  await restoreLab(lab);
});

// Everything of a stack with IDs replaced by names, and warden's hashed names by the CLI's.
function comparable(objects: StackObjects, stack: DesiredStack): unknown {
  const cliName = new Map<string, string>();
  for (const o of [...stack.configs, ...stack.secrets]) {
    if (!o.fixedName && o.hash) cliName.set(contentName(stack.name, o.key, o.hash), `${stack.name}_${o.key}`);
  }
  const rename = (n: string): string => cliName.get(n) ?? n;
  const networkNames = objects.networkNames;
  const dropHash = (labels: Record<string, string>): Record<string, string> => {
    const { [LABEL_CONTENT_HASH]: _hash, ...rest } = labels;
    return rest;
  };
  return {
    services: objects.services.map((s) => {
      const spec = withoutIds(s.spec, networkNames) as Record<string, unknown>;
      const c = (spec.TaskTemplate as { ContainerSpec: { Secrets?: Array<Record<string, unknown>>; Configs?: Array<Record<string, unknown>> } }).ContainerSpec;
      for (const r of c.Secrets ?? []) r.SecretName = rename(String(r.SecretName));
      for (const r of c.Configs ?? []) r.ConfigName = rename(String(r.ConfigName));
      // docker/cli sorts references by name only, after a pass through a map keyed by target: two
      // references to one secret come in either order from it.
      const byTarget = (a: Record<string, unknown>, b: Record<string, unknown>): number =>
        String((a.File as { Name?: string } | undefined)?.Name).localeCompare(String((b.File as { Name?: string } | undefined)?.Name));
      c.Secrets?.sort((a, b) => String(a.SecretName).localeCompare(String(b.SecretName)) || byTarget(a, b));
      c.Configs?.sort((a, b) => String(a.ConfigName).localeCompare(String(b.ConfigName)) || byTarget(a, b));
      return spec;
    }),
    // The engine allocates a subnet and a VXLAN id to a network that names none: not part of the spec.
    networks: objects.networks.map(({ id: _id, ...n }) => {
      const spec = stack.networks.find((d) => d.name === n.name)?.spec;
      const { 'com.docker.network.driver.overlay.vxlanid_list': _vxlan, ...options } = n.options;
      return { ...n, options, ipam: spec?.IPAM?.Config ? n.ipam : { ...n.ipam, config: [] } };
    }),
    configs: objects.configs.map((c) => ({ name: rename(c.name), labels: dropHash(c.labels), data: c.data, templating: c.templating })),
    secrets: objects.secrets.map((c) => ({ name: rename(c.name), labels: dropHash(c.labels), driver: c.driver, templating: c.templating })),
  };
}

// Fields an older engine drops, and relative bind sources written with a trailing slash.
const ENGINE_FIELDS_FILE = 'test/integration/fixtures/stacks-compare/engine-fields.compose.yml';

const FIXTURES: Array<{ file: string; env: Record<string, string> }> = [
  { file: 'examples/stacks/every-key.compose.yml', env: { GREETING: 'hello', WEB_PORT: '18080' } },
  { file: 'examples/stacks/voting.compose.yml', env: {} },
  { file: 'examples/stacks/msa-ha.compose.yml', env: {} },
  { file: 'examples/stacks/defaults.compose.yml', env: {} },
  { file: ENGINE_FIELDS_FILE, env: {} },
];

describe('warden deploys a compose file as docker stack deploy does', () => {
  it.each(FIXTURES)('$file', async ({ file, env }) => {
    const node = await runningManager(lab);
    const absolute = path.resolve(file);
    const stack = await readComposeStack(absolute, NAME, env);
    await removeCmp(node);

    await cliDeploy(node, absolute, NAME, env);
    const byCli = await stackObjects(node, NAME);
    expect(byCli.services.map((s) => s.spec.Name)).toEqual(stack.services.map((s) => s.name));

    // The conversion, normalized as the reconciler compares, is in sync with what the CLI made.
    const networkNames = byCli.networkNames;
    const apiVersion = await apiVersionOf(node);
    for (const s of stack.services) {
      const live = byCli.services.find((l) => l.spec.Name === s.name)!;
      const rename = new Map([...stack.configs, ...stack.secrets].filter((o) => !o.fixedName).map((o) => [o.name, `${NAME}_${o.key}`]));
      // As the pass makes it for this engine: without what its API version cannot store.
      const desired = structuredClone(stripForApiVersion(s.spec, apiVersion).spec);
      const c = (desired.TaskTemplate as { ContainerSpec: { Secrets?: Array<Record<string, unknown>>; Configs?: Array<Record<string, unknown>> } }).ContainerSpec;
      for (const r of c.Secrets ?? []) r.SecretName = rename.get(String(r.SecretName)) ?? r.SecretName;
      for (const r of c.Configs ?? []) r.ConfigName = rename.get(String(r.ConfigName)) ?? r.ConfigName;
      expect(diffServiceSpecs(normalizeServiceSpec(withoutIds(live.spec, networkNames)), normalizeServiceSpec(desired)), s.name).toEqual([]);
    }
    // And warden itself, reading the engine, would write none of them.
    expect(await servicesToWrite(node.host, absolute, env)).toEqual([]);
    await removeCmp(node);

    await deployDirect(node, stack);
    const byWarden = await stackObjects(node, NAME);
    await removeCmp(node);

    expect(comparable(byWarden, stack)).toEqual(comparable(byCli, stack));
  });
});

describe('a stack with fields the engine\'s API version cannot store', () => {
  it('is deployed by warden, and the next pass writes nothing', async () => {
    const node = await runningManager(lab);
    await removeCmp(node);
    const absolute = path.resolve(ENGINE_FIELDS_FILE);
    const apiVersion = await apiVersionOf(node);
    const apply = await withDesiredState(absolute, {}, (desired) => runWarden(['apply', '-f', desired, '--host', node.host]));
    // Converged: without the fix, each of apply's passes updated the service again (20 passes, exit 1).
    expect(apply.code, apply.stderr).toBe(0);
    const byWarden = await stackObjects(node, NAME);
    expect(byWarden.services.map((s) => s.spec.Name)).toEqual([`${NAME}_app`]);
    const stored = byWarden.services[0]!.spec.TaskTemplate!.ContainerSpec as { Healthcheck: Record<string, unknown> };
    const old = compareApiVersions(apiVersion, '1.44') < 0;
    // What the engine stores is what its version can: the warning names the field it cannot, once.
    expect(stored.Healthcheck.StartInterval).toBe(old ? undefined : 2e9);
    const warned = `${apply.stdout}\n${apply.stderr}`.split('\n').filter((l) => l.includes('not stored by this engine'));
    expect(warned.filter((l) => l.includes('healthcheck.start_interval')).length).toBe(old ? 1 : 0);
    if (old) expect(warned.find((l) => l.includes('healthcheck.start_interval'))).toContain(apiVersion);
    // The second look, as a later pass of warden run: nothing to write.
    expect(await servicesToWrite(node.host, absolute, {})).toEqual([]);
    await removeCmp(node);
  });
});
