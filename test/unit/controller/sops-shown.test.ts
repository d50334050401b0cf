// A value that came from a sops file is never shown (contract §2, "Encrypted files"; issue 25 item 6):
// a stack whose env_file and envFile are encrypted, and whose compose file is encrypted in part
// (encrypted_regex), is deployed on the recording fake engine; a later revision changes every value.
// The plan (text and -o json), apply's summary and log lines, /status and an engine's error show
// `(encrypted) changed` and never an old or a new value; a value in clear still shows old -> new.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { formatApplySummary, formatPlan, planDocument } from '../../../src/commands/plan-format.js';
import { Controller, type PassResult } from '../../../src/controller/controller.js';
import { Metrics } from '../../../src/controller/metrics.js';
import { loadDesiredStateFile } from '../../../src/desired-state/load.js';
import { loadSopsKeys } from '../../../src/desired-state/sops/keys.js';
import type { LoadedState } from '../../../src/desired-state/source.js';
import { EngineError } from '../../../src/docker/errors.js';
import { stacks } from '../../../src/reconcilers/stacks.js';
import { AGE_KEYS, sopsEncrypt } from '../../support/sops.js';
import { FakePort, fakeNode } from '../../support/fake-port.js';
import { planContext } from '../../support/desired.js';

// Each age file is written by the age CLI, a process apiece: slow on a busy machine.
vi.setConfig({ testTimeout: 60_000 });

const recipients = [AGE_KEYS.key1.recipient];
const WARDEN = `apiVersion: swarm-warden/v1
kind: ClusterState
metadata: { name: t }
spec:
  stacks: [{ name: app, file: stack.yml, envFile: stack.env, deploy: true }]
`;

// One revision's values, each unique so that a search of the output cannot miss it or match by chance.
interface Revision {
  envFile: string;
  compose: string;
  label: string;
  arg: string;
  note: string;
  short: string;
  hostname: string;
}
const REV1: Revision = {
  envFile: 'env-file-value-old-4401', compose: 'compose-value-old-4402', label: 'label-value-old-4403',
  arg: 'arg-value-old-4404', note: 'note-value-old-4405', short: '7a', hostname: 'host-in-clear-one',
};
const REV2: Revision = {
  envFile: 'env-file-value-new-5501', compose: 'compose-value-new-5502', label: 'label-value-new-5503',
  arg: 'arg-value-new-5504', note: 'note-value-new-5505', short: '8b', hostname: 'host-in-clear-two',
};
const sealedOf = (r: Revision): string[] => [r.envFile, r.compose, r.label, r.arg, r.note];

// The compose file as sops encrypts it with encrypted_regex: environment, labels and command in it are
// encrypted, the rest (image, hostname) in clear. GREETING_URL interpolates ${NOTE} from the encrypted envFile.
function compose(r: Revision): string {
  return `version: "3.8"
services:
  api:
    image: busybox:lab
    hostname: ${r.hostname}
    command: ["serve", "--token", "${r.arg}"]
    env_file: [api.env]
    environment:
      IN_COMPOSE: ${r.compose}
      SHORT: "${r.short}"
      GREETING_URL: https://u:\${NOTE}@example.test/
    labels:
      team.contact: ${r.label}
`;
}

let dir: string;

function write(r: Revision, opts: { envFileVar?: boolean } = {}): void {
  writeFileSync(path.join(dir, 'warden.yml'), WARDEN);
  writeFileSync(path.join(dir, 'stack.yml'), sopsEncrypt(compose(r), { format: 'yaml', recipients, encryptedRegex: '^(environment|labels|command)$' }));
  writeFileSync(path.join(dir, 'api.env'), sopsEncrypt(opts.envFileVar === false ? 'OTHER=plain-enough\n' : `FROM_ENV_FILE=${r.envFile}\n`, { format: 'dotenv', recipients }));
  writeFileSync(path.join(dir, 'stack.env'), sopsEncrypt(`NOTE=${r.note}\n`, { format: 'dotenv', recipients }));
}

