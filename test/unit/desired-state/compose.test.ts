// The compose conversion against docker/cli v28.2's own expectations: its convert, loader, template and
// schema tests (cli/compose/*/*_test.go) rewritten as tables of compose text and the engine objects
// stack deploy makes from them, plus the problems it reports, positioned in the file.
import { describe, expect, it } from 'vitest';
import { familiarImage } from '../../../src/desired-state/compose/convert.js';
import { cleanPath } from '../../../src/desired-state/compose/convert-mounts.js';
import { desiredForEngine, ENGINE_FIELDS, stripForApiVersion } from '../../../src/desired-state/compose/engine-fields.js';
import { loadComposeStack, type ComposeStackRead } from '../../../src/desired-state/compose/load.js';
import { parseGoDuration, parsePortSpec, parseRamInBytes, parseVolumeShort, splitShellWords } from '../../../src/desired-state/compose/parse.js';
import { substitute } from '../../../src/desired-state/compose/template.js';
import { formatProblem } from '../../../src/desired-state/source.js';
import type { DesiredState } from '../../../src/desired-state/types.js';
import type { ServiceSpec } from '../../../src/docker/port.js';

const files: Record<string, string> = {
  '/cfg/app.env': 'FOO=foo_from_env_file\n# a comment\nBAR=bar_from_env_file\nFROMSTACK\n',
  '/cfg/more.env': 'BAR=bar_from_env_file_2\n',
  '/cfg/nginx.conf': 'server {}\n',
  '/cfg/db_password': 's3cret',
};

async function load(text: string, env: Record<string, string> = {}, stack = 's'): Promise<ComposeStackRead> {
  return loadComposeStack(text, {
    stack,
    file: '/cfg/docker-compose.yml',
    env,
    prune: false,
    resolveImage: 'changed',
    readFile: async (f) => {
      const t = files[f];
      if (t === undefined) throw Object.assign(new Error(`ENOENT ${f}`), { code: 'ENOENT' });
      return Buffer.from(t);
    },
  });
}

async function spec(text: string, env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const read = await load(text, env);
  expect(read.problems.map(formatProblem)).toEqual([]);
  return read.stack!.services[0]!.spec as Record<string, unknown>;
}

async function problems(text: string, env: Record<string, string> = {}): Promise<string[]> {
  return (await load(text, env)).problems.map(formatProblem);
}

const svc = (body: string): string => `version: "3.13"\nservices:\n  web:\n    image: busybox:lab\n${body}`;
const F = '/cfg/docker-compose.yml';

describe('template (docker/cli template_test.go)', () => {
  const vars: Record<string, string> = { FOO: 'first', BAR: '' };
  const lookup = (n: string): string | undefined => vars[n];
  it.each([
    ['$${foo}', '${foo}'],
    ['foo', 'foo'],
    ['This ${BAR} var', 'This  var'],
    ['This $FOO var', 'This first var'],
    ['This ${FOO} var', 'This first var'],
    ['ok ${missing:-def}', 'ok def'],
    ['ok ${missing-def}', 'ok def'],
    ['ok ${BAR:-def}', 'ok def'],
    ['ok ${FOO:-def}', 'ok first'],
    ['ok ${BAR-def}', 'ok '],
    ['ok ${BAR:-/non:-alphanumeric}', 'ok /non:-alphanumeric'],
    ['ok ${FOO:?err}', 'ok first'],
    ['ok ${FOO?err}', 'ok first'],
    ['ok ${BAR?err}', 'ok '],
  ])('substitutes %j', (template, expected) => {
    expect(substitute(template, lookup)).toBe(expected);
  });

  it.each([
    ['${', 'invalid interpolation format'],
    ['$}', 'invalid interpolation format'],
    ['${}', 'invalid interpolation format'],
    ['${ }', 'invalid interpolation format'],
    ['${ foo}', 'invalid interpolation format'],
    ['${foo }', 'invalid interpolation format'],
    ['${foo!}', 'invalid interpolation format'],
    ['not ok ${UNSET_VAR:?Mandatory Variable Unset}', 'required variable UNSET_VAR is missing a value: Mandatory Variable Unset'],
    ['not ok ${BAR:?Mandatory Variable Empty}', 'required variable BAR is missing a value: Mandatory Variable Empty'],
    ['not ok ${UNSET_VAR:?}', 'required variable UNSET_VAR is missing a value'],
    ['not ok ${UNSET_VAR?Mandatory Variable Unset}', 'required variable UNSET_VAR is missing a value: Mandatory Variable Unset'],
    // The contract's one difference from stack deploy: no value and no default is an error.
    ['This ${missing} var', '${missing} has no value and no default'],
  ])('refuses %j', (template, message) => {
    expect(() => substitute(template, lookup)).toThrow(message);
  });
});

