// The pure parts of the dockerode port: finding the engine, classifying errors, splitting the events body.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createDockerPort, dockerConnection, parseEventLines, toEngineError, toNode } from '../../../src/docker/engine.js';
import { EngineError, classifyEngineError } from '../../../src/docker/errors.js';

describe('dockerConnection finds the engine as the docker CLI does', () => {
  it.each([
    ['--host wins over DOCKER_HOST', { host: 'unix:///run/a.sock', env: { DOCKER_HOST: 'unix:///run/b.sock' } }, { socketPath: '/run/a.sock' }],
    ['DOCKER_HOST unix://', { env: { DOCKER_HOST: 'unix:///run/b.sock' } }, { socketPath: '/run/b.sock' }],
    ['the default socket', { env: { DOCKER_CONFIG: '/nonexistent' } }, { socketPath: '/var/run/docker.sock' }],
    ['tcp:// without TLS on 2375', { env: { DOCKER_HOST: 'tcp://10.0.0.5' } }, { host: '10.0.0.5', port: 2375, protocol: 'http' }],
    ['tcp:// with a port', { env: { DOCKER_HOST: 'tcp://10.0.0.5:2380' } }, { host: '10.0.0.5', port: 2380, protocol: 'http' }],
    ['an IPv6 address', { host: 'tcp://[::1]:2375', env: {} }, { host: '::1', port: 2375 }],
    ['DOCKER_TLS_VERIFY empty is off', { env: { DOCKER_HOST: 'tcp://h:2375', DOCKER_TLS_VERIFY: '' } }, { protocol: 'http' }],
  ])('%s', (_name, opts, expected) => {
    expect(dockerConnection(opts)).toMatchObject(expected);
  });

  it('reads TLS material from DOCKER_CERT_PATH; without a port, 2375 with TLS too, as the CLI', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-tls-'));
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), f);
    const conn = dockerConnection({ env: { DOCKER_HOST: 'tcp://manager:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir } });
    expect(conn).toMatchObject({ host: 'manager', port: 2376, protocol: 'https' });
    expect(String(conn.ca)).toBe('ca.pem');
    expect(String(conn.key)).toBe('key.pem');
    expect(dockerConnection({ env: { DOCKER_HOST: 'tcp://manager', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir } })).toMatchObject({ port: 2375, protocol: 'https' });
  });

  it('checks the server with ca.pem alone (no client certificate), and DOCKER_TLS turns TLS on without verification, as the CLI', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-tls-'));
    writeFileSync(join(dir, 'ca.pem'), 'ca.pem');
    const verified = dockerConnection({ env: { DOCKER_HOST: 'tcp://manager:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir } });
    expect(verified).toMatchObject({ protocol: 'https', port: 2376 });
    expect(String(verified.ca)).toBe('ca.pem');
    expect(verified.cert).toBeUndefined();
    expect(verified.agent).toBeUndefined();
    const unverified = dockerConnection({ env: { DOCKER_HOST: 'tcp://manager:2376', DOCKER_TLS: '1', DOCKER_CERT_PATH: dir } });
    expect(unverified).toMatchObject({ protocol: 'https' });
    expect((unverified.agent as unknown as { options: { rejectUnauthorized?: boolean } }).options.rejectUnauthorized).toBe(false);
  });

  it('DOCKER_TLS without verification needs no ca.pem (a client certificate alone is still sent); DOCKER_TLS_VERIFY does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-tls-noca-'));
    writeFileSync(join(dir, 'cert.pem'), 'cert.pem');
    writeFileSync(join(dir, 'key.pem'), 'key.pem');
    const unverified = dockerConnection({ env: { DOCKER_HOST: 'tcp://manager:2376', DOCKER_TLS: '1', DOCKER_CERT_PATH: dir } });
    expect(unverified).toMatchObject({ protocol: 'https', port: 2376 });
    expect(unverified.ca).toBeUndefined();
    expect(String(unverified.cert)).toBe('cert.pem');
    const none = dockerConnection({ env: { DOCKER_HOST: 'tcp://manager:2376', DOCKER_TLS: '1', DOCKER_CERT_PATH: join(dir, 'absent') } });
    expect(none).toMatchObject({ protocol: 'https' });
    expect(() => dockerConnection({ env: { DOCKER_HOST: 'tcp://manager:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir } }))
      .toThrow(/DOCKER_TLS_VERIFY is set but the certificates in .* cannot be read: ENOENT/);
  });

  it('the engine it resolved is the one it calls: the modem does not read DOCKER_HOST on its own', async () => {
    // docker-modem merges DOCKER_HOST (and its TLS variables) under the options it is given: a unix
    // socket named by --host would lose to a tcp:// or ssh:// DOCKER_HOST of the process's environment.
    const dir = mkdtempSync(join(tmpdir(), 'warden-modem-'));
    const saved = { ...process.env };
    Object.assign(process.env, { DOCKER_HOST: 'tcp://127.0.0.1:9', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(dir, 'none') });
    try {
      const port = createDockerPort({ host: `unix://${join(dir, 'docker.sock')}` });
      await expect(port.info()).rejects.toThrow(/docker\.sock/);
      expect(process.env.DOCKER_HOST).toBe('tcp://127.0.0.1:9');
    } finally {
      for (const k of ['DOCKER_HOST', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it.each(['0', 'false', '1'])('DOCKER_TLS_VERIFY=%s turns TLS on, as the docker CLI reads it', (value) => {
    expect(() => dockerConnection({ env: { DOCKER_HOST: 'tcp://m:2376', DOCKER_TLS_VERIFY: value, DOCKER_CERT_PATH: '/nonexistent' } }))
      .toThrow(/DOCKER_TLS_VERIFY is set/);
  });

  it('says which certificates are missing', () => {
    expect(() => dockerConnection({ env: { DOCKER_HOST: 'tcp://m:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/nonexistent' } }))
      .toThrow(/DOCKER_TLS_VERIFY is set but the certificates in \/nonexistent cannot be read/);
  });

  it('refuses an address it cannot use', () => {
    expect(() => dockerConnection({ host: 'fd://3', env: {} })).toThrow(/expected unix:\/\/\/path, tcp:\/\/host:port or ssh:\/\//);
  });
});

describe('engine errors get a stable code', () => {
  it.each([
    [500, 'rpc error: code = Unknown desc = update out of sequence', 'version-conflict'],
    [503, 'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.', 'not-manager'],
    [503, 'The swarm does not have a leader. It\'s possible that too few managers are online.', 'no-quorum'],
    [500, 'rpc error: code = Unknown desc = The swarm does not have a leader', 'no-quorum'],
    [500, 'rpc error: code = DeadlineExceeded desc = context deadline exceeded', 'no-quorum'],
    [404, 'service nope not found', 'not-found'],
    [400, 'rpc error: code = FailedPrecondition desc = can\'t remove member from the raft: this would result in a loss of quorum', 'refused'],
    [400, 'attempting to demote the last manager of the swarm', 'refused'],
    [501, 'service mode change is not allowed', 'refused'],
    [409, 'name conflicts with an existing object', 'refused'],
    [500, 'something else broke', 'unknown'],
    [undefined, 'connect ENOENT /var/run/docker.sock', 'unreachable'],
  ] as const)('%s %s -> %s', (status, message, code) => {
    expect(classifyEngineError(status, message)).toBe(code);
  });

  it('wraps a dockerode error with its status, the engine message and the cause', () => {
    const raw = Object.assign(new Error('(HTTP code 500) server error - update out of sequence'), {
      statusCode: 500, reason: 'server error', json: { message: 'rpc error: code = Unknown desc = update out of sequence' },
    });
    const err = toEngineError('update service x', raw);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: 'version-conflict', status: 500, cause: raw });
    expect(err.message).toBe('update service x: rpc error: code = Unknown desc = update out of sequence');
  });

  it('names the socket error of an engine that is not there', () => {
    const raw = Object.assign(new Error('connect ENOENT /run/x.sock'), { code: 'ENOENT' });
    expect(toEngineError('info', raw)).toMatchObject({ code: 'unreachable', status: undefined, message: 'info: ENOENT: connect ENOENT /run/x.sock' });
  });
});

describe('parseEventLines', () => {
  const line = (id: string, action = 'update'): string =>
    JSON.stringify({ Type: 'service', Action: action, Actor: { ID: id, Attributes: { name: id } }, timeNano: 1763719200123456789 });

  it('splits chunks holding several events or half of one, and skips what it cannot read', async () => {
    const all = `${line('a')}\n${line('b', 'create')}\n{"Type":"container","Action":"start"}\nnot json\n${line('c')}\n`;
    const chunks = [all.slice(0, 10), all.slice(10, 150), all.slice(150)];
    const events = [];
    for await (const e of parseEventLines(Readable.from(chunks.map((c) => Buffer.from(c))))) events.push(e);
    expect(events.map((e) => `${e.action} ${e.id}`)).toEqual(['update a', 'create b', 'update c']);
    expect(events[0]).toMatchObject({ type: 'service', attributes: { name: 'a' } });
    expect(events[0]!.timeMs).toBeGreaterThan(1763719200000);
    expect(events[0]!.timeMs).toBeLessThan(1763719201000);
  });
});

describe('toNode reads a node of GET /nodes', () => {
  const raw = {
    ID: 'n1', Version: { Index: 42 }, UpdatedAt: '2026-12-01T01:15:20.2633046Z',
    Spec: { Role: 'manager' as const, Availability: 'active' as const, Labels: { zone: 'a' } },
    Description: { Hostname: 'manager-1', Platform: { OS: 'linux', Architecture: 'x86_64' }, Engine: { EngineVersion: '20.10.24+dfsg1', Labels: { disk: 'ssd' } } },
    Status: { State: 'ready', Addr: '10.77.6.11' },
    ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '10.77.6.11:2377' },
  };

  it('with its engine version and when the engine last changed it', () => {
    expect(toNode(raw)).toMatchObject({
      id: 'n1', version: 42, hostname: 'manager-1', role: 'manager', state: 'ready', labels: { zone: 'a' }, engineLabels: { disk: 'ssd' },
      platform: { os: 'linux', arch: 'x86_64' }, engineVersion: '20.10.24+dfsg1', updatedAt: '2026-12-01T01:15:20.2633046Z',
      manager: { leader: true, reachability: 'reachable' },
    });
  });

  it('leaves them out when the engine does not report them', () => {
    const node = toNode({ ID: 'n2' });
    expect(node).toMatchObject({ id: 'n2', role: 'worker', availability: 'active', state: 'unknown' });
    expect('engineVersion' in node || 'updatedAt' in node).toBe(false);
  });
});
