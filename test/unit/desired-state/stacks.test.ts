// Compose v3 stacks read into service entries: a compose file of the kind the HA guides use, the
// features warden ignores, and the ones it cannot honour, reported in the compose file itself.
import { describe, expect, it } from 'vitest';
import { loadDesiredStateText } from '../../../src/desired-state/load.js';
import { DesiredStateError, formatProblem, type Problem } from '../../../src/desired-state/source.js';
import { readStack } from '../../../src/desired-state/stacks.js';

const HA_COMPOSE = `version: "3.8"
x-logging: &logging
  driver: json-file
  options: { max-size: 10m }
services:
  ui:
    image: registry.local:5000/app/ui:1.4
    ports: ["80:80"]
    logging: *logging
    networks: [front]
    deploy:
      replicas: 2
      update_config: { parallelism: 1, delay: 10s }
      placement:
        constraints: [node.labels.function == app]
    depends_on: [api]
  api:
    image: registry.local:5000/app/api:1.4
    environment: { DB_HOST: db }
    secrets: [db_password]
    configs: [api_conf]
    healthcheck: { test: ["CMD", "wget", "-qO-", "http://localhost:8080/health"], interval: 10s }
    networks: [front, back]
    deploy:
      mode: replicated
      replicas: 3
      endpoint_mode: vip
      resources: { limits: { cpus: "1", memory: 1G } }
      restart_policy: { condition: on-failure }
      labels: { com.example.tier: api }
      placement:
        max_replicas_per_node: 1
        constraints:
          - node.labels.function == app
          - node.role == worker
        preferences:
          - spread: node.labels.zone
    depends_on:
      db: { condition: service_healthy }
  db:
    image: postgres:16-alpine
    volumes: ["db:/var/lib/postgresql/data"]
    networks: [back]
    deploy:
      replicas: 1
      placement:
        constraints: ["node.labels.function == database"]
  registry:
    image: registry:2
    ports: ["5000:5000"]
    deploy:
      placement:
        constraints: ["node.role == manager"]
networks:
  front: {}
  back: { driver: overlay, attachable: true }
volumes:
  db: {}
secrets:
  db_password: { external: true }
configs:
  api_conf: { file: ./api.conf }
`;

