// `warden version`: warden's own version, revision and Node, and the engine's version, as `docker
// version` prints its Client and Server. warden's part needs no engine: it is printed even when the engine
// cannot be reached, and then the command exits 2 with the reason.
import { createDockerPort, type EngineOptions } from '../docker/engine.js';
import type { EngineVersion, VersionPort } from '../docker/port.js';
import { buildInfo, type BuildInfo } from '../version.js';

/** ClientVersion is warden's side of `warden version`. */
export interface ClientVersion {
  version: string;
  revision: string;
  /** nodeVersion is the Node.js that runs warden (process.version). */
  nodeVersion: string;
  os: string;
  arch: string;
  /** engine is the engine's address as warden resolved it; absent when the address itself is unusable. */
  engine?: string;
}

/** VersionReport is what `warden version` prints; server is null when the engine did not answer. */
export interface VersionReport {
  client: ClientVersion;
  server: EngineVersion | null;
}

/** VersionDeps are what `versionCommand` uses; each defaults to the real one. */
export interface VersionDeps {
  build?: BuildInfo;
  connect?: (opts: EngineOptions) => VersionPort & { readonly describe: string };
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
}

/** versionCommand prints warden's and the engine's versions: 0, or 2 when the engine cannot be reached. */
export async function versionCommand(opts: EngineOptions & { output: 'text' | 'json' }, deps: VersionDeps = {}): Promise<number> {
  const build = deps.build ?? buildInfo();
  const stdout = deps.stdout ?? process.stdout;
  const stderr = deps.stderr ?? process.stderr;
  const client: ClientVersion = { ...build, nodeVersion: process.version, os: process.platform, arch: process.arch };
  let server: EngineVersion | null = null;
  let error: string | undefined;
  try {
    const port = (deps.connect ?? createDockerPort)(opts);
    client.engine = port.describe;
    server = await port.version();
  } catch (err) {
    error = (err as Error).message;
  }
  const report: VersionReport = { client, server };
  stdout.write(opts.output === 'json' ? `${JSON.stringify(report)}\n` : formatVersionReport(report));
  if (error === undefined) return 0;
  stderr.write(`warden version: cannot reach the engine${client.engine ? ` at ${client.engine}` : ''}: ${error}\n`);
  return 2;
}

/** VALUE_COLUMN is where `warden version` starts each value (default 20, docker version's column). */
export const VALUE_COLUMN = 20;

// section renders `name:` and its fields below it, values in one column as docker version prints them;
// empty values are left out.
function section(indent: string, name: string, fields: Array<[string, string]>): string[] {
  const shown = fields.filter(([, v]) => v !== '');
  return [`${indent}${name}`, ...shown.map(([k, v]) => `${`${indent} ${k}:`.padEnd(VALUE_COLUMN - 1)} ${v}`)];
}

/** formatVersionReport is the text of `warden version`: Client, then Server when the engine answered. */
export function formatVersionReport(report: VersionReport): string {
  const c = report.client;
  const lines = section('', 'Client: swarm-warden', [
    ['Version', c.version],
    ['Revision', c.revision],
    ['Node version', c.nodeVersion],
    ['OS/Arch', `${c.os}/${c.arch}`],
    ['Engine', c.engine ?? ''],
  ]);
  const s = report.server;
  if (s) {
    lines.push('', `Server:${s.platform ? ` ${s.platform}` : ''}`);
    const engine: Array<[string, string]> = [
      ['Version', s.version],
      ['API version', s.minApiVersion ? `${s.apiVersion} (minimum version ${s.minApiVersion})` : s.apiVersion],
      ['Go version', s.goVersion],
      ['Git commit', s.gitCommit],
      ['Built', s.buildTime],
      ['OS/Arch', s.os && s.arch ? `${s.os}/${s.arch}` : ''],
      ['Experimental', String(s.experimental)],
    ];
    // The engine lists its parts (API 1.35 on); the Engine part is shown with the top-level fields, as
    // docker version shows it, and the others with whatever details they carry (GitCommit mostly).
    const others = s.components.filter((p) => p.name !== 'Engine');
    lines.push(...section(' ', 'Engine:', engine));
    for (const part of others) lines.push(...section(' ', `${part.name}:`, [['Version', part.version], ...Object.entries(part.details)]));
  }
  return `${lines.join('\n')}\n`;
}