describe('value parsers (go-units, go-connections, shlex, loader.ParseVolume)', () => {
  it.each([
    ['10s', 10e9], ['1m30s', 90e9], ['1.5h', 5400e9], ['0', 0], ['300ms', 3e8], ['2h45m', 9900e9],
  ])('reads the Go duration %s', (text, ns) => expect(parseGoDuration(text)).toBe(ns));
  it.each(['10', '', '1x', 's', '1.5'])('refuses the Go duration %j', (text) => expect(parseGoDuration(text)).toBeUndefined());

  it.each([
    ['50M', 52428800], ['20M', 20971520], ['1g', 1073741824], ['1.5GiB', 1610612736], ['512', 512], ['10k', 10240], ['1 kb', 1024],
  ])('reads the size %s', (text, bytes) => expect(parseRamInBytes(text)).toBe(bytes));
  it.each(['1x', '-1', 'abc', '1kbb'])('refuses the size %j', (text) => expect(() => parseRamInBytes(text)).toThrow());

  it.each([
    ['80', [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 0, PublishMode: 'ingress' }]],
    ['8080:80', [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }]],
    ['127.0.0.1:8080:80/udp', [{ Protocol: 'udp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' }]],
    ['9090-9091:8080-8081', [
      { Protocol: 'tcp', TargetPort: 8080, PublishedPort: 9090, PublishMode: 'ingress' },
      { Protocol: 'tcp', TargetPort: 8081, PublishedPort: 9091, PublishMode: 'ingress' },
    ]],
    ['5000-5001:5000', [
      { Protocol: 'tcp', TargetPort: 5000, PublishedPort: 5000, PublishMode: 'ingress' },
      { Protocol: 'tcp', TargetPort: 5000, PublishedPort: 5001, PublishMode: 'ingress' },
    ]],
  ])('reads the port %s', (text, ports) => expect(parsePortSpec(text)).toEqual(ports));
  it.each([
    ['', 'no port specified'], ['80/xyz', 'invalid proto'], ['70000', 'invalid containerPort'], ['a:80', 'invalid hostPort'],
    ['8000-8001:80-82', 'invalid ranges'], ['1.2.3:80:80', 'invalid IP address'],
  ])('refuses the port %j', (text, message) => expect(() => parsePortSpec(text)).toThrow(message));

  it.each([
    ['/code/entrypoint.sh -p 3000', ['/code/entrypoint.sh', '-p', '3000']],
    [`sh -c 'echo "a b"'`, ['sh', '-c', 'echo "a b"']],
    ['echo "a \\"b\\""  c\\ d', ['echo', 'a "b"', 'c d']],
    // google/shlex: in double quotes a backslash escapes any rune and is dropped (a shell would keep it before ".").
    [`sh -c "sed 's/\\./_/g' f"`, ['sh', '-c', "sed 's/./_/g' f"]],
    ['a\u000bb # a comment\nc', ['a\u000bb', 'c']],
    ['x#y "" \'\'', ['x#y', '', '']],
  ])('splits %j into words', (text, words) => expect(splitShellWords(text)).toEqual(words));

  it.each([
    ['/data', { type: 'volume', source: '', target: '/data', readOnly: false, nocopy: false }],
    ['data:/data:ro', { type: 'volume', source: 'data', target: '/data', readOnly: true, nocopy: false }],
    ['./src:/src:rw,rshared', { type: 'bind', source: './src', target: '/src', readOnly: false, nocopy: false, propagation: 'rshared' }],
    ['/a:/b:nocopy', { type: 'bind', source: '/a', target: '/b', readOnly: false, nocopy: true }],
  ])('reads the volume %s', (text, expected) => expect(parseVolumeShort(text)).toEqual(expected));
  it.each([['a::b', 'empty section'], ['a:b:ro:x', 'too many colons']])('refuses the volume %j', (text, message) =>
    expect(() => parseVolumeShort(text)).toThrow(message));
});

describe('images as the docker client library sends them (imageWithTagString)', () => {
  it.each([
    ['redis', 'redis:latest'],
    ['redis:alpine', 'redis:alpine'],
    ['docker.io/library/redis', 'redis:latest'],
    ['index.docker.io/library/redis:7', 'redis:7'],
    ['dockersamples/examplevotingapp_worker', 'dockersamples/examplevotingapp_worker:latest'],
    ['docker.io/dockersamples/visualizer:stable', 'dockersamples/visualizer:stable'],
    ['registry.local:5000/app/api', 'registry.local:5000/app/api:latest'],
    ['localhost/app', 'localhost/app:latest'],
    [`redis@sha256:${'a'.repeat(64)}`, `redis@sha256:${'a'.repeat(64)}`],
    [`redis:7@sha256:${'a'.repeat(64)}`, `redis:7@sha256:${'a'.repeat(64)}`],
  ])('%s becomes %s', (image, sent) => expect(familiarImage(image)).toBe(sent));
});

