// Finding the engine as the docker CLI does: the resolution order, the context store as `docker context
// create` writes it (a fixture it wrote, and stores it writes now in temp dirs), and the errors.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contextDirName, dockerConfigDir, resolveEndpoint } from '../../../src/docker/context.js';
import { dockerConnection } from '../../../src/docker/engine.js';
import { EngineError } from '../../../src/docker/errors.js';
import { SshEngineAgent } from '../../../src/docker/ssh.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'docker-config');
const temps: string[] = [];

afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'warden-context-'));
  temps.push(dir);
  return dir;
}

// A DOCKER_CONFIG made by the docker CLI itself, as an operator's laptop has it.
function dockerCli(config: string, ...args: string[]): string {
  return execFileSync('docker', args, { env: { PATH: process.env.PATH, DOCKER_CONFIG: config, HOME: config }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('resolveEndpoint follows the docker CLI order', () => {
  const env = { DOCKER_CONFIG: FIXTURE };
  it.each([
    ['the config\'s currentContext', {}, env, 'ssh://ops@manager-1.example:2222', 'remote'],
    ['DOCKER_CONTEXT over currentContext', {}, { ...env, DOCKER_CONTEXT: 'secure' }, 'tcp://manager-2.example:2376', 'secure'],
    ['DOCKER_HOST over DOCKER_CONTEXT', {}, { ...env, DOCKER_CONTEXT: 'secure', DOCKER_HOST: 'unix:///run/x.sock' }, 'unix:///run/x.sock', 'default'],
    ['--context over DOCKER_HOST', { context: 'insecure' }, { ...env, DOCKER_HOST: 'unix:///run/x.sock' }, 'tcp://manager-3.example:2376', 'insecure'],
    ['--host over DOCKER_CONTEXT', { host: 'ssh://me@h' }, { ...env, DOCKER_CONTEXT: 'secure' }, 'ssh://me@h', 'default'],
    ['--context default is the environment', { context: 'default' }, { ...env, DOCKER_HOST: 'tcp://10.0.0.5:2375' }, 'tcp://10.0.0.5:2375', 'default'],
    ['DOCKER_CONTEXT=default with nothing else is the local socket', {}, { ...env, DOCKER_CONTEXT: 'default' }, 'unix:///var/run/docker.sock', 'default'],
    ['no config at all is the local socket', {}, { DOCKER_CONFIG: '/nonexistent' }, 'unix:///var/run/docker.sock', 'default'],
    ['an empty DOCKER_HOST counts as unset', {}, { ...env, DOCKER_HOST: '' }, 'ssh://ops@manager-1.example:2222', 'remote'],
    ['an address without a scheme is tcp', { host: '10.0.0.5:2375' }, {}, 'tcp://10.0.0.5:2375', 'default'],
    ['TLS on without an address is tcp://localhost:2376', {}, { DOCKER_CONFIG: '/nonexistent', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(FIXTURE, 'contexts/tls', contextDirName('secure'), 'docker') }, 'tcp://localhost:2376', 'default'],
  ])('%s', (_name, opts, environment, host, context) => {
    expect(resolveEndpoint({ ...opts, env: environment })).toMatchObject({ host, context });
  });

  it('reads the context\'s TLS material and SkipTLSVerify from the store', () => {
    const tlsDir = join(FIXTURE, 'contexts', 'tls', contextDirName('secure'), 'docker');
    const secure = resolveEndpoint({ context: 'secure', env: { DOCKER_CONFIG: FIXTURE } });
    expect(secure.skipTLSVerify).toBe(false);
    expect(secure.tls?.ca).toEqual(readFileSync(join(tlsDir, 'ca.pem')));
    expect(secure.tls?.cert).toEqual(readFileSync(join(tlsDir, 'cert.pem')));
    expect(secure.tls?.key).toEqual(readFileSync(join(tlsDir, 'key.pem')));
    const insecure = resolveEndpoint({ context: 'insecure', env: { DOCKER_CONFIG: FIXTURE } });
    expect(insecure).toMatchObject({ skipTLSVerify: true, tls: {} });
    // A context's TLS is its own: the environment's TLS variables do not apply to it.
    expect(resolveEndpoint({ context: 'remote', env: { DOCKER_CONFIG: FIXTURE, DOCKER_TLS_VERIFY: '1' } }).tls).toBeUndefined();
  });

  it('finds the docker config under HOME when DOCKER_CONFIG is not set', () => {
    const home = tempDir();
    mkdirSync(join(home, '.docker'));
    writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ currentContext: 'gone' }));
    expect(dockerConfigDir({ HOME: home })).toBe(join(home, '.docker'));
    expect(() => resolveEndpoint({ env: { HOME: home } })).toThrow(`(currentContext in ${join(home, '.docker', 'config.json')}) does not exist`);
  });
});

