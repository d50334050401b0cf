// ssh:// as OpenSSH and the docker CLI take it: the URL, the remote command, known_hosts (files written by
// ssh-keygen), the credentials offered; and the transport against an in-process SSH server whose
// "dial-stdio" is a pipe to a local HTTP server: one connection, reused channels, reconnection, and
// refusals that say what to do. The real sshd and engine are in test/integration/remote.test.ts.
import { request as httpRequest, createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  checkHostKey, hostKeyAlgorithms, hostMatches, keyBlobType, keyFingerprint, knownHostName, parseKnownHosts, parseSshUrl,
  remoteCommand, sshCredentials, SshEngineAgent,
} from '../../../src/docker/ssh.js';

const { Server, utils } = ssh2;
const FIXTURES = join(import.meta.dirname, 'fixtures', 'ssh');
const blob = (pub: string): Buffer => Buffer.from(readFileSync(join(FIXTURES, pub), 'utf8').split(' ')[1]!, 'base64');
const [A, B, C] = [blob('a.pub'), blob('b.pub'), blob('c.pub')];
const temps: string[] = [];

afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-ssh-'));
  temps.push(dir);
  return dir;
}

describe('parseSshUrl takes an address as the docker CLI does', () => {
  it.each([
    ['ssh://root@10.77.3.11', { user: 'root', host: '10.77.3.11', port: 22, socketPath: undefined }],
    ['ssh://ops@manager-1.example:2222', { user: 'ops', host: 'manager-1.example', port: 2222, socketPath: undefined }],
    ['ssh://manager-1', { user: 'me', host: 'manager-1', port: 22, socketPath: undefined }],
    ['ssh://root@[fd00::11]:2200', { user: 'root', host: 'fd00::11', port: 2200, socketPath: undefined }],
    ['ssh://root@h/run/docker.sock', { user: 'root', host: 'h', port: 22, socketPath: '/run/docker.sock' }],
    ['ssh://root@h/', { user: 'root', host: 'h', port: 22, socketPath: undefined }],
  ])('%s', (url, want) => {
    expect(parseSshUrl(url, 'me')).toEqual(want);
  });

  it.each([
    ['ssh://root:hunter2@h', 'invalid SSH URL ssh://root:***@h: plain-text password is not supported'],
    ['ssh://root@h?x=1', 'query parameters are not allowed: "x=1"'],
    ['ssh://root@h#frag', 'fragments are not allowed: "frag"'],
    ['ssh://', 'invalid SSH URL'],
  ])('refuses %s', (url, message) => {
    expect(() => parseSshUrl(url, 'me')).toThrow(message);
  });

  it('asks for a user in the URL when this process has no user name (a uid without a passwd entry), as OpenSSH', () => {
    expect(() => parseSshUrl('ssh://h', null)).toThrow('invalid SSH URL ssh://h: no user in the URL');
    expect(parseSshUrl('ssh://ops@h', null).user).toBe('ops');
  });

  it('runs dial-stdio remotely, told the socket when the URL has a path', () => {
    expect(remoteCommand(parseSshUrl('ssh://h', 'me'))).toBe('docker system dial-stdio');
    expect(remoteCommand(parseSshUrl('ssh://h/run/my docker.sock', 'me'))).toBe(`docker '--host=unix:///run/my docker.sock' system dial-stdio`);
  });
});