async function load(): Promise<LoadedState> {
  return loadDesiredStateFile(path.join(dir, 'warden.yml'), { sops: await loadSopsKeys({ ageKeyFile: AGE_KEYS.key1.file }) });
}

function setup(): { port: FakePort; controller: Controller; logs: () => string } {
  let logs = '';
  const sink = new Writable({ write: (chunk, _enc, done) => void ((logs += String(chunk)), done()) });
  const port = new FakePort([], [fakeNode('m1', 'manager', true)], 'm1');
  const controller = new Controller({
    port, logger: pino({ level: 'debug' }, sink), metrics: new Metrics({ processMetrics: false }), dryRun: false,
    scheduler: () => ({ stop: () => undefined }),
  });
  return { port, controller, logs: () => logs };
}

function expectNone(text: string, values: readonly string[]): void {
  for (const v of values) expect(text, `${v} is shown`).not.toContain(v);
}

const ENV = 'TaskTemplate.ContainerSpec.Env';

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'warden-sops-shown-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('a value from a sops file that changes', () => {
  it('plans as `(encrypted) changed` in the text plan and plan -o json, never old or new; a value in clear shows both', async () => {
    const { controller } = setup();
    write(REV1);
    controller.setDesired(await load());
    await controller.pass(['apply']);
    write(REV2);
    const loaded = await load();
    controller.setDesired(loaded);
    const result = await controller.pass(['plan'], undefined, true);
    const text = formatPlan(loaded, result);
    const json = JSON.stringify(planDocument(loaded, result, false), null, 2);
    expectNone(text + json, [...sealedOf(REV1), ...sealedOf(REV2)]);
    for (const name of ['FROM_ENV_FILE', 'IN_COMPOSE', 'GREETING_URL', 'SHORT']) {
      expect(text).toContain(`${ENV}[${name}]: (encrypted) changed (restarts)`);
    }
    expect(text).toContain('TaskTemplate.ContainerSpec.Args: (encrypted) changed (restarts)');
    expect(text).toContain('TaskTemplate.ContainerSpec.Labels.team.contact: (encrypted) changed (restarts)');
    expect(text).toContain(`TaskTemplate.ContainerSpec.Hostname: "${REV1.hostname}" -> "${REV2.hostname}" (restarts)`);
    // Short values are matched as whole values: "7a" and "8b" appear nowhere as SHORT's.
    expect(text).not.toMatch(/SHORT=(7a|8b)/);
    const doc = JSON.parse(json) as { reconcilers: Array<{ id: string; objects?: Array<{ name: string; fields?: unknown[] }>; actions: Array<{ action: { fields?: unknown[] } }> }> };
    const st = doc.reconcilers.find((r) => r.id === 'stacks')!;
    const field = { field: `${ENV}[FROM_ENV_FILE]`, change: '(encrypted) changed', restarts: true };
    expect(st.objects?.find((o) => o.name === 'app_api')?.fields).toContainEqual(field);
    expect(st.actions[0]?.action.fields).toContainEqual(field);
    expect(st.actions[0]?.action.fields).toContainEqual({ field: 'TaskTemplate.ContainerSpec.Hostname', live: REV1.hostname, desired: REV2.hostname, restarts: true });
  });

  it('applies with nothing of them in apply\'s summary, the log lines or /status', async () => {
    const { port, controller, logs } = setup();
    write(REV1);
    controller.setDesired(await load());
    const first = await controller.pass(['apply']);
    write(REV2);
    controller.setDesired(await load());
    const second = await controller.pass(['apply']);
    expect(second.results.find((r) => r.id === 'stacks')?.actions.map((a) => `${a.action.kind} ${a.outcome}`)).toEqual(['update-service applied']);
    // The engine got the plaintext: only what is shown is masked.
    const env = (port.services[0]!.spec.TaskTemplate?.ContainerSpec as { Env: string[] }).Env;
    expect(env).toContain(`FROM_ENV_FILE=${REV2.envFile}`);
    const shown = [formatApplySummary([first, second], true), logs(), JSON.stringify(controller.status())].join('\n');
    expect(logs()).toContain('corrected drift');
    expect(formatApplySummary([second], true)).toContain('(encrypted) changed');
    expectNone(shown, [...sealedOf(REV1), ...sealedOf(REV2)]);
  });

  it('an engine\'s error that quotes a value is shown without it', async () => {
    const { port, controller, logs } = setup();
    write(REV1);
    controller.setDesired(await load());
    await controller.pass(['apply']);
    write(REV2);
    controller.setDesired(await load());
    port.refuse = new EngineError('refused', `invalid env: FROM_ENV_FILE=${REV2.envFile}`, 400);
    const result: PassResult = await controller.pass(['apply']);
    const outcome = result.results.find((r) => r.id === 'stacks')!.actions[0]!;
    expect(outcome).toMatchObject({ outcome: 'failed', error: 'invalid env: FROM_ENV_FILE=(encrypted)' });
    expectNone(formatApplySummary([result], false) + logs() + JSON.stringify(controller.status()), sealedOf(REV2));
  });

  it('a value removed from a sops file is still not shown: the previous revision\'s values stay sealed', async () => {
    const { controller } = setup();
    write(REV1);
    controller.setDesired(await load());
    await controller.pass(['apply']);
    write(REV1, { envFileVar: false });
    const loaded = await load();
    controller.setDesired(loaded);
    const text = formatPlan(loaded, await controller.pass(['plan'], undefined, true));
    expect(text).toContain(`${ENV}[FROM_ENV_FILE]: (encrypted) changed (restarts)`);
    expectNone(text, sealedOf(REV1));
  });

  it('is marked by the stacks reconciler itself, before any pass: its plan holds neither value', async () => {
    const { port, controller } = setup();
    write(REV1);
    controller.setDesired(await load());
    await controller.pass(['apply']);
    write(REV2);
    const loaded = await load();
    const observed = {
      info: await port.info(), nodes: port.nodes, services: await port.listServices(), tasks: [], at: 0,
      stackObjects: { networks: await port.listNetworks(), configs: await port.listConfigs(), secrets: await port.listSecrets(), images: new Map() },
    };
    const plan = stacks.plan(loaded.state, observed, planContext());
    const update = plan.actions.find((a) => a.kind === 'update-service')!;
    const { spec: _spec, sealed: _sealed, ...shown } = update;
    expectNone(JSON.stringify([shown, plan.drift, plan.objects]), [...sealedOf(REV1), ...sealedOf(REV2)]);
    expect(JSON.stringify(plan.objects)).toContain('"encrypted":true');
  });
});

