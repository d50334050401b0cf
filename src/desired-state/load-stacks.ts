// Reading the files a desired-state file's stacks name: each compose file relative to the desired-state
// file, its envFile (the values of its ${VAR}), and for a stack with `deploy: true` the files the compose
// file names (env_file, a config's or secret's file). Every one of them may be a sops file and reads as
// its plaintext (./sops/reader.ts). What is read feeds the revision's hash; what cannot be read is a
// problem at the entry that names it.
import type { Hash } from 'node:crypto';
import { readFile as fsReadFile } from 'node:fs/promises';
import path from 'node:path';
import { isPair, parseDocument, visit } from 'yaml';
import { loadComposeStack } from './compose/load.js';
import { parseEnvFile } from './compose/parse.js';
import type { StackEntry } from './schema.js';
import type { Problem } from './source.js';
import { readStack, type StackService } from './stacks.js';
import { decryptedFormat, decryptingReader, type SopsMode } from './sops/reader.js';
import { SealedValues } from './sops/sealed.js';
import type { DesiredStack } from './types.js';
import { problemAt, type PathSegment, type YamlSource } from './yaml-source.js';

/** StackFilesOptions say how to read a desired-state file's stack files. */
export interface StackFilesOptions {
  /** readFile reads a file as bytes; default: the local file system. */
  readFile?: (file: string) => Promise<Buffer>;
  /** confine requires stack files to be relative paths that stay inside the file's tree; default false. */
  confine?: boolean;
  /** sops opens the sops-encrypted files among them: keys, or 'check'; default no keys. */
  sops?: SopsMode;
}

/** StacksRead is what the stacks' files gave: services for spec.services, deployed stacks, problems and warnings. */
export interface StacksRead {
  services: StackService[];
  deployed: DesiredStack[];
  problems: Problem[];
  warnings: Problem[];
  /** sealed holds the values the sops files among them held encrypted (empty when there is none). */
  sealed: SealedValues;
}

/**
 * readStacks reads every stack of the desired-state file `file` (parsed as `src`); each file read is added
 * to `hash` with its path, so that the revision changes when any of them does.
 */
export async function readStacks(stacks: readonly StackEntry[], file: string, src: YamlSource, hash: Hash, opts: StackFilesOptions): Promise<StacksRead> {
  const out: StacksRead = { services: [], deployed: [], problems: [], warnings: [], sealed: new SealedValues() };
  const confine = opts.confine ?? false;
  // Bytes, never text: a config or secret may be binary, and decoding it as UTF-8 would corrupt it.
  // Any of them may be a sops file: it reads as its plaintext, or fails as a problem naming it.
  const readBytes = decryptingReader(opts.readFile ?? ((f: string) => fsReadFile(f)), opts.sops, out.sealed);
  for (const [i, stack] of stacks.entries()) {
    const at: PathSegment[] = ['spec', 'stacks', i, 'file'];
    const stackFile = stackPath(file, stack.file, confine);
    if (typeof stackFile !== 'string') {
      out.problems.push(problemAt(src, at, stackFile.problem));
      continue;
    }
    let composeText: string;
    try {
      const bytes = await readBytes(stackFile);
      composeText = bytes.toString('utf8');
      // A compose file encrypted whole as a binary file (`--input-type binary`): every value in it came from sops.
      if (decryptedFormat(bytes) === 'binary') sealScalars(composeText, out.sealed);
    } catch (err) {
      out.problems.push(problemAt(src, at, `cannot read compose file ${stackFile}: ${readError(err as NodeJS.ErrnoException)}`));
      continue;
    }
    hash.update(`\0${stackFile}\0`).update(composeText);
    const env = await stackEnv(stack, i, file, confine, src, readBytes, hash, out);
    if (env === undefined) continue;
    const read = readStack(stack.name, composeText, stackFile, env);
    if (!stack.deploy) {
      out.problems.push(...read.problems);
      out.warnings.push(...read.warnings);
      out.services.push(...read.services);
      continue;
    }
    // A deployed stack is read whole, as stack deploy reads it; its services still join spec.services
    // (replicas, placement, depends_on) for the reconcilers that read those.
    const hashing = async (f: string): Promise<Buffer> => {
      const bytes = await readBytes(f);
      hash.update(`\0${f}\0`).update(bytes);
      return bytes;
    };
    const full = await loadComposeStack(composeText, {
      stack: stack.name,
      file: stackFile,
      env,
      prune: stack.prune,
      resolveImage: stack.resolveImage,
      readFile: hashing,
      resolvePath: (ref) => stackPath(stackFile, ref, confine),
      onEnvFile: (bytes, vars) => sealEnvFile(bytes, vars, out.sealed),
    });
    out.problems.push(...full.problems);
    out.warnings.push(...full.warnings);
    if (full.stack) {
      out.deployed.push(full.stack);
      out.services.push(...read.services.map((s) => ({ ...s, service: { ...s.service, deployed: true } })));
    }
  }
  return out;
}

