// What `warden version` prints, from `GET /version` as real engines send it. The command against a real
// engine, and against none, is test/integration/cli.test.ts.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatVersionReport, versionCommand, type VersionDeps } from '../../../src/commands/version.js';
import { toEngineVersion, type RawVersion } from '../../../src/docker/engine.js';
import { EngineError } from '../../../src/docker/errors.js';

// Debian bookworm's docker.io, as the lab's nodes answer (API 1.41: no Platform name, no top-level Experimental).
const DEBIAN_20_10: RawVersion = {
  Platform: { Name: '' },
  Components: [
    {
      Name: 'Engine', Version: '20.10.24+dfsg1',
      Details: { ApiVersion: '1.41', Arch: 'amd64', BuildTime: '2026-05-07T21:09:36.000000000+00:00', Experimental: 'false', GitCommit: '5d6db84', GoVersion: 'go1.19.8', KernelVersion: '6.1.0', MinAPIVersion: '1.12', Os: 'linux' },
    },
    { Name: 'containerd', Version: '1.6.20~ds1', Details: { GitCommit: '1.6.20~ds1-1+deb12u3' } },
    { Name: 'runc', Version: '1.1.5+ds1', Details: { GitCommit: '1.1.5+ds1-1+deb12u1' } },
    { Name: 'docker-init', Version: '0.19.0', Details: { GitCommit: '' } },
  ],
  Version: '20.10.24+dfsg1', ApiVersion: '1.41', MinAPIVersion: '1.12', GitCommit: '5d6db84', GoVersion: 'go1.19.8',
  Os: 'linux', Arch: 'amd64', KernelVersion: '6.1.0', BuildTime: '2026-05-07T21:09:36.000000000+00:00',
};

const CLIENT = { version: '0.1.0', revision: 'abc1234', nodeVersion: 'v20.20.2', os: 'linux', arch: 'x64', engine: 'unix:///var/run/docker.sock' };

describe('toEngineVersion', () => {
  it('reads what an engine sends, leniently', () => {
    expect(toEngineVersion({ ...DEBIAN_20_10, Platform: { Name: 'Docker Engine - Community' }, Experimental: true })).toMatchObject({
      platform: 'Docker Engine - Community', version: '20.10.24+dfsg1', apiVersion: '1.41', minApiVersion: '1.12', experimental: true,
    });
    // An old or odd engine: what is missing is empty, never an exception.
    expect(toEngineVersion({ Version: '17.06.0', Components: 'x' as never, Experimental: 'true' })).toEqual({
      platform: '', version: '17.06.0', apiVersion: '', minApiVersion: '', gitCommit: '', goVersion: '', os: '', arch: '',
      kernelVersion: '', buildTime: '', experimental: true, components: [],
    });
  });
});

describe('formatVersionReport', () => {
  it('prints Client and Server as docker version does, values in one column', () => {
    expect(formatVersionReport({ client: CLIENT, server: toEngineVersion(DEBIAN_20_10) })).toBe([
      'Client: swarm-warden',
      ' Version:           0.1.0',
      ' Revision:          abc1234',
      ' Node version:      v20.20.2',
      ' OS/Arch:           linux/x64',
      ' Engine:            unix:///var/run/docker.sock',
      '',
      'Server:',
      ' Engine:',
      '  Version:          20.10.24+dfsg1',
      '  API version:      1.41 (minimum version 1.12)',
      '  Go version:       go1.19.8',
      '  Git commit:       5d6db84',
      '  Built:            2026-05-07T21:09:36.000000000+00:00',
      '  OS/Arch:          linux/amd64',
      '  Experimental:     false',
      ' containerd:',
      '  Version:          1.6.20~ds1',
      '  GitCommit:        1.6.20~ds1-1+deb12u3',
      ' runc:',
      '  Version:          1.1.5+ds1',
      '  GitCommit:        1.1.5+ds1-1+deb12u1',
      ' docker-init:',
      '  Version:          0.19.0',
      '',
    ].join('\n'));
  });

  it('names the platform when the engine does, and prints only the client when the engine did not answer', () => {
    const server = toEngineVersion({ ...DEBIAN_20_10, Platform: { Name: 'Docker Engine - Community' } });
    expect(formatVersionReport({ client: CLIENT, server })).toContain('\nServer: Docker Engine - Community\n Engine:\n');
    const text = formatVersionReport({ client: { ...CLIENT, engine: undefined }, server: null });
    expect(text).not.toContain('Server');
    expect(text).not.toContain('Engine');
    expect(text).toContain(' Revision:          abc1234\n');
  });
});

describe('versionCommand', () => {
  function run(opts: { output: 'text' | 'json' }, connect: VersionDeps['connect']): Promise<{ code: number; out: string; err: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (d: Buffer) => (out += d.toString()));
    stderr.on('data', (d: Buffer) => (err += d.toString()));
    return versionCommand(opts, { build: { version: '0.1.0', revision: 'abc1234' }, connect, stdout, stderr }).then((code) => ({ code, out, err }));
  }

  it('exits 0 with both parts; JSON has the same report', async () => {
    const connect = (): ReturnType<NonNullable<VersionDeps['connect']>> => ({ describe: 'unix:///x.sock', version: async () => toEngineVersion(DEBIAN_20_10) });
    const text = await run({ output: 'text' }, connect);
    expect(text).toMatchObject({ code: 0, err: '' });
    expect(text.out).toContain('  Version:          20.10.24+dfsg1\n');
    const json = await run({ output: 'json' }, connect);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({
      client: { version: '0.1.0', revision: 'abc1234', nodeVersion: process.version, engine: 'unix:///x.sock' },
      server: { version: '20.10.24+dfsg1', apiVersion: '1.41', components: expect.any(Array) },
    });
  });

  it('prints the client part and exits 2 with the reason when the engine cannot be reached', async () => {
    const down = (): ReturnType<NonNullable<VersionDeps['connect']>> => ({
      describe: 'tcp://10.0.0.5:2375',
      version: async () => {
        throw new EngineError('unreachable', 'version: connect ECONNREFUSED 10.0.0.5:2375', undefined);
      },
    });
    const text = await run({ output: 'text' }, down);
    expect(text.code).toBe(2);
    expect(text.out).toContain(' Version:           0.1.0\n');
    expect(text.err).toBe('warden version: cannot reach the engine at tcp://10.0.0.5:2375: version: connect ECONNREFUSED 10.0.0.5:2375\n');
    const json = await run({ output: 'json' }, down);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.out)).toMatchObject({ client: { revision: 'abc1234' }, server: null });
    // An address that is no address at all: no engine to name, the reason says why.
    const bad = await run({ output: 'text' }, () => {
      throw new EngineError('unreachable', 'cannot use engine address ftp://x: expected unix:///path or tcp://host:port', undefined);
    });
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('warden version: cannot reach the engine: cannot use engine address ftp://x: expected unix:///path or tcp://host:port\n');
  });
});
