// The file source against real files in a temp dir: changes to the file and to its stacks are
// noticed, a broken edit keeps the last good state (nothing is reported as loaded), and the revision
// is a hash of the bytes.
import { createHash } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileSource } from '../../../src/desired-state/file-source.js';
import { openSource } from '../../../src/desired-state/open-source.js';
import { DesiredStateError, type LoadedState } from '../../../src/desired-state/source.js';

const DOC = (extra = ''): string => `apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: lab }\nspec:\n${extra || '  {}\n'}`;

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'warden-file-'));
  file = path.join(dir, 'warden.yml');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function watching(src: ReturnType<typeof createFileSource>): { loads: LoadedState[]; errors: Error[]; stop: () => Promise<void> } {
  const ac = new AbortController();
  const seen = { loads: [] as LoadedState[], errors: [] as Error[] };
  const done = src.watch(ac.signal, { onLoad: (l) => seen.loads.push(l), onError: (e) => seen.errors.push(e) });
  return { ...seen, stop: async () => { ac.abort(); await done; } };
}

describe('file source', { timeout: 20_000 }, () => {
  it('re-reads the file on change (an editor saving by rename), debounced, and keeps quiet when nothing changed', async () => {
    await writeFile(file, DOC());
    const src = createFileSource(file, { debounceMs: 20, pollMs: 60_000 });
    const first = await src.load();
    const w = watching(src);
    await writeFile(`${file}.tmp`, DOC('  policy: { mode: observe }\n'));
    await rename(`${file}.tmp`, file);
    await expect.poll(() => w.loads.length, { timeout: 10_000 }).toBe(1);
    expect(w.loads[0]?.state.policy.mode).toBe('observe');
    expect(w.loads[0]?.revision).not.toBe(first.revision);
    await w.stop();
    expect(w.errors).toEqual([]);
  });

  it('reports a broken edit as an error, not as a state, and recovers', async () => {
    await writeFile(file, DOC());
    const src = createFileSource(file, { debounceMs: 20, pollMs: 60_000 });
    await src.load();
    const w = watching(src);
    await writeFile(file, DOC('  managers: { count: 2 }\n'));
    await expect.poll(() => w.errors.length, { timeout: 10_000 }).toBe(1);
    expect(w.errors[0]).toBeInstanceOf(DesiredStateError);
    expect(w.errors[0]?.message).toMatch(/warden\.yml:5:22: spec\.managers\.count: 2 managers tolerate no more failures than 1/);
    await writeFile(file, DOC('  managers: { count: 3 }\n'));
    await expect.poll(() => w.loads.length, { timeout: 10_000 }).toBe(1);
    expect(w.loads[0]?.state.managers?.count).toBe(3);
    await w.stop();
  });

  it('notices a change to a stack file in another directory, and hashes it into the revision', async () => {
    await mkdir(path.join(dir, 'stacks'));
    await writeFile(path.join(dir, 'stacks', 'app.yml'), 'services:\n  api:\n    deploy: { replicas: 1 }\n');
    await writeFile(file, DOC('  stacks: [{ name: app, file: stacks/app.yml }]\n'));
    const src = createFileSource(file, { debounceMs: 20, pollMs: 60_000 });
    const first = await src.load();
    const w = watching(src);
    await writeFile(path.join(dir, 'stacks', 'app.yml'), 'services:\n  api:\n    deploy: { replicas: 4 }\n');
    await expect.poll(() => w.loads.length, { timeout: 10_000 }).toBe(1);
    expect(w.loads[0]?.state.services?.[0]?.replicas).toBe(4);
    expect(w.loads[0]?.revision).not.toBe(first.revision);
    await w.stop();
  });

  it('reads a deployed stack\'s binary config as bytes, not as text', async () => {
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0a, 0xc3]);
    await writeFile(path.join(dir, 'app.yml'), 'services:\n  api: { image: busybox:lab, configs: [c] }\nconfigs:\n  c: { file: c.bin }\n');
    await writeFile(path.join(dir, 'c.bin'), binary);
    await writeFile(file, DOC('  stacks: [{ name: app, file: app.yml, deploy: true }]\n'));
    const loaded = await createFileSource(file, { debounceMs: 20, pollMs: 60_000 }).load();
    expect(loaded.state.stacks?.[0]?.configs[0]?.data).toBe(binary.toString('base64'));
  });

  it('falls back to polling, and reports a deleted file as an error', async () => {
    await writeFile(file, DOC());
    const src = createFileSource(file, { debounceMs: 20, pollMs: 50 });
    const w = watching(src);
    await expect.poll(() => w.loads.length, { timeout: 10_000 }).toBe(1);
    await rm(file);
    await expect.poll(() => w.errors.length, { timeout: 10_000 }).toBe(1);
    expect(w.errors[0]?.message).toBe(`${file}: cannot read the desired-state file: no such file`);
    await w.stop();
  });

  it('revision is the first 12 hex digits of the sha256 of the bytes', async () => {
    await writeFile(file, DOC());
    const loaded = await createFileSource(file).load();
    expect(loaded.revision).toBe(createHash('sha256').update(DOC()).digest('hex').slice(0, 12));
    expect(loaded.source).toBe(file);
  });
});

describe('openSource', () => {
  const base = { gitRef: 'main', gitPath: 'warden.yml', gitInterval: '60s' };
  it('opens -f FILE first, then --git-url, and refuses neither', () => {
    expect(openSource({ ...base, file: 'w.yml', gitUrl: 'file:///x' }).kind).toBe('file');
    // An ssh user is no secret (an https one is refused), yet it is shown as *** like any user information.
    const git = openSource({ ...base, gitUrl: 'ssh://bob@git.example/ops.git', gitCache: '/tmp/never-used' });
    expect(git.kind).toBe('git');
    expect(git.description).toBe('ssh://***@git.example/ops.git#main:warden.yml');
    expect(() => openSource(base)).toThrow('no desired-state source: give -f FILE');
  });
  it('checks --git-interval', () => {
    expect(() => openSource({ ...base, gitUrl: 'file:///x', gitInterval: '60' })).toThrow('--git-interval: "60" has no unit');
    expect(() => openSource({ ...base, gitUrl: 'file:///x', gitInterval: '500ms' })).toThrow('too short');
  });
});