describe('an image written in an encrypted part of a compose file', () => {
  it('is not in the warning that its registry did not answer', async () => {
    const { controller, logs } = setup();
    write(REV1);
    const image = 'registry.example/private-image-6602:v1';
    writeFileSync(path.join(dir, 'warden.yml'), WARDEN.replace('deploy: true', 'deploy: true, resolveImage: always'));
    writeFileSync(path.join(dir, 'stack.yml'), sopsEncrypt(compose(REV1).replace('busybox:lab', image), { format: 'yaml', recipients, encryptedRegex: '^(image|environment)$' }));
    controller.setDesired(await load());
    await controller.pass(['plan'], undefined, true);
    expect(logs()).toContain('image could not be accessed on a registry');
    expect(logs()).not.toContain('private-image-6602');
  });
});

describe('a problem in a file whose value came from sops', () => {
  it('names the file and the place, never the value', async () => {
    write(REV1);
    // An image reference stack deploy refuses, encrypted in the compose file.
    const bad = compose(REV1).replace('image: busybox:lab', 'image: "Bad-Image-Ref-6601:latest"');
    writeFileSync(path.join(dir, 'stack.yml'), sopsEncrypt(bad, { format: 'yaml', recipients, encryptedRegex: '^(image|environment)$' }));
    const err = await load().then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toContain('stack.yml:');
    expect(err?.message).not.toContain('Bad-Image-Ref-6601');
  });
});