describe('resolveEndpoint refuses clearly, changing nothing', () => {
  it.each([
    ['--host with --context, as the CLI', { host: 'unix:///x', context: 'remote' }, { DOCKER_CONFIG: FIXTURE }, 'conflicting options: cannot specify both --host and --context'],
    ['a --context that does not exist', { context: 'nope' }, { DOCKER_CONFIG: FIXTURE }, `context "nope" (--context) does not exist in ${FIXTURE}/contexts: no ${FIXTURE}/contexts/meta/${contextDirName('nope')}/meta.json; docker context ls lists the contexts there`],
    ['a DOCKER_CONTEXT that does not exist', {}, { DOCKER_CONFIG: FIXTURE, DOCKER_CONTEXT: 'nope' }, 'context "nope" (DOCKER_CONTEXT) does not exist'],
    ['an address warden cannot use', { host: 'npipe:////./pipe/docker_engine' }, {}, 'cannot use engine address npipe:////./pipe/docker_engine (--host): expected unix:///path, tcp://host:port or ssh://[user@]host[:port]'],
  ])('%s', (_name, opts, env, message) => {
    let error: unknown;
    try {
      resolveEndpoint({ ...opts, env });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ code: 'unreachable' });
    expect((error as Error).message).toContain(message);
  });

  it('names the config file when its currentContext does not exist', () => {
    const config = tempDir();
    writeFileSync(join(config, 'config.json'), JSON.stringify({ auths: {}, currentContext: 'gone' }));
    expect(() => resolveEndpoint({ env: { DOCKER_CONFIG: config } })).toThrow(
      `context "gone" (currentContext in ${join(config, 'config.json')}) does not exist in ${join(config, 'contexts')}: no ${join(config, 'contexts', 'meta', contextDirName('gone'), 'meta.json')}; choose another with docker context use NAME`,
    );
  });

  it('refuses a docker config it cannot parse, rather than fall back to the local engine', () => {
    const config = tempDir();
    writeFileSync(join(config, 'config.json'), '{"currentContext": "prod",');
    expect(() => resolveEndpoint({ env: { DOCKER_CONFIG: config } })).toThrow(`cannot parse the docker config ${join(config, 'config.json')}`);
    // ... but not when the config is not consulted.
    expect(resolveEndpoint({ host: 'unix:///x', env: { DOCKER_CONFIG: config } }).host).toBe('unix:///x');
  });

  it('refuses a context without a docker endpoint', () => {
    const config = tempDir();
    const dir = join(config, 'contexts', 'meta', contextDirName('k8s'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ Name: 'k8s', Metadata: {}, Endpoints: {} }));
    expect(() => resolveEndpoint({ context: 'k8s', env: { DOCKER_CONFIG: config } })).toThrow('has no docker endpoint (Endpoints.docker)');
  });
});

describe('contexts written by the real docker CLI', () => {
  it('are found where `docker context create` puts them, with the CLI\'s order', () => {
    const config = tempDir();
    dockerCli(config, 'context', 'create', 'lab', '--docker', 'host=unix:///run/wlab/3/n2/docker.sock');
    dockerCli(config, 'context', 'create', 'over-ssh', '--docker', 'host=ssh://root@10.77.3.11');
    // The directory is the sha256 of the name, as contextDirName says.
    expect(existsSync(join(config, 'contexts', 'meta', contextDirName('lab'), 'meta.json'))).toBe(true);
    const env = { DOCKER_CONFIG: config };
    expect(resolveEndpoint({ context: 'lab', env })).toMatchObject({ host: 'unix:///run/wlab/3/n2/docker.sock', context: 'lab' });
    expect(resolveEndpoint({ env: { ...env, DOCKER_CONTEXT: 'over-ssh' } })).toMatchObject({ host: 'ssh://root@10.77.3.11', context: 'over-ssh' });
    expect(resolveEndpoint({ env }).host).toBe('unix:///var/run/docker.sock');
    dockerCli(config, 'context', 'use', 'over-ssh');
    expect(resolveEndpoint({ env })).toMatchObject({ host: 'ssh://root@10.77.3.11', source: `currentContext in ${join(config, 'config.json')}` });
    dockerCli(config, 'context', 'rm', '--force', 'lab');
    expect(() => resolveEndpoint({ context: 'lab', env })).toThrow('context "lab" (--context) does not exist');
  });

  it('keeps their TLS files', () => {
    const config = tempDir();
    const tlsDir = join(FIXTURE, 'contexts', 'tls', contextDirName('secure'), 'docker');
    dockerCli(config, 'context', 'create', 'tls', '--docker', `host=tcp://10.0.0.7:2376,ca=${tlsDir}/ca.pem,cert=${tlsDir}/cert.pem,key=${tlsDir}/key.pem`);
    const endpoint = resolveEndpoint({ context: 'tls', env: { DOCKER_CONFIG: config } });
    expect(endpoint.tls?.key).toEqual(readFileSync(join(tlsDir, 'key.pem')));
  });
});

describe('dockerConnection over the resolved endpoint', () => {
  it('reaches ssh:// through one SSH agent, and names the context', () => {
    const conn = dockerConnection({ env: { DOCKER_CONFIG: FIXTURE, HOME: '/nonexistent' } });
    expect(conn.describe).toBe('ssh://ops@manager-1.example:2222 (context remote)');
    expect(conn.agent).toBeInstanceOf(SshEngineAgent);
    expect((conn.agent as SshEngineAgent).target).toEqual({ user: 'ops', host: 'manager-1.example', port: 2222, socketPath: undefined });
    conn.agent?.destroy();
  });

  it('turns certificate checks off only for a context that says SkipTLSVerify', () => {
    const insecure = dockerConnection({ context: 'insecure', env: { DOCKER_CONFIG: FIXTURE } });
    expect(insecure).toMatchObject({ protocol: 'https', host: 'manager-3.example', port: 2376 });
    expect((insecure.agent as unknown as { options: { rejectUnauthorized?: boolean } }).options.rejectUnauthorized).toBe(false);
    const secure = dockerConnection({ context: 'secure', env: { DOCKER_CONFIG: FIXTURE } });
    expect(secure).toMatchObject({ protocol: 'https', host: 'manager-2.example', port: 2376 });
    expect(secure.agent).toBeUndefined();
  });

  it('refuses an ssh:// address the CLI refuses', () => {
    expect(() => dockerConnection({ host: 'ssh://root:secret@h', env: {} })).toThrow('invalid SSH URL ssh://root:***@h: plain-text password is not supported');
  });
});