describe('known_hosts, as ssh and ssh-keygen write it', () => {
  const plain = parseKnownHosts(readFileSync(join(FIXTURES, 'known_hosts'), 'utf8'), 'known_hosts');
  const hashed = parseKnownHosts(readFileSync(join(FIXTURES, 'known_hosts.hashed'), 'utf8'), 'known_hosts.hashed');

  it.each([
    ['a plain entry', plain, 'manager-1.example', 22, A, { kind: 'known', where: 'known_hosts:2' }],
    ['names compare without case', plain, 'Manager-1.EXAMPLE', 22, A, { kind: 'known' }],
    ['[host]:port for another port', plain, 'manager-1.example', 2222, B, { kind: 'known', where: 'known_hosts:3' }],
    ['the port-22 entry does not cover another port', plain, 'manager-1.example', 2200, A, { kind: 'unknown' }],
    ['another key for a known host', plain, 'manager-1.example', 2222, A, { kind: 'changed', where: 'known_hosts:3', knownTypes: ['ecdsa-sha2-nistp256'] }],
    ['a wildcard', plain, 'web-1.prod.example', 22, B, { kind: 'known', where: 'known_hosts:4' }],
    ['a negated pattern', plain, 'bastion.prod.example', 22, B, { kind: 'unknown' }],
    ['a revoked key, whatever the host', plain, '10.0.0.9', 22, C, { kind: 'revoked', where: 'known_hosts:6' }],
    ['an unknown host', plain, '10.0.0.10', 22, A, { kind: 'unknown' }],
    ['a hashed entry', hashed, 'hashed-1.example', 22, A, { kind: 'known', where: 'known_hosts.hashed:1' }],
    ['a hashed [host]:port', hashed, 'hashed-2.example', 2200, B, { kind: 'known', where: 'known_hosts.hashed:2' }],
    ['a hashed [host]:port is not the host on 22', hashed, 'hashed-2.example', 22, B, { kind: 'unknown' }],
    ['a hashed entry with another key', hashed, 'hashed-1.example', 22, B, { kind: 'changed', where: 'known_hosts.hashed:1' }],
    ['a host known only through @cert-authority', parseKnownHosts(`@cert-authority *.ca.example ssh-ed25519 ${A.toString('base64')}\n`, 'ca'), 'h.ca.example', 22, B, { kind: 'cert-authority', where: 'ca:1' }],
    ['@cert-authority for other hosts', parseKnownHosts(`@cert-authority *.ca.example ssh-ed25519 ${A.toString('base64')}\n`, 'ca'), 'h.example', 22, B, { kind: 'unknown' }],
  ])('%s', (_name, lines, host, port, key, verdict) => {
    expect(checkHostKey(lines, host, port, key)).toMatchObject(verdict);
  });

  it('skips comments, markers it does not know and broken lines', () => {
    const lines = parseKnownHosts('# c\n\n@unknown h ssh-ed25519 AAAA\nh ssh-ed25519\nh ssh-ed25519 not*base64\n', 'f');
    expect(lines).toEqual([]);
  });

  it('matches patterns as OpenSSH does', () => {
    expect(hostMatches('a,b?.x,!bx.x', 'by.x')).toBe(true);
    expect(hostMatches('a,b?.x,!bx.x', 'bx.x')).toBe(false);
    expect(hostMatches('[h]:2222', knownHostName('H', 2222))).toBe(true);
    expect(hostMatches('h', knownHostName('h', 2222))).toBe(false);
  });

  it('prints fingerprints as ssh-keygen -l does', () => {
    // ssh-keygen -lf a.pub: 256 SHA256:ejSguvbQUTvVHXvF81ypOcIfObnevQL+NWnbxzZvM1Q host-a (ED25519)
    expect(keyFingerprint(A)).toBe('SHA256:ejSguvbQUTvVHXvF81ypOcIfObnevQL+NWnbxzZvM1Q');
    expect(keyBlobType(A)).toBe('ssh-ed25519');
    expect(keyBlobType(B)).toBe('ecdsa-sha2-nistp256');
  });

  it('offers the host key algorithms of the known keys first', () => {
    expect(hostKeyAlgorithms(plain, 'manager-1.example', 2222)[0]).toBe('ecdsa-sha2-nistp256');
    expect(hostKeyAlgorithms(plain, 'manager-1.example', 22)[0]).toBe('ssh-ed25519');
    const rsa = parseKnownHosts('h ssh-rsa AAAA\n', 'f');
    expect(hostKeyAlgorithms(rsa, 'h', 22).slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    expect(hostKeyAlgorithms([], 'h', 22)).toHaveLength(7);
  });
});

describe('sshCredentials offers what OpenSSH would', () => {
  it('the agent first, then the default identity files that can be used; encrypted ones are named', () => {
    const home = tempDir();
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh', 'id_ed25519'), utils.generateKeyPairSync('ed25519').private);
    writeFileSync(join(home, '.ssh', 'id_ecdsa'), utils.generateKeyPairSync('ecdsa', { bits: 256, passphrase: 'pw', cipher: 'aes256-ctr' }).private);
    const creds = sshCredentials('root', { SSH_AUTH_SOCK: '/run/agent.sock' }, home);
    expect(creds.methods.map((m) => m.type)).toEqual(['agent', 'publickey']);
    expect(creds.tried).toEqual(['the agent at /run/agent.sock', join(home, '.ssh', 'id_ed25519')]);
    expect(creds.skipped).toEqual([`${join(home, '.ssh', 'id_ecdsa')}: it is encrypted: add it to ssh-agent (ssh-add)`]);
    expect(sshCredentials('root', {}, tempDir()).methods).toEqual([]);
  });
});

// An SSH server in this process: publickey auth for one key, and an exec that pipes the channel to a
// local HTTP server, as `docker system dial-stdio` pipes it to the engine.
interface FakeSshd {
  port: number;
  connections: number;
  authentications: number;
  commands: string[];
  /** exec overrides what an exec does (default: pipe to the HTTP server). */
  exec?: (channel: ssh2.ServerChannel) => void;
  dropAll(): void;
  close(): Promise<void>;
}

async function startSshd(hostKey: string, userKey: ssh2.ParsedKey, httpPort: number): Promise<FakeSshd> {
  const clients = new Set<ssh2.Connection>();
  const sshd: FakeSshd = {
    port: 0,
    connections: 0,
    authentications: 0,
    commands: [],
    dropAll: () => {
      for (const c of clients) c.end();
    },
    close: () => new Promise((resolve) => {
      sshd.dropAll();
      server.close(() => resolve());
    }),
  };
  const server = new Server({ hostKeys: [hostKey] }, (client) => {
    sshd.connections += 1;
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => undefined);
    client.on('authentication', (ctx) => {
      sshd.authentications += 1;
      if (ctx.method !== 'publickey' || !ctx.key.data.equals(userKey.getPublicSSH()) || (ctx.signature && userKey.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true)) {
        ctx.reject(['publickey']);
        return;
      }
      ctx.accept();
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        acceptSession().on('exec', (accept, _reject, info) => {
          sshd.commands.push(info.command);
          const channel = accept();
          if (sshd.exec) return sshd.exec(channel);
          const engine = connect(httpPort, '127.0.0.1');
          channel.pipe(engine).pipe(channel);
          engine.on('close', () => {
            channel.exit(0);
            channel.end();
          });
          channel.on('close', () => engine.destroy());
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  sshd.port = (server.address() as AddressInfo).port;
  return sshd;
}

function get(agent: SshEngineAgent, path: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ agent, host: 'docker', path, timeout: timeoutMs }, (res: IncomingMessage) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('SshEngineAgent against an SSH server', () => {
  const hostKey = utils.generateKeyPairSync('ed25519');
  const otherHostKey = utils.generateKeyPairSync('ed25519');
  const userKey = utils.generateKeyPairSync('ed25519');
  let http: HttpServer;
  let sshd: FakeSshd;
  let home: string;
  const agents: SshEngineAgent[] = [];

  beforeAll(async () => {
    // The "engine": answers each request with its path; keeps connections alive as dockerd does.
    http = createHttpServer((req, res) => {
      if (req.url === '/hang') return;
      res.end(req.url);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()));
    sshd = await startSshd(hostKey.private, utils.parseKey(userKey.private) as ssh2.ParsedKey, (http.address() as AddressInfo).port);
    home = tempDir();
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh', 'id_ed25519'), userKey.private);
  });

  afterEach(() => {
    for (const a of agents.splice(0)) a.destroy();
    sshd.exec = undefined;
  });

  afterAll(async () => {
    await sshd.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  function knownHosts(line: string): string {
    const file = join(tempDir(), 'known_hosts');
    writeFileSync(file, `${line}\n`);
    return file;
  }

  function agent(opts: { user?: string; key?: string; knownHostsLine?: string; path?: string } = {}): SshEngineAgent {
    const target = parseSshUrl(`ssh://${opts.user ?? 'root'}@127.0.0.1:${sshd.port}${opts.path ?? ''}`);
    const line = opts.knownHostsLine ?? `[127.0.0.1]:${sshd.port} ${(opts.key ?? hostKey.public).split(' ').slice(0, 2).join(' ')}`;
    const a = new SshEngineAgent(target, { env: { HOME: home }, knownHosts: [knownHosts(line)] });
    agents.push(a);
    return a;
  }

  it('serves many requests over one SSH connection, reusing its channels', async () => {
    const before = { connections: sshd.connections, commands: sshd.commands.length };
    const a = agent();
    for (let i = 0; i < 5; i++) expect(await get(a, `/one/${i}`)).toBe(`/one/${i}`);
    const parallel = await Promise.all([1, 2, 3, 4].map((i) => get(a, `/many/${i}`)));
    expect(parallel).toEqual(['/many/1', '/many/2', '/many/3', '/many/4']);
    expect(sshd.connections - before.connections).toBe(1);
    // One channel for the five in a row, at most four for the four at once.
    expect(sshd.commands.length - before.commands).toBeLessThanOrEqual(4);
    expect(sshd.commands.at(-1)).toBe('docker system dial-stdio');
  });

  it('connects again after the connection drops', async () => {
    const a = agent();
    expect(await get(a, '/before')).toBe('/before');
    const connections = sshd.connections;
    sshd.dropAll();
    // Once the client has seen the connection go (its idle channels closed with it), the next request
    // makes a new one by itself.
    await vi.waitFor(() => expect(Object.values(a.freeSockets).flat()).toHaveLength(0));
    expect(await get(a, '/after')).toBe('/after');
    expect(sshd.connections).toBe(connections + 1);
  });

  it('tells the remote docker where the socket is when the URL has a path', async () => {
    expect(await get(agent({ path: '/run/wlab/3/n1/docker.sock' }), '/x')).toBe('/x');
    expect(sshd.commands.at(-1)).toBe('docker --host=unix:///run/wlab/3/n1/docker.sock system dial-stdio');
  });

  it('refuses an unknown host key before it authenticates, saying what to do', async () => {
    const authentications = sshd.authentications;
    const err = await get(agent({ knownHostsLine: '# nothing yet' }), '/x').catch((e: Error) => e);
    expect(String(err)).toContain(`ssh root@127.0.0.1:${sshd.port}: the host key of [127.0.0.1]:${sshd.port} (ssh-ed25519 ${keyFingerprint((utils.parseKey(hostKey.public) as ssh2.ParsedKey).getPublicSSH())}`);
    expect(String(err)).toContain('is not known, refused');
    expect(String(err)).toContain(`ssh-keyscan -p ${sshd.port} -t ed25519 127.0.0.1`);
    expect(sshd.authentications).toBe(authentications);
  });

  it('refuses a changed host key', async () => {
    const err = await get(agent({ key: otherHostKey.public }), '/x').catch((e: Error) => e);
    expect(String(err)).toMatch(/the host key of \[127\.0\.0\.1\]:\d+ has CHANGED, refused: .*known_hosts:1 knows/);
    expect(String(err)).toContain(`ssh-keygen -R '[127.0.0.1]:${sshd.port}'`);
  });

  it('says which keys the server did not accept', async () => {
    const other = tempDir();
    mkdirSync(join(other, '.ssh'));
    writeFileSync(join(other, '.ssh', 'id_rsa'), utils.generateKeyPairSync('ed25519').private);
    const target = parseSshUrl(`ssh://deploy@127.0.0.1:${sshd.port}`);
    const a = new SshEngineAgent(target, { env: { HOME: other }, knownHosts: [knownHosts(`[127.0.0.1]:${sshd.port} ${hostKey.public.split(' ').slice(0, 2).join(' ')}`)] });
    agents.push(a);
    const err = await get(a, '/x').catch((e: Error) => e);
    expect(String(err)).toContain(`the server accepted none of the keys offered for user deploy (${join(other, '.ssh', 'id_rsa')})`);
  });

  it('turns a failed dial-stdio into an error with what it said', async () => {
    sshd.exec = (channel) => {
      channel.stderr.write('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n');
      channel.exit(1);
      channel.end();
    };
    const err = await get(agent(), '/x').catch((e: Error) => e);
    expect(String(err)).toContain('docker system dial-stdio ended (exit status 1): Cannot connect to the Docker daemon at unix:///var/run/docker.sock');
  });

  it('times a silent request out as a socket would', async () => {
    const a = agent();
    const started = Date.now();
    await expect(get(a, '/hang', 300)).rejects.toThrow('timed out');
    expect(Date.now() - started).toBeLessThan(5_000);
    // The connection is still good for the next request.
    expect(await get(a, '/next')).toBe('/next');
  });
});