describe('readStack', () => {
  it('reads an HA guide compose file into <stack>_<service> entries and ignores what does not concern warden', () => {
    const read = readStack('app', HA_COMPOSE, 'stacks/app.yml');
    expect(read.problems).toEqual([]);
    expect(read.warnings).toEqual([]);
    expect(read.services.map((s) => s.service)).toEqual([
      { name: 'app_ui', origin: 'stack:app', replicas: 2, placement: { constraints: ['node.labels.function == app'] }, dependsOn: ['app_api'] },
      {
        name: 'app_api',
        origin: 'stack:app',
        replicas: 3,
        placement: {
          constraints: ['node.labels.function == app', 'node.role == worker'],
          preferences: ['node.labels.zone'],
          maxReplicasPerNode: 1,
        },
        dependsOn: ['app_db'],
      },
      { name: 'app_db', origin: 'stack:app', replicas: 1, placement: { constraints: ['node.labels.function == database'] } },
      { name: 'app_registry', origin: 'stack:app', placement: { constraints: ['node.role == manager'] } },
    ]);
  });

  it('reads a global service without replicas, and a compose file without version', () => {
    const read = readStack('mon', 'services:\n  agent:\n    deploy:\n      mode: global\n      placement: { constraints: ["node.platform.os == linux"] }\n', 'm.yml');
    expect(read.problems).toEqual([]);
    expect(read.services.map((s) => s.service)).toEqual([
      { name: 'mon_agent', origin: 'stack:mon', placement: { constraints: ['node.platform.os == linux'] } },
    ]);
  });

  it('takes the default of an interpolated variable, and warns about one without', () => {
    const read = readStack(
      'app',
      'services:\n  api:\n    deploy:\n      replicas: ${API_REPLICAS:-3}\n  ui:\n    deploy:\n      replicas: ${UI_REPLICAS}\n',
      'c.yml',
    );
    expect(read.problems).toEqual([]);
    expect(read.services.map((s) => s.service)).toEqual([
      { name: 'app_api', origin: 'stack:app', replicas: 3 },
      { name: 'app_ui', origin: 'stack:app' },
    ]);
    expect(read.warnings.map(formatProblem)).toEqual([
      expect.stringMatching(/^c\.yml:7:17: \$\{UI_REPLICAS\} has no default, and warden does not read the deploying shell's environment/),
    ]);
  });

  it('skips jobs with a warning', () => {
    const read = readStack('ops', 'services:\n  migrate:\n    deploy:\n      mode: replicated-job\n      replicas: 1\n', 'c.yml');
    expect(read.services).toEqual([]);
    expect(read.warnings.map(formatProblem)).toEqual(['c.yml:4:13: ops_migrate is a job (replicated-job): warden does not manage jobs, so it is skipped']);
  });

  it.each([
    ['global mode with replicas', 'services:\n  a:\n    deploy:\n      mode: global\n      replicas: 2\n', 5, 17, 'deploy.replicas cannot be used with deploy.mode: global'],
    ['a binpack preference', 'services:\n  a:\n    deploy:\n      placement:\n        preferences:\n          - binpack: node.labels.zone\n', 6, 13, 'swarm only spreads: write "- spread: node.labels.<label>" (binpack is not a placement preference swarm supports)'],
    ['a bad spread descriptor', 'services:\n  a:\n    deploy:\n      placement:\n        preferences:\n          - spread: zone\n', 6, 21, '"zone" is not a spread descriptor'],
    ['a bad constraint', 'services:\n  a:\n    deploy:\n      placement:\n        constraints: ["node.labels.function=app"]\n', 5, 23, 'is not a placement constraint'],
    ['max_replicas_per_node on a global service', 'services:\n  a:\n    deploy:\n      mode: global\n      placement: { max_replicas_per_node: 1 }\n', 5, 43, 'max_replicas_per_node only applies to replicated services'],
    ['replicas as a word', 'services:\n  a:\n    deploy:\n      replicas: three\n', 4, 17, 'deploy.replicas must be a whole number'],
    ['an unknown mode', 'services:\n  a:\n    deploy:\n      mode: daemon\n', 4, 13, 'deploy.mode is one of replicated, global, replicated-job, global-job, not "daemon"'],
    ['depends_on an unknown service', 'services:\n  a:\n    depends_on: [b]\n', 3, 18, 'depends_on names "b", which is not a service of this file'],
    ['a version 2 file', 'version: "2.4"\nservices:\n  a: {}\n', 1, 10, 'compose file version 2.4 has no deploy: section'],
    ['a YAML error', 'services:\n  a:\n    deploy: { replicas: 2\n', 4, 1, 'YAML'],
    ['services as a list', 'services:\n  - a\n', 2, 3, 'services: is a mapping'],
  ])('reports %s in the compose file', (_name, text, line, col, message) => {
    const read = readStack('s', text, 'stacks/s.yml');
    const problem = read.problems.find((p) => p.message.includes(message));
    expect(problem, read.problems.map(formatProblem).join('\n')).toBeDefined();
    expect(problem).toMatchObject({ file: 'stacks/s.yml', line, col });
  });
});

describe('stacks in a desired-state file', () => {
  const files: Record<string, string | Buffer> = { '/cfg/stacks/app.yml': HA_COMPOSE };
  const readFile = async (f: string): Promise<Buffer> => {
    const content = files[f];
    if (content === undefined) throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' });
    return Buffer.from(content);
  };
  const HEAD = 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: t }\nspec:\n';

  it('merges stack services, and an explicit services entry wins whole', async () => {
    const loaded = await loadDesiredStateText(
      `${HEAD}  stacks: [{ name: app, file: stacks/app.yml }]\n  services:\n    - name: app_api\n      replicas: 5\n`,
      '/cfg/warden.yml',
      { readFile },
    );
    const services = loaded.state.services ?? [];
    expect(services.map((s) => s.name)).toEqual(['app_api', 'app_ui', 'app_db', 'app_registry']);
    expect(services[0]).toEqual({ name: 'app_api', origin: 'services', replicas: 5 });
  });

  it('hashes the stack files into the revision', async () => {
    const text = `${HEAD}  stacks: [{ name: app, file: stacks/app.yml }]\n`;
    const before = await loadDesiredStateText(text, '/cfg/warden.yml', { readFile });
    files['/cfg/stacks/app.yml'] = HA_COMPOSE.replace('replicas: 3', 'replicas: 4');
    const after = await loadDesiredStateText(text, '/cfg/warden.yml', { readFile });
    files['/cfg/stacks/app.yml'] = HA_COMPOSE;
    expect(after.revision).not.toBe(before.revision);
  });

  async function problems(text: string, opts = {}): Promise<Problem[]> {
    const err = await loadDesiredStateText(text, '/cfg/warden.yml', { readFile, ...opts }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DesiredStateError);
    return (err as DesiredStateError).problems;
  }

  it('reports a missing compose file at its stacks entry', async () => {
    expect((await problems(`${HEAD}  stacks:\n    - name: app\n      file: stacks/nope.yml\n`)).map(formatProblem)).toEqual([
      '/cfg/warden.yml:7:13: cannot read compose file /cfg/stacks/nope.yml: no such file',
    ]);
  });

  it('refuses a compose file outside the repository for a confined (git) source', async () => {
    const found = await loadDesiredStateText(`${HEAD}  stacks: [{ name: app, file: ../app.yml }]\n`, 'warden.yml', { confine: true }).catch(
      (e: unknown) => e,
    );
    expect((found as DesiredStateError).problems.map(formatProblem)).toEqual(['warden.yml:5:31: "../app.yml" points outside the repository']);
  });

  it('reports a problem in the compose file at the compose file', async () => {
    files['/cfg/stacks/bad.yml'] = 'services:\n  a:\n    deploy:\n      mode: global\n      replicas: 2\n';
    expect((await problems(`${HEAD}  stacks: [{ name: bad, file: stacks/bad.yml }]\n`)).map(formatProblem)).toEqual([
      expect.stringMatching(/^\/cfg\/stacks\/bad\.yml:5:17: deploy\.replicas cannot be used with deploy\.mode: global/),
    ]);
  });

  it('finds a dependency cycle across a stack and the services list', async () => {
    files['/cfg/stacks/cyc.yml'] = 'services:\n  a:\n    depends_on: [b]\n  b: {}\n';
    const found = await problems(`${HEAD}  stacks: [{ name: s, file: stacks/cyc.yml }]\n  services:\n    - name: s_b\n      dependsOn: [s_a]\n`);
    expect(found.map(formatProblem)).toEqual([expect.stringMatching(/dependency cycle s_b → s_a → s_b/)]);
  });

  it('reads a deployed stack\'s config and secret files as bytes: binary content is sent as it is', async () => {
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0xc3]);
    files['/cfg/stacks/bin.yml'] = 'services:\n  a: { image: busybox:lab, secrets: [k], configs: [c] }\nsecrets:\n  k: { file: k.der }\nconfigs:\n  c: { file: c.bin }\n';
    files['/cfg/stacks/k.der'] = binary;
    files['/cfg/stacks/c.bin'] = binary;
    const loaded = await loadDesiredStateText(`${HEAD}  stacks: [{ name: b, file: stacks/bin.yml, deploy: true }]\n`, '/cfg/warden.yml', { readFile });
    const stack = loaded.state.stacks?.[0];
    expect([stack?.secrets[0]?.data, stack?.configs[0]?.data]).toEqual([binary.toString('base64'), binary.toString('base64')]);
  });

  it('passes compose warnings on with the loaded state', async () => {
    files['/cfg/stacks/var.yml'] = 'services:\n  a:\n    deploy:\n      replicas: ${N}\n';
    const loaded = await loadDesiredStateText(`${HEAD}  stacks: [{ name: v, file: stacks/var.yml }]\n`, '/cfg/warden.yml', { readFile });
    expect(loaded.warnings?.map(formatProblem)).toEqual([expect.stringMatching(/^\/cfg\/stacks\/var\.yml:4:17: \$\{N\} has no default/)]);
  });
});
