// Helpers for the stacks lab tests: deploying a compose file with the docker CLI's `stack deploy`,
// reading back every object of a stack, removing a stack and waiting until it is gone, and reading a
// compose file as warden reads it.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadComposeStack } from '../../src/desired-state/compose/load.js';
import { withIds } from '../../src/desired-state/compose/references.js';
import type { DesiredStack, ResolveImage } from '../../src/desired-state/compose/types.js';
import { formatProblem } from '../../src/desired-state/source.js';
import { createDockerPort } from '../../src/docker/engine.js';
import type { ServiceSpec, SwarmConfig, SwarmNetwork, SwarmSecret } from '../../src/docker/port.js';
import type { LabNode } from '../../src/lab/lab.js';
import { run } from '../../src/lab/exec.js';
import { waitUntil } from './wait.js';

const NAMESPACE = 'com.docker.stack.namespace';

/** stackPort connects the full port (stacks included) to a lab node's engine. */
export function stackPort(node: LabNode): ReturnType<typeof createDockerPort> {
  return createDockerPort({ host: node.host });
}

/** cliDeploy runs `docker stack deploy --resolve-image never` with `env` as the shell's variables. */
export async function cliDeploy(node: LabNode, file: string, name: string, env: Record<string, string> = {}): Promise<string> {
  return run('docker', ['-H', node.host, 'stack', 'deploy', '--detach=true', '--resolve-image', 'never', '-c', file, name], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    timeoutMs: 120_000,
  });
}

/** readComposeStack reads a compose file as warden reads a `deploy: true` stack; it throws on any problem. */
export async function readComposeStack(file: string, name: string, env: Record<string, string> = {}, resolveImage: ResolveImage = 'never'): Promise<DesiredStack> {
  const read = await loadComposeStack(await readFile(file, 'utf8'), {
    stack: name, file: path.resolve(file), env, prune: false, resolveImage, readFile: (f) => readFile(f),
  });
  if (read.problems.length > 0 || !read.stack) throw new Error(read.problems.map(formatProblem).join('\n'));
  return read.stack;
}

/** StackObjects is everything of one stack the engine lists, found by its namespace label. */
export interface StackObjects {
  services: Array<{ id: string; version: number; spec: ServiceSpec }>;
  networks: SwarmNetwork[];
  configs: SwarmConfig[];
  secrets: SwarmSecret[];
  /** networkNames maps every network's id to its name, the stack's and the others (host, ingress). */
  networkNames: Map<string, string>;
}

/** stackObjects reads every service, network, config and secret labelled with the stack's namespace. */
export async function stackObjects(node: LabNode, name: string): Promise<StackObjects> {
  const port = stackPort(node);
  const mine = (labels: Record<string, string> | undefined): boolean => labels?.[NAMESPACE] === name;
  const services = (await port.listServices({ status: false })).filter((s) => mine(s.labels));
  const networks = await port.listNetworks();
  // The swarm's own host network, which a service on it names, is not in the list: read it by id.
  const known = new Set(networks.map((n) => n.id));
  for (const s of services) {
    for (const t of ((s.spec.TaskTemplate as { Networks?: Array<{ Target: string }> } | undefined)?.Networks ?? [])) {
      if (known.has(t.Target)) continue;
      networks.push(await port.inspectNetwork(t.Target));
      known.add(t.Target);
    }
  }
  return {
    services: services.map((s) => ({ id: s.id, version: s.version, spec: s.spec })).sort((a, b) => a.spec.Name.localeCompare(b.spec.Name)),
    networks: networks.filter((n) => mine(n.labels)).sort((a, b) => a.name.localeCompare(b.name)),
    networkNames: new Map(networks.map((n) => [n.id, n.name])),
    configs: (await port.listConfigs()).filter((c) => mine(c.labels)).sort((a, b) => a.name.localeCompare(b.name)),
    secrets: (await port.listSecrets()).filter((c) => mine(c.labels)).sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** removeStack runs `docker stack rm` and waits until no object of the stack is left (networks go last). */
export async function removeStack(node: LabNode, name: string): Promise<void> {
  await run('docker', ['-H', node.host, 'stack', 'rm', name], { timeoutMs: 60_000 }).catch(() => undefined);
  await waitUntil(`stack ${name} removed`, async () => {
    const left = await stackObjects(node, name);
    if (left.services.length + left.configs.length + left.secrets.length > 0) {
      await run('docker', ['-H', node.host, 'stack', 'rm', name], { timeoutMs: 60_000 }).catch(() => undefined);
      return false;
    }
    // A network stays while the tasks that used it are shutting down; removal is retried until it goes.
    for (const n of left.networks) await stackPort(node).removeNetwork(n.id).catch(() => undefined);
    return left.networks.length === 0;
  }, { timeoutMs: 90_000, intervalMs: 500 });
}

/**
 * deployDirect creates a converted stack's objects through the port, in stack deploy's order (networks,
 * secrets, configs, services), resolving config and secret IDs as docker/cli does. For the comparison
 * test: it is the conversion under test, not the reconciler.
 */
export async function deployDirect(node: LabNode, stack: DesiredStack): Promise<void> {
  const port = stackPort(node);
  for (const n of stack.networks) if (!n.external && n.spec) await port.createNetwork(n.spec);
  for (const s of stack.secrets) {
    if (s.external) continue;
    await port.createSecret({ Name: s.name, Labels: s.labels, Data: s.data ?? '', ...(s.driver ? { Driver: s.driver } : {}), ...(s.templating ? { Templating: s.templating } : {}) });
  }
  for (const c of stack.configs) {
    if (c.external) continue;
    await port.createConfig({ Name: c.name, Labels: c.labels, Data: c.data ?? '', ...(c.templating ? { Templating: c.templating } : {}) });
  }
  const ids = {
    networks: new Map((await port.listNetworks()).map((n) => [n.name, n.id])),
    configs: new Map((await port.listConfigs()).map((c) => [c.name, c.id])),
    secrets: new Map((await port.listSecrets()).map((c) => [c.name, c.id])),
  };
  for (const s of stack.services) {
    const { spec, missing } = withIds(s.spec, ids);
    if (missing.length > 0) throw new Error(`${s.name}: missing ${missing.join(', ')}`);
    await port.createService(spec);
  }
}