describe('convert: services (docker/cli service_test.go)', () => {
  it('names and labels a service as stack deploy does, with the default network and an empty placement', async () => {
    const read = await load(svc(''), {}, 'app');
    expect(read.problems).toEqual([]);
    expect(read.stack!.services).toEqual([{
      key: 'web',
      name: 'app_web',
      image: 'busybox:lab',
      spec: {
        Name: 'app_web',
        Labels: { 'com.docker.stack.namespace': 'app', 'com.docker.stack.image': 'busybox:lab' },
        TaskTemplate: {
          ContainerSpec: { Image: 'busybox:lab', Labels: { 'com.docker.stack.namespace': 'app' }, Privileges: {} },
          Resources: {},
          Placement: {},
          Networks: [{ Target: 'app_default', Aliases: ['web'] }],
        },
        Mode: { Replicated: {} },
        EndpointSpec: {},
      },
    }]);
    expect(read.stack!.networks).toEqual([{
      key: 'default',
      name: 'app_default',
      external: false,
      spec: { Name: 'app_default', Driver: 'overlay', Labels: { 'com.docker.stack.namespace': 'app' } },
    }]);
  });

  it.each([
    ['restart: "no"', undefined],
    ['restart: always', { Condition: 'any' }],
    ['restart: unless-stopped', { Condition: 'any' }],
    ['restart: on-failure:4', { Condition: 'on-failure', MaxAttempts: 4 }],
    ['restart: on-failure', { Condition: 'on-failure', MaxAttempts: 0 }],
    ['deploy: { restart_policy: { condition: on-failure, delay: 5s, max_attempts: 3, window: 2m } }', { Condition: 'on-failure', Delay: 5e9, MaxAttempts: 3, Window: 120e9 }],
    // The legacy key counts only without deploy.restart_policy.
    ['restart: always\n    deploy: { restart_policy: { condition: none } }', { Condition: 'none' }],
  ])('restart policy from %s', async (body, policy) => {
    const task = (await spec(svc(`    ${body}\n`))).TaskTemplate as Record<string, unknown>;
    expect(task.RestartPolicy).toEqual(policy);
  });

  it('refuses an unknown restart policy at its value', async () => {
    expect(await problems(svc('    restart: unknown\n'))).toEqual([`${F}:5:14: unknown restart policy: unknown`]);
  });

  it('sorts the environment, keeps a name without value, fills empty ones from the stack env, and reads env files first', async () => {
    const s = await spec(svc('    env_file: [app.env, more.env]\n    environment:\n      BAZ: baz_from_service_def\n      QUX:\n      EMPTY: ""\n      FOO: from_service\n'), { EMPTY: 'from_stack', FROMSTACK: 'x' });
    expect((s.TaskTemplate as { ContainerSpec: { Env: string[] } }).ContainerSpec.Env).toEqual([
      'BAR=bar_from_env_file_2', 'BAZ=baz_from_service_def', 'EMPTY=from_stack', 'FOO=from_service', 'FROMSTACK=x', 'QUX',
    ]);
  });

  it('writes extra hosts as "ip host", in order, from a list or a mapping', async () => {
    const list = await spec(svc('    extra_hosts: ["zulu:127.0.0.2", "alpha:127.0.0.3", "zulu:ff02::1", "host=[::1]"]\n'));
    expect((list.TaskTemplate as { ContainerSpec: { Hosts: string[] } }).ContainerSpec.Hosts).toEqual([
      '127.0.0.2 zulu', '127.0.0.3 alpha', 'ff02::1 zulu', '::1 host',
    ]);
    const map = await spec(svc('    extra_hosts: { b: 10.0.0.2, a: 10.0.0.1 }\n'));
    expect((map.TaskTemplate as { ContainerSpec: { Hosts: string[] } }).ContainerSpec.Hosts).toEqual(['10.0.0.1 a', '10.0.0.2 b']);
    // toStringList sorts "host:ip" strings, not keys ("a.b:" before "a:"), and drops null values.
    const sorted = await spec(svc('    extra_hosts: { a: 10.0.0.1, a.b: 10.0.0.2, none: null, v6: "[::1]" }\n'));
    expect((sorted.TaskTemplate as { ContainerSpec: { Hosts: string[] } }).ContainerSpec.Hosts).toEqual(['10.0.0.2 a.b', '10.0.0.1 a', '::1 v6']);
  });

  it('converts resources (cpus to nano CPUs, memory in binary units, pids, generic resources)', async () => {
    const s = await spec(svc('    deploy:\n      resources:\n        limits: { cpus: "0.003", memory: 50M, pids: 100 }\n        reservations:\n          cpus: "0.002"\n          memory: 20M\n          generic_resources: [{ discrete_resource_spec: { kind: gpu, value: 2 } }]\n'));
    expect((s.TaskTemplate as Record<string, unknown>).Resources).toEqual({
      Limits: { NanoCPUs: 3000000, MemoryBytes: 52428800, Pids: 100 },
      Reservations: { NanoCPUs: 2000000, MemoryBytes: 20971520, GenericResources: [{ DiscreteResourceSpec: { Kind: 'gpu', Value: 2 } }] },
    });
  });

  it.each([
    ['{ test: ["CMD", "curl", "-f", "http://localhost"], interval: 30s, timeout: 10s, retries: 3, start_period: 40s, start_interval: 2s }',
      { Test: ['CMD', 'curl', '-f', 'http://localhost'], Interval: 30e9, Timeout: 10e9, Retries: 3, StartPeriod: 40e9, StartInterval: 2e9 }],
    ['{ test: "wget -q localhost" }', { Test: ['CMD-SHELL', 'wget -q localhost'] }],
    ['{ disable: true }', { Test: ['NONE'] }],
  ])('converts the healthcheck %s', async (hc, expected) => {
    const s = await spec(svc(`    healthcheck: ${hc}\n`));
    expect((s.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec.Healthcheck).toEqual(expected);
  });

  it('refuses a healthcheck with both test and disable', async () => {
    expect(await problems(svc('    healthcheck: { test: ["CMD", "true"], disable: true }\n'))).toEqual([
      `${F}:5:52: healthcheck: test and disable can't be set at the same time`,
    ]);
  });

  it('sorts ports by published port, keeping a long port as written (the engine fills tcp and ingress)', async () => {
    const s = await spec(svc('    ports:\n      - { target: 53, published: 1053, protocol: udp, mode: host }\n      - { target: 8080, published: 80 }\n    deploy: { endpoint_mode: VIP }\n'));
    expect(s.EndpointSpec).toEqual({
      Mode: 'vip',
      Ports: [
        { Protocol: '', TargetPort: 8080, PublishedPort: 80, PublishMode: '' },
        { Protocol: 'udp', TargetPort: 53, PublishedPort: 1053, PublishMode: 'host' },
      ],
    });
  });

  it('attaches networks sorted by name, with aliases, driver options and the service name as an alias', async () => {
    const text = `version: "3.13"
services:
  service:
    image: busybox:lab
    networks:
      front: { aliases: [something], driver_opts: { driver.opt1: optval1 } }
      back: { aliases: [other] }
networks:
  front: { external: true, name: fronttier }
  back: {}
`;
    const read = await load(text, {}, 'foo');
    expect(read.problems).toEqual([]);
    expect((read.stack!.services[0]!.spec.TaskTemplate as Record<string, unknown>).Networks).toEqual([
      { Target: 'foo_back', Aliases: ['other', 'service'] },
      { Target: 'fronttier', Aliases: ['something', 'service'], DriverOpts: { 'driver.opt1': 'optval1' } },
    ]);
    expect(read.stack!.networks.map((n) => [n.name, n.external])).toEqual([['foo_back', false], ['fronttier', true]]);
  });

  it('uses a custom default network', async () => {
    const read = await load('services:\n  service: { image: busybox:lab }\nnetworks:\n  default: { external: true, name: custom }\n', {}, 'foo');
    expect((read.stack!.services[0]!.spec.TaskTemplate as Record<string, unknown>).Networks).toEqual([{ Target: 'custom', Aliases: ['service'] }]);
    expect(read.stack!.networks).toEqual([{ key: 'default', name: 'custom', external: true }]);
  });

  it('converts DNS, update and rollback config (parallelism defaults to 1), init, isolation, capabilities and ulimits', async () => {
    const s = await spec(svc(`    dns: 8.8.8.8
    dns_search: [dc1.example.com]
    init: true
    isolation: process
    cap_add: [net_admin, CAP_SYS_TIME]
    cap_drop: [ALL]
    ulimits: { nproc: 65535, nofile: { soft: 20000, hard: 40000 } }
    sysctls: [net.core.somaxconn=1024]
    deploy:
      update_config: { delay: 10s, order: start-first, failure_action: rollback, monitor: 1m, max_failure_ratio: 0.3 }
      rollback_config: { parallelism: 0 }
`));
    const c = (s.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec;
    expect(c.DNSConfig).toEqual({ Nameservers: ['8.8.8.8'], Search: ['dc1.example.com'] });
    expect(c.Init).toBe(true);
    expect(c.Isolation).toBe('process');
    expect(c.CapabilityAdd).toEqual(['CAP_NET_ADMIN', 'CAP_SYS_TIME']);
    expect(c.CapabilityDrop).toEqual(['ALL']);
    expect(c.Ulimits).toEqual([{ Name: 'nofile', Soft: 20000, Hard: 40000 }, { Name: 'nproc', Soft: 65535, Hard: 65535 }]);
    expect(c.Sysctls).toEqual({ 'net.core.somaxconn': '1024' });
    expect(s.UpdateConfig).toEqual({ Parallelism: 1, Delay: 10e9, FailureAction: 'rollback', Monitor: 60e9, MaxFailureRatio: 0.3, Order: 'start-first' });
    expect(s.RollbackConfig).toEqual({ Parallelism: 0 });
  });

  it.each([
    ['deploy: { mode: global }', { Global: {} }],
    ['deploy: { mode: replicated, replicas: 3 }', { Replicated: { Replicas: 3 } }],
    ['deploy: { mode: replicated-job, replicas: 2 }', { ReplicatedJob: { MaxConcurrent: 2, TotalCompletions: 2 } }],
    ['deploy: { mode: global-job }', { GlobalJob: {} }],
  ])('converts the mode %s', async (body, mode) => {
    expect((await spec(svc(`    ${body}\n`))).Mode).toEqual(mode);
  });

  it('converts entrypoint and command by shell words, and every plain field', async () => {
    const s = await spec(svc(`    entrypoint: /code/entrypoint.sh -p 3000
    command: ["bundle", "exec"]
    hostname: foo
    user: someone
    working_dir: /code
    stop_grace_period: 20s
    stop_signal: SIGUSR1
    tty: true
    stdin_open: true
    read_only: true
    oom_score_adj: 500
    labels: [a=b]
    logging: { driver: json-file, options: { max-size: 10m } }
    deploy:
      labels: { tier: web }
      placement: { constraints: [node.role == worker], preferences: [spread: node.labels.zone], max_replicas_per_node: 2 }
`));
    expect(s.Labels).toEqual({ tier: 'web', 'com.docker.stack.namespace': 's', 'com.docker.stack.image': 'busybox:lab' });
    const t = s.TaskTemplate as Record<string, unknown>;
    expect(t.ContainerSpec).toEqual({
      Image: 'busybox:lab', Command: ['/code/entrypoint.sh', '-p', '3000'], Args: ['bundle', 'exec'], Hostname: 'foo',
      User: 'someone', Dir: '/code', StopGracePeriod: 20e9, StopSignal: 'SIGUSR1', TTY: true, OpenStdin: true, ReadOnly: true,
      OomScoreAdj: 500, Labels: { a: 'b', 'com.docker.stack.namespace': 's' }, Privileges: {},
    });
    expect(t.LogDriver).toEqual({ Name: 'json-file', Options: { 'max-size': '10m' } });
    expect(t.Placement).toEqual({
      Constraints: ['node.role == worker'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2,
    });
  });
});

describe('convert: mounts (docker/cli volume_test.go)', () => {
  const withVolumes = (mounts: string, volumes: string): string => `services:\n  web:\n    image: busybox:lab\n    volumes:\n${mounts}volumes:\n${volumes}`;

  it.each([
    ['anonymous volume', '      - /foo\n', '  {}\n', { Type: 'volume', Target: '/foo' }],
    ['named volume with driver and labels', '      - { type: volume, source: normal, target: /foo, read_only: true, volume: { nocopy: true } }\n',
      '  normal: { driver: glusterfs, driver_opts: { opt: value }, labels: { something: labeled } }\n',
      { Type: 'volume', Source: 'foo_normal', Target: '/foo', ReadOnly: true, VolumeOptions: {
        NoCopy: true, Labels: { 'com.docker.stack.namespace': 'foo', something: 'labeled' }, DriverConfig: { Name: 'glusterfs', Options: { opt: 'value' } },
      } }],
    ['named volume with a name', '      - normal:/foo\n', '  normal: { name: user_specified_name, driver: vsphere }\n',
      { Type: 'volume', Source: 'user_specified_name', Target: '/foo', VolumeOptions: { Labels: { 'com.docker.stack.namespace': 'foo' }, DriverConfig: { Name: 'vsphere' } } }],
    ['external volume', '      - outside:/foo\n', '  outside: { external: true, name: special }\n',
      { Type: 'volume', Source: 'special', Target: '/foo', VolumeOptions: {} }],
    ['external volume with nocopy', '      - outside:/foo:nocopy\n', '  outside: { external: true }\n',
      { Type: 'volume', Source: 'outside', Target: '/foo', VolumeOptions: { NoCopy: true } }],
    ['bind with propagation', '      - { type: bind, source: /baz, target: /foo, read_only: true, bind: { propagation: shared } }\n', '  {}\n',
      { Type: 'bind', Source: '/baz', Target: '/foo', ReadOnly: true, BindOptions: { Propagation: 'shared' } }],
    ['tmpfs with a size', '      - { type: tmpfs, target: /foo, tmpfs: { size: 1000 } }\n', '  {}\n',
      { Type: 'tmpfs', Target: '/foo', TmpfsOptions: { SizeBytes: 1000 } }],
    ['relative bind', '      - ./data:/data\n', '  {}\n', { Type: 'bind', Source: '/cfg/data', Target: '/data' }],
    // loader.resolveVolumePaths joins a relative source with filepath.Join, which cleans it.
    ['relative bind with a trailing slash', '      - ./prometheus/:/etc/prometheus\n', '  {}\n', { Type: 'bind', Source: '/cfg/prometheus', Target: '/etc/prometheus' }],
    ['relative bind, long syntax', '      - { type: bind, source: "./a//b/./c/", target: /c }\n', '  {}\n', { Type: 'bind', Source: '/cfg/a/b/c', Target: '/c' }],
    ['relative bind out of the directory', '      - ../shared/../data/:/data\n', '  {}\n', { Type: 'bind', Source: '/data', Target: '/data' }],
    ['relative bind of the directory itself', '      - ./:/app\n', '  {}\n', { Type: 'bind', Source: '/cfg', Target: '/app' }],
    // An absolute source (and ~, made absolute) is sent as written: the CLI cleans only what it joins.
    ['absolute bind with a trailing slash', '      - /srv/data/:/data\n', '  {}\n', { Type: 'bind', Source: '/srv/data/', Target: '/data' }],
  ])('%s', async (_name, mounts, volumes, expected) => {
    const read = await load(withVolumes(mounts, volumes), {}, 'foo');
    expect(read.problems.map(formatProblem)).toEqual([]);
    expect((read.stack!.services[0]!.spec.TaskTemplate as { ContainerSpec: { Mounts: unknown[] } }).ContainerSpec.Mounts).toEqual([expected]);
  });

  it.each([
    ['an undefined volume', '      - unknown:/foo\n', '  {}\n', '5:9: undefined volume "unknown"'],
    ['bind options on a volume', '      - { type: volume, source: v, target: /a, bind: { propagation: shared } }\n', '  v: {}\n', '5:9: bind options are incompatible with type volume'],
    ['tmpfs options on a volume', '      - { type: volume, source: v, target: /a, tmpfs: { size: 1 } }\n', '  v: {}\n', '5:9: tmpfs options are incompatible with type volume'],
    ['volume options on a bind', '      - { type: bind, source: /a, target: /a, volume: { nocopy: true } }\n', '  {}\n', '5:9: volume options are incompatible with type bind'],
    ['a source on a tmpfs', '      - { type: tmpfs, source: /a, target: /a }\n', '  {}\n', '5:9: invalid tmpfs source, source must be empty'],
    ['a bind without source', '      - { type: bind, target: /a }\n', '  {}\n', '5:9: invalid mount config for type "bind": field Source must not be empty'],
    ['an unknown type', '      - { type: nfs, source: /a, target: /a }\n', '  {}\n', '5:9: volume type must be volume, bind, tmpfs, npipe, or cluster'],
    ['an external volume with a driver', '      - v:/a\n', '  v: { external: true, driver: foobar }\n', '7:24: conflicting parameters "external" and "driver" specified for volume "v"'],
    ['a negative tmpfs size', '      - { type: tmpfs, target: /a, tmpfs: { size: -1 } }\n', '  {}\n', '5:51: services.web.volumes[0].tmpfs.size must be 0 or more'],
  ])('refuses %s', async (_name, mounts, volumes, where) => {
    expect((await problems(withVolumes(mounts, volumes))).join('\n')).toContain(`${F}:${where}`);
  });
});

describe('cleanPath (Go path.Clean, path_test.go)', () => {
  it.each([
    ['', '.'], ['abc', 'abc'], ['abc/def', 'abc/def'], ['a/b/c', 'a/b/c'], ['.', '.'], ['..', '..'], ['../..', '../..'], ['../../abc', '../../abc'],
    ['/abc', '/abc'], ['/', '/'], ['abc/', 'abc'], ['abc/def/', 'abc/def'], ['/abc/', '/abc'], ['abc//def//ghi', 'abc/def/ghi'], ['//abc', '/abc'],
    ['///abc', '/abc'], ['abc/./def', 'abc/def'], ['/./abc/def', '/abc/def'], ['abc/.', 'abc'], ['abc/def/ghi/../jkl', 'abc/def/jkl'],
    ['abc/def/../ghi/../jkl', 'abc/jkl'], ['abc/def/..', 'abc'], ['abc/def/../..', '.'], ['/abc/def/../..', '/'], ['abc/def/../../..', '..'],
    ['/abc/def/../../..', '/'], ['abc/def/../../../ghi/jkl/../../../mno', '../../mno'], ['abc/./../def', 'def'], ['abc//./../def', 'def'],
    ['abc/../../././../def', '../../def'],
  ])('%j is %j', (input, expected) => {
    expect(cleanPath(input)).toBe(expected);
  });
});

describe('convert: networks, configs and secrets (docker/cli compose_test.go)', () => {
  it('creates only the networks services use, overlay by default, with IPAM, options and labels', async () => {
    const text = `services:
  a: { image: busybox:lab, networks: [normal, outside, attachablenet, named] }
  b: { image: busybox:lab }
networks:
  normal:
    driver: overlay
    driver_opts: { opt: value }
    ipam: { driver: driver, config: [{ subnet: 10.0.0.0/24 }] }
    labels: { something: labeled }
  outside: { external: true, name: special }
  attachablenet: { driver: overlay, attachable: true }
  named: { name: othername, internal: true }
  unused: {}
`;
    const read = await load(text, {}, 'foo');
    expect(read.problems).toEqual([]);
    expect(read.stack!.networks).toEqual([
      { key: 'attachablenet', name: 'foo_attachablenet', external: false, spec: { Name: 'foo_attachablenet', Driver: 'overlay', Attachable: true, Labels: { 'com.docker.stack.namespace': 'foo' } } },
      { key: 'default', name: 'foo_default', external: false, spec: { Name: 'foo_default', Driver: 'overlay', Labels: { 'com.docker.stack.namespace': 'foo' } } },
      { key: 'named', name: 'othername', external: false, spec: { Name: 'othername', Driver: 'overlay', Internal: true, Labels: { 'com.docker.stack.namespace': 'foo' } } },
      { key: 'normal', name: 'foo_normal', external: false, spec: {
        Name: 'foo_normal', Driver: 'overlay', Options: { opt: 'value' }, IPAM: { Driver: 'driver', Config: [{ Subnet: '10.0.0.0/24' }] },
        Labels: { 'com.docker.stack.namespace': 'foo', something: 'labeled' },
      } },
      { key: 'outside', name: 'special', external: true },
    ]);
  });

  it('names configs and secrets by content hash, keeps a given name, and references them sorted with default file modes', async () => {
    const text = `version: "3.8"
services:
  web:
    image: busybox:lab
    secrets: [db_password, { source: ext, target: /run/x, uid: "103", gid: "103", mode: 0440 }]
    configs: [{ source: nginx, target: /etc/nginx.conf }, named]
secrets:
  db_password: { file: ./db_password, labels: { a: b } }
  ext: { external: true, name: my_secret }
configs:
  nginx: { file: nginx.conf, template_driver: golang }
  named: { file: nginx.conf, name: fixed_name }
`;
    const read = await load(text, {}, 'app');
    expect(read.problems).toEqual([]);
    const s = read.stack!;
    expect(s.secrets).toEqual([
      expect.objectContaining({ key: 'db_password', name: 'app_db_password_1ec1c26b', fixedName: false, external: false, data: Buffer.from('s3cret').toString('base64'),
        labels: { a: 'b', 'com.docker.stack.namespace': 'app', 'warden.content-sha256': expect.stringMatching(/^1ec1c26b/) } }),
      { kind: 'secret', key: 'ext', name: 'my_secret', fixedName: true, external: true, labels: { 'com.docker.stack.namespace': 'app' } },
    ]);
    expect(s.configs.map((c) => [c.key, c.name, c.templating])).toEqual([
      ['named', 'fixed_name', undefined],
      ['nginx', expect.stringMatching(/^app_nginx_[0-9a-f]{8}$/), { Name: 'golang' }],
    ]);
    const c = (s.services[0]!.spec.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec;
    expect(c.Secrets).toEqual([
      { File: { Name: 'db_password', UID: '0', GID: '0', Mode: 0o444 }, SecretID: '', SecretName: 'app_db_password_1ec1c26b' },
      { File: { Name: '/run/x', UID: '103', GID: '103', Mode: 0o440 }, SecretID: '', SecretName: 'my_secret' },
    ]);
    expect(c.Configs).toEqual([
      { File: { Name: '/etc/nginx.conf', UID: '0', GID: '0', Mode: 0o444 }, ConfigID: '', ConfigName: s.configs[1]!.name },
      { File: { Name: 'named', UID: '0', GID: '0', Mode: 0o444 }, ConfigID: '', ConfigName: 'fixed_name' },
    ]);
  });

  it.each([
    ['an undefined secret', 'services:\n  web: { image: busybox:lab, secrets: [nope] }\n', '2:40: undefined secret "nope"'],
    ['two secrets at one target', 'services:\n  web: { image: busybox:lab, secrets: [a, { source: b, target: a }] }\nsecrets:\n  a: { external: true }\n  b: { external: true }\n', '2:43: duplicate secret target for b not allowed'],
    ['a config file that is missing', 'services:\n  web: { image: busybox:lab }\nconfigs:\n  c: { file: ./nope }\n', '4:14: cannot read the file of config /cfg/nope: no such file'],
    ['external name and name together', 'services:\n  web: { image: busybox:lab }\nsecrets:\n  s: { external: { name: a }, name: b }\n', '4:26: secret s: secret.external.name and secret.name conflict'],
  ])('refuses %s', async (_name, text, where) => {
    expect((await problems(text)).join('\n')).toContain(`${F}:${where}`);
  });
});

describe('loading: versions, schema, interpolation (docker/cli loader_test.go, schema_test.go)', () => {
  it.each([
    ['version 2', 'version: "2"\nservices:\n  foo: { image: busybox }\n', '1:10: unsupported Compose file version: 2'],
    ['version 1.0', 'version: "1.0"\nfoo:\n  image: busybox\n', '1:10: unsupported Compose file version: 1.0'],
    ['a numeric version', 'version: 3\nservices:\n  foo: { image: busybox }\n', '1:10: version must be a string'],
    ['a v1 file', 'foo:\n  image: busybox\n', '1:1: unknown key "foo" in the file: stack deploy refuses it'],
    ['services as a list', 'version: "3"\nservices:\n  - foo: { image: busybox }\n', '3:3: services must be a mapping'],
    ['a service as a string', 'version: "3"\nservices:\n  foo: busybox\n', '3:8: services.foo must be a mapping'],
    ['networks as a list', 'version: "3"\nservices: {}\nnetworks:\n  - default: { driver: bridge }\n', '4:3: networks must be a mapping'],
    ['a volume as a string', 'version: "3"\nservices: {}\nvolumes:\n  data: local\n', '4:9: volumes.data must be a mapping or empty'],
    ['an image as a list', 'version: "3"\nservices:\n  foo: { image: [busybox, latest] }\n', '3:17: services.foo.image must be a string'],
    ['an env value as a list', 'version: "3"\nservices:\n  e:\n    image: busybox\n    environment:\n      FOO: ["1"]\n', '6:12: services.e.environment.FOO must be a string, a number or empty'],
    ['an environment string', 'version: "3"\nservices:\n  e:\n    image: busybox\n    environment: "FOO=1"\n', '5:18: services.e.environment must be a mapping or a list'],
    ['an unknown resource', 'version: "3"\nservices:\n  foo:\n    image: busybox\n    deploy:\n      resources:\n        impossible: { x: 1 }\n', '7:9: unknown key "impossible" in services.foo.deploy.resources'],
    ['a typo with a hint', 'services:\n  foo:\n    image: busybox\n    enviroment: [A=1]\n', '4:5: unknown key "enviroment" in services.foo: stack deploy refuses it (did you mean environment?)'],
    ['a forbidden key', 'services:\n  foo:\n    image: busybox\n    mem_limit: 1g\n', '4:5: mem_limit is not supported by stack deploy: Set resource limits using deploy.resources'],
    ['extends', 'services:\n  foo:\n    image: busybox\n    extends: { service: bar }\n', '4:5: extends is not supported by stack deploy'],
    ['a key newer than the version', 'version: "3.6"\nservices:\n  foo:\n    image: busybox\n    init: true\n', '5:5: services.foo.init needs compose version 3.7 or later (this file is 3.6)'],
    ['an extension in an old file', 'version: "3.3"\nx-common: {}\nservices: {}\n', '2:1: x-common: extension fields need compose version 3.4 or later'],
    ['a bad duration', 'services:\n  foo:\n    image: busybox\n    stop_grace_period: 10\n', '4:24: services.foo.stop_grace_period must be a string'],
    ['a duration without unit', 'services:\n  foo:\n    image: busybox\n    stop_grace_period: "10"\n', '4:24: services.foo.stop_grace_period: "10" has no unit'],
    ['a bad port', 'services:\n  foo:\n    image: busybox\n    ports: ["80/xyz"]\n', '4:13: services.foo.ports[0]: "80/xyz" is not a port: invalid proto: xyz'],
    ['a bad update order', 'services:\n  foo:\n    image: busybox\n    deploy: { update_config: { order: first } }\n', '4:39: services.foo.deploy.update_config.order must be one of start-first, stop-first, not "first"'],
    ['no image', 'services:\n  foo:\n    command: ["true"]\n', '2:3: invalid image reference for service foo: no image specified'],
    ['an upper-case image', 'services:\n  foo:\n    image: Busybox\n', '3:12: invalid image reference for service foo: "Busybox": repository name must be lowercase'],
    ['replicas on a global service', 'services:\n  foo:\n    image: busybox\n    deploy: { mode: global, replicas: 2 }\n', '4:39: replicas can only be used with replicated or replicated-job mode'],
    ['a required variable', 'services:\n  foo:\n    image: "busybox:${TAG:?set TAG}"\n', '3:12: required variable TAG is missing a value: set TAG'],
    ['a variable without value', 'services:\n  foo:\n    image: "busybox:${TAG}"\n', '3:12: ${TAG} has no value and no default'],
    ['a cast that fails', 'services:\n  foo:\n    image: busybox\n    deploy: { replicas: "${N}" }\n', '4:25: "two" is not a whole number'],
  ])('refuses %s at its place', async (_name, text, where) => {
    const found = await problems(text, { N: 'two' });
    expect(found.join('\n')).toContain(`${F}:${where}`);
  });

  it('interpolates from the stack env only, and casts what the schema types (docker/cli TestLoadWithInterpolationCastFull)', async () => {
    const s = await spec(`services:
  web:
    image: "busybox:\${TAG}"
    ports: [{ target: "\${PORT}", published: "\${PORT}" }]
    read_only: "\${RO}"
    environment: { COST: "$$5", HOME_DIR: "\${HOME:-/home/none}" }
    deploy:
      replicas: "\${REPLICAS}"
      update_config: { parallelism: "\${N}", max_failure_ratio: "\${RATIO}" }
      restart_policy: { max_attempts: "\${N}" }
      placement: { max_replicas_per_node: "\${N}" }
    ulimits: { nproc: "\${N}", nofile: { soft: "\${N}", hard: "\${N}" } }
`, { TAG: 'lab', PORT: '8080', RO: 'yes', REPLICAS: '3', N: '2', RATIO: '0.5' });
    expect(s.Mode).toEqual({ Replicated: { Replicas: 3 } });
    const c = (s.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec;
    expect(c.Image).toBe('busybox:lab');
    expect(c.ReadOnly).toBe(true);
    expect(c.Env).toEqual(['COST=$5', 'HOME_DIR=/home/none']);
    expect(c.Ulimits).toEqual([{ Name: 'nofile', Soft: 2, Hard: 2 }, { Name: 'nproc', Soft: 2, Hard: 2 }]);
    expect(s.EndpointSpec).toEqual({ Ports: [{ Protocol: '', TargetPort: 8080, PublishedPort: 8080, PublishMode: '' }] });
    expect(s.UpdateConfig).toEqual({ Parallelism: 2, MaxFailureRatio: 0.5 });
  });

  it('follows YAML anchors and merge keys, and ignores x- fields', async () => {
    const read = await load(`version: "3.8"
x-defaults: &defaults
  image: busybox:lab
  environment: { A: "1" }
  deploy: { replicas: 2 }
services:
  a:
    <<: *defaults
    x-note: hello
  b:
    <<: *defaults
    environment: { B: "2" }
`);
    expect(read.problems).toEqual([]);
    const env = (k: number): unknown => (read.stack!.services[k]!.spec.TaskTemplate as { ContainerSpec: { Env: string[] } }).ContainerSpec.Env;
    expect(read.stack!.services.map((s) => [s.key, s.spec.Mode])).toEqual([['a', { Replicated: { Replicas: 2 } }], ['b', { Replicated: { Replicas: 2 } }]]);
    expect([env(0), env(1)]).toEqual([['A=1'], ['B=2']]);
  });

  it('warns, at the key, about what stack deploy ignores, and says that the legacy restart key is mapped', async () => {
    const read = await load('services:\n  web:\n    image: busybox\n    privileged: true\n    container_name: x\n    restart: always\n    tmpfs: /run\n');
    expect(read.problems).toEqual([]);
    expect(read.warnings.map(formatProblem)).toEqual([
      `${F}:4:5: privileged is ignored by stack deploy (it applies to docker compose, not to swarm services)`,
      expect.stringMatching(new RegExp(`^${F}:6:5: restart: stack deploy says it ignores it, but maps it`)),
      `${F}:5:5: container_name is ignored by stack deploy: Setting the container name is not supported.`,
      `${F}:7:5: tmpfs is ignored by stack deploy (its conversion drops it); use a volumes entry with type: tmpfs`,
    ]);
  });
});

describe('engine fields: what an Engine API version cannot store (moby adjustForAPIVersion)', () => {
  const text = `version: "3.13"
services:
  web:
    image: busybox:lab
    healthcheck: { test: [CMD, "true"], interval: 5s, start_period: 10s, start_interval: 2s }
    oom_score_adj: 100
    ulimits: { nofile: 1024 }
    cap_add: [NET_ADMIN]
    sysctls: { net.core.somaxconn: 1024 }
    deploy: { resources: { limits: { pids: 50 } }, placement: { max_replicas_per_node: 2 } }
  plain:
    image: busybox:lab
`;
  async function desired(): Promise<DesiredState> {
    const read = await load(text);
    expect(read.problems.map(formatProblem)).toEqual([]);
    return { cluster: 'c', stacks: [read.stack!], policy: {} as DesiredState['policy'] };
  }
  const container = (s: DesiredState, i = 1): Record<string, unknown> =>
    (s.stacks![0]!.services[i]!.spec.TaskTemplate as { ContainerSpec: Record<string, unknown> }).ContainerSpec;

  it.each([
    ['1.41', ['healthcheck.start_interval', 'oom_score_adj']],
    ['1.43', ['healthcheck.start_interval', 'oom_score_adj']],
    ['1.44', ['oom_score_adj']],
    ['1.45', ['oom_score_adj']],
    ['1.46', []],
    ['1.51', []],
  ])('API %s drops %j', async (version, fields) => {
    const state = await desired();
    const before = structuredClone(state);
    const made = desiredForEngine(state, version);
    expect(made.dropped).toEqual(fields.map((field) => ({ field, minApiVersion: ENGINE_FIELDS.find((f) => f.field === field)!.minApiVersion, apiVersion: version, services: ['s_web'] })));
    // The loaded state is never changed: a later engine of another version gets the whole spec.
    expect(state).toEqual(before);
    if (fields.length === 0) expect(made.state).toBe(state);
    const c = container(made.state);
    expect('OomScoreAdj' in c).toBe(!fields.includes('oom_score_adj'));
    expect((c.Healthcheck as Record<string, unknown>).StartInterval === undefined).toBe(fields.includes('healthcheck.start_interval'));
    // What 1.41 stores stays: the healthcheck's other fields, ulimits, capabilities, sysctls, pids, max replicas.
    expect(c.Healthcheck).toMatchObject({ Test: ['CMD', 'true'], Interval: 5e9, StartPeriod: 10e9 });
    expect(c).toMatchObject({ Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 1024 }], CapabilityAdd: ['CAP_NET_ADMIN'], Sysctls: { 'net.core.somaxconn': '1024' } });
    const task = made.state.stacks![0]!.services[1]!.spec.TaskTemplate!;
    expect(task).toMatchObject({ Resources: { Limits: { Pids: 50 } }, Placement: { MaxReplicas: 2 } });
    // A service without those fields is the same object.
    expect(made.state.stacks![0]!.services[0]).toBe(state.stacks![0]!.services[0]);
  });

  it('leaves the state alone without a version (a port that does not say) or without stacks', async () => {
    const state = await desired();
    expect(desiredForEngine(state, undefined)).toEqual({ state, dropped: [] });
    const none: DesiredState = { cluster: 'c', policy: {} as DesiredState['policy'] };
    expect(desiredForEngine(none, '1.41').state).toBe(none);
  });

  it('strips each field of the table below its version, and only that field', () => {
    const spec = (): ServiceSpec => ({
      Name: 'x',
      TaskTemplate: {
        ContainerSpec: {
          Image: 'busybox:lab', Sysctls: { a: '1' }, CapabilityAdd: ['CAP_A'], CapabilityDrop: ['CAP_B'], Ulimits: [{ Name: 'n', Soft: 1, Hard: 1 }],
          Healthcheck: { Test: ['NONE'], StartInterval: 1e9 }, OomScoreAdj: 5,
          Mounts: [{ Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { Subpath: 'sub', NoCopy: true } }],
        },
        Resources: { Limits: { Pids: 3, MemoryBytes: 1 } },
        Placement: { MaxReplicas: 2 },
      },
    });
    for (const f of ENGINE_FIELDS) {
      const below = `1.${Number(f.minApiVersion.split('.')[1]) - 1}`;
      const { spec: stripped, dropped } = stripForApiVersion(spec(), below, [f]);
      expect(dropped, f.field).toEqual([f]);
      expect(stripped, f.field).not.toEqual(spec());
      // Stripping again finds nothing: the field is gone.
      expect(stripForApiVersion(stripped, below, [f]).dropped, f.field).toEqual([]);
      expect(stripForApiVersion(spec(), f.minApiVersion, [f]).dropped, f.field).toEqual([]);
    }
    const all = stripForApiVersion(spec(), '1.39').spec;
    expect(all).toEqual({
      Name: 'x',
      TaskTemplate: {
        ContainerSpec: { Image: 'busybox:lab', Healthcheck: { Test: ['NONE'] }, Mounts: [{ Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { NoCopy: true } }] },
        Resources: { Limits: { MemoryBytes: 1 } },
        Placement: {},
      },
    });
  });
});