// The values of a stack's ${VAR}: its envFile, then its env over it. Never warden's own environment.
async function stackEnv(
  stack: StackEntry,
  i: number,
  file: string,
  confine: boolean,
  src: YamlSource,
  readBytes: (f: string) => Promise<Buffer>,
  hash: Hash,
  out: StacksRead,
): Promise<Record<string, string> | undefined> {
  const env: Record<string, string> = {};
  if (stack.envFile !== undefined) {
    const at: PathSegment[] = ['spec', 'stacks', i, 'envFile'];
    const envPath = stackPath(file, stack.envFile, confine);
    if (typeof envPath !== 'string') {
      out.problems.push(problemAt(src, at, envPath.problem));
      return undefined;
    }
    let bytes: Buffer;
    try {
      bytes = await readBytes(envPath);
    } catch (err) {
      out.problems.push(problemAt(src, at, `cannot read env file ${envPath}: ${readError(err as NodeJS.ErrnoException)}`));
      return undefined;
    }
    const text = bytes.toString('utf8');
    hash.update(`\0${envPath}\0`).update(text);
    try {
      const vars = parseEnvFile(text, () => undefined);
      sealEnvFile(bytes, vars, out.sealed);
      for (const [k, v] of vars) env[k] = v;
    } catch (err) {
      out.problems.push(problemAt(src, at, `${envPath}: ${(err as Error).message}`));
      return undefined;
    }
  }
  return { ...env, ...(stack.env ?? {}) };
}

// Every value of an env file that was a sops file is sealed, as it reads (sops may have kept some in
// clear with unencrypted_suffix: sealing them too costs a person a look at the file, nothing more; and
// a value sops writes with \n reads here with a backslash, not as sops's own value).
function sealEnvFile(bytes: Buffer, vars: ReadonlyArray<[string, string]>, sealed: SealedValues): void {
  if (decryptedFormat(bytes) === undefined) return;
  for (const [, v] of vars) sealed.add(v);
}

// Every scalar value (not the keys: names of services, networks, variables) of a YAML text.
function sealScalars(text: string, sealed: SealedValues): void {
  visit(parseDocument(text), {
    Scalar(key, node, path) {
      const parent = path[path.length - 1];
      if (key === 'key' && isPair(parent)) return;
      if (node.value !== null && node.value !== undefined) sealed.add(String(node.value), typeof node.value !== 'string');
    },
  });
}

/** readError says in a few words why a file could not be read (its errno code's meaning, else its message). */
export function readError(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return e.message;
  }
}

// Where a path written in `file` points: relative to its directory, and with `confine` never outside the tree.
function stackPath(file: string, ref: string, confine: boolean): string | { problem: string } {
  if (confine) {
    if (path.posix.isAbsolute(ref)) return { problem: `"${ref}" must be relative to the desired-state file, inside the repository` };
    const joined = path.posix.normalize(path.posix.join(path.posix.dirname(file), ref));
    if (joined === '..' || joined.startsWith('../')) return { problem: `"${ref}" points outside the repository` };
    return joined;
  }
  return path.isAbsolute(ref) ? ref : path.join(path.dirname(file), ref);
}
