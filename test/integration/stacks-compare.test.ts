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
import { withoutIds } from '../../src/desired-state/compose/references.js';
import { LABEL_CONTENT_HASH, type DesiredStack } from '../../src/desired-state/compose/types.js';
import { restoreLab, runningManager, testLab } from '../support/lab.js';
import { cliDeploy, deployDirect, readComposeStack, removeStack, stackObjects, type StackObjects } from '../support/stacks.js';
import { runWarden } from '../support/warden.js';

/**
 * servicesToWrite is what `warden plan` (the stacks reconciler on what the engine shows) would write to
 * the stack's services: none, when the CLI's deployment is in sync for warden.
 */
async function servicesToWrite(host: string, file: string, env: Record<string, string>): Promise<string[]> {
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
    const r = await runWarden(['plan', '-f', path.join(dir, 'warden.yml'), '--host', host, '--output', 'json']);
    expect(r.code, r.stderr).not.toBe(2);
    const plan = JSON.parse(r.stdout) as { reconcilers: Array<{ id: string; actions: Array<{ action: { kind: string; object: string } }> }> };
    return plan.reconcilers.flatMap((x) => x.actions).map((a) => a.action).filter((a) => a.kind.endsWith('-service')).map((a) => `${a.kind} ${a.object}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const lab = testLab();
const NAME = 'cmp';

beforeAll(() => restoreLab(lab));
afterAll(async () => {
  await removeStack(await runningManager(lab), NAME);
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

const FIXTURES: Array<{ file: string; env: Record<string, string> }> = [
  { file: 'examples/stacks/every-key.compose.yml', env: { GREETING: 'hello', WEB_PORT: '18080' } },
  { file: 'examples/stacks/voting.compose.yml', env: {} },
  { file: 'examples/stacks/msa-ha.compose.yml', env: {} },
  { file: 'examples/stacks/defaults.compose.yml', env: {} },
];

describe('warden deploys a compose file as docker stack deploy does', () => {
  it.each(FIXTURES)('$file', async ({ file, env }) => {
    const node = await runningManager(lab);
    const absolute = path.resolve(file);
    const stack = await readComposeStack(absolute, NAME, env);
    await removeStack(node, NAME);

    await cliDeploy(node, absolute, NAME, env);
    const byCli = await stackObjects(node, NAME);
    expect(byCli.services.map((s) => s.spec.Name)).toEqual(stack.services.map((s) => s.name));

    // The conversion, normalized as the reconciler compares, is in sync with what the CLI made.
    const networkNames = byCli.networkNames;
    for (const s of stack.services) {
      const live = byCli.services.find((l) => l.spec.Name === s.name)!;
      const rename = new Map([...stack.configs, ...stack.secrets].filter((o) => !o.fixedName).map((o) => [o.name, `${NAME}_${o.key}`]));
      const desired = structuredClone(s.spec);
      const c = (desired.TaskTemplate as { ContainerSpec: { Secrets?: Array<Record<string, unknown>>; Configs?: Array<Record<string, unknown>> } }).ContainerSpec;
      for (const r of c.Secrets ?? []) r.SecretName = rename.get(String(r.SecretName)) ?? r.SecretName;
      for (const r of c.Configs ?? []) r.ConfigName = rename.get(String(r.ConfigName)) ?? r.ConfigName;
      expect(diffServiceSpecs(normalizeServiceSpec(withoutIds(live.spec, networkNames)), normalizeServiceSpec(desired)), s.name).toEqual([]);
    }
    // And warden itself, reading the engine, would write none of them.
    expect(await servicesToWrite(node.host, absolute, env)).toEqual([]);
    await removeStack(node, NAME);

    await deployDirect(node, stack);
    const byWarden = await stackObjects(node, NAME);
    await removeStack(node, NAME);

    expect(comparable(byWarden, stack)).toEqual(comparable(byCli, stack));
  });
});
