// The loader's table of good and bad documents: every bad document asserts the line, the column
// and the message an operator would see.
import { describe, expect, it } from 'vitest';
import { loadDesiredStateText, type LoadOptions } from '../../../src/desired-state/load.js';
import { DesiredStateError, formatProblem, type Problem } from '../../../src/desired-state/source.js';

// Five lines: spec content starts on line 6.
const HEAD = 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata:\n  name: t\nspec:\n';

async function problemsOf(text: string, opts: LoadOptions = {}): Promise<Problem[]> {
  try {
    await loadDesiredStateText(text, 'w.yml', opts);
  } catch (err) {
    if (err instanceof DesiredStateError) return err.problems;
    throw err;
  }
  throw new Error('expected the document to be invalid');
}

describe('bad documents', () => {
  it.each([
    // managers
    ['even manager count', '  managers:\n    count: 4\n', 7, 12, '4 managers tolerate no more failures than 3: both tolerate 1 failure'],
    ['two managers', '  managers:\n    count: 2\n', 7, 12, 'both tolerate 0 failures'],
    ['more than 7 managers', '  managers:\n    count: 9\n', 7, 12, '9 managers is more than 7'],
    ['no managers', '  managers:\n    count: 0\n', 7, 12, 'a swarm needs at least 1 manager'],
    ['fractional manager count', '  managers:\n    count: 2.5\n', 7, 12, 'must be a whole number'],
    ['manager count as a word', '  managers:\n    count: three\n', 7, 12, 'expected a number, got the string "three"'],
    ['duration without a unit', '  managers:\n    count: 3\n    replaceUnreachableAfter: 300\n', 8, 30, 'a duration needs a unit: write 300s'],
    ['fractional duration', '  managers:\n    count: 3\n    replaceUnreachableAfter: 1.5h\n', 8, 30, 'fractions are not allowed, write 1h30m'],
    ['zero replacement delay', '  managers:\n    count: 3\n    replaceUnreachableAfter: 0s\n', 8, 30, 'use "never" to disable replacement'],
    ['empty selector', '  managers:\n    count: 3\n    eligible: {}\n', 8, 15, 'an empty selector would match every node'],
    ['broken hostname glob', '  managers:\n    count: 3\n    eligible: { hostname: "db-[" }\n', 8, 27, '"db-[" is not a hostname glob: Missing closing: "]"'],
    ['hostname glob with a slash', '  managers:\n    count: 3\n    eligible: { hostname: "a/b" }\n', 8, 27, '"/" cannot appear in a hostname'],
    ['unquoted boolean label', '  managers:\n    count: 3\n    eligible: { labels: { manager-eligible: true } }\n', 8, 45, 'YAML read true as a boolean; put it in quotes'],
    ['label key with a space', '  managers:\n    count: 3\n    spreadLabel: "my zone"\n', 8, 18, '"my zone" is not a label key'],
    ['misspelt managers key', '  managers:\n    cout: 3\n', 7, 5, 'unknown key "cout" in spec.managers: did you mean count?'],
    ['missing manager count', '  managers:\n    spreadLabel: zone\n', 7, 5, 'spec.managers: missing required key "count"'],
    // nodes
    ['misspelt availability', '  nodes:\n    - match: { role: worker }\n      availability: drained\n', 8, 21, 'must be one of active, pause, drain, not the string "drained" (did you mean drain?)'],
    ['node entry without match', '  nodes:\n    - labels: { a: b }\n', 7, 7, 'spec.nodes[0]: missing required key "match"'],
    ['unknown role', '  nodes:\n    - match: { role: leader }\n', 7, 22, 'must be one of manager, worker'],
    ['nodes as a mapping', '  nodes:\n    match: { role: worker }\n', 7, 5, 'spec.nodes: expected a list, got a mapping'],
    // services
    ['service name with a space', '  services:\n    - name: "my api"\n', 7, 13, '"my api" is not a service name'],
    ['negative replicas', '  services:\n    - name: api\n      replicas: -1\n', 8, 17, 'spec.services[0].replicas: must be 0 or more'],
    ['misspelt replicas', '  services:\n    - name: api\n      replica: 3\n', 8, 7, 'unknown key "replica" in spec.services[0]: did you mean replicas?'],
    ['constraint with one =', '  services:\n    - name: api\n      placement: { constraints: ["node.labels.x = y"] }\n', 8, 34, 'is not a placement constraint: write <attribute> == <value>'],
    ['constraint on an unknown attribute', '  services:\n    - name: api\n      placement: { constraints: ["node.name == y"] }\n', 8, 34, '"node.name" is not a node attribute swarm can constrain on'],
    ['spread= prefix in a preference', '  services:\n    - name: api\n      placement: { preferences: ["spread=node.labels.zone"] }\n', 8, 34, 'write the descriptor alone: "node.labels.zone"'],
    ['quoted maxReplicasPerNode', '  services:\n    - name: api\n      placement: { maxReplicasPerNode: "1" }\n', 8, 40, 'expected a number, got the string "1"'],
    ['service listed twice', '  services:\n    - name: api\n    - name: api\n', 8, 13, 'service api is already listed at line 7'],
    ['service depending on itself', '  services:\n    - name: api\n      dependsOn: [api]\n', 8, 19, 'api cannot depend on itself'],
    ['rebalance as a word', '  services:\n    - name: api\n      rebalance: "yes"\n', 8, 18, 'spec.services[0].rebalance: expected true or false, got the string "yes"'],
    ['policy.rebalance as a word', '  policy:\n    rebalance: on\n', 7, 16, 'spec.policy.rebalance: expected true or false, got the string "on"'],
    ['dependency cycle', '  services:\n    - name: a\n      dependsOn: [b]\n    - name: b\n      dependsOn: [a]\n', 8, 18, 'dependency cycle a → b → a'],
    // volumes
    ['relative volume path', '  volumes:\n    - path: data/db\n      owner: 70\n', 7, 13, '"data/db" is not an absolute path'],
    ['unnormalized volume path', '  volumes:\n    - path: /mnt/x/../db\n      owner: 70\n', 7, 13, 'is not a normalized path'],
    ['unquoted octal mode', '  volumes:\n    - path: /mnt/db\n      owner: 70\n      mode: 0700\n', 9, 13, 'mode must be an octal string in quotes, e.g. mode: "0700": unquoted, YAML reads the digits as the decimal number 700'],
    ['non-octal mode', '  volumes:\n    - path: /mnt/db\n      owner: 70\n      mode: "0800"\n', 9, 13, '"0800" is not an octal mode'],
    ['owner as a user name', '  volumes:\n    - path: /mnt/db\n      owner: postgres\n', 8, 14, 'owner is a numeric uid, not a name ("postgres")'],
    ['owner as uid:gid', '  volumes:\n    - path: /mnt/db\n      owner: "1000:1000"\n', 8, 14, 'write owner and group apart: owner: 1000 and group: 1000'],
    ['volume without owner', '  volumes:\n    - path: /mnt/db\n', 7, 7, 'spec.volumes[0]: missing required key "owner"'],
    ['volume listed twice', '  volumes:\n    - { path: /mnt/db, owner: 70 }\n    - { path: /mnt/db, owner: 1000 }\n', 8, 15, 'path /mnt/db is already listed at line 7'],
    ['volume in /etc', '  volumes:\n    - path: /etc/ssl\n      owner: 70\n', 7, 13, '"/etc/ssl" is in the system directory /etc: warden manages directories on shared mounts, never the host\'s own'],
    ['volume in docker\'s data root', '  volumes:\n    - path: /var/lib/docker/volumes/x\n      owner: 70\n', 7, 13, 'is in the system directory /var/lib/docker'],
    ['volume on /mnt itself', '  volumes:\n    - path: /mnt\n      owner: 70\n', 7, 13, '"/mnt" is a system directory: name a directory below it, e.g. /mnt/NASVolume/data'],
    ['volume not on its mount', '  volumes:\n    - { path: /mnt/nas/db, mount: /mnt/other, owner: 70 }\n', 7, 35, '/mnt/nas/db is not on the mount /mnt/other: mount must be the path itself or one of its parents'],
    ['recursive as a string', '  volumes:\n    - { path: /mnt/db, owner: 70, recursive: "yes" }\n', 7, 46, 'expected true or false, got the string "yes"'],
    ['relative volume root', '  policy:\n    volumeRoots: [srv/data]\n', 7, 19, '"srv/data" is not an absolute path'],
    ['volume root in a system tree', '  policy:\n    volumeRoots: [/srv/data, /etc]\n', 7, 30, '"/etc" is in the system directory /etc'],
    ['volume root on /root itself', '  policy:\n    volumeRoots: [/root]\n', 7, 19, '"/root" is a system directory: name a directory below it'],
    ['volume roots as one string', '  policy:\n    volumeRoots: /srv/data\n', 7, 18, 'spec.policy.volumeRoots: expected a list, got the string "/srv/data"'],
    // registry
    ['registry address with a scheme', '  registry:\n    service: registry\n    address: http://10.0.0.5:5000\n', 8, 14, 'is not a registry address: write host:port'],
    ['registry probe not http', '  registry:\n    service: registry\n    address: 10.0.0.5:5000\n    probe: ftp://10.0.0.5/\n', 9, 12, 'probe is an http:// or https:// URL'],
    ['registry without service', '  registry:\n    address: 10.0.0.5:5000\n', 7, 5, 'spec.registry: missing required key "service"'],
    // policy
    ['misspelt policy mode', '  policy:\n    mode: enfroce\n', 7, 11, 'must be one of enforce, observe, not the string "enfroce" (did you mean enforce?)'],
    ['unknown reconciler', '  policy:\n    reconcilers: { volume: observe }\n', 7, 20, 'unknown key "volume" in spec.policy.reconcilers: did you mean volumes?'],
    ['zero action cap', '  policy:\n    maxActionsPerPass: 0\n', 7, 24, 'must be at least 1 (use mode: observe to change nothing)'],
    ['cron with four fields', '  policy:\n    resync: "*/30 * * *"\n', 7, 13, 'it has 4 fields, expected 5'],
    ['cron minute out of range', '  policy:\n    resync: "61 * * * *"\n', 7, 13, '61 is not valid for the minute field'],
    ['empty disruptive window', '  policy:\n    disruptiveWindow: { cron: "0 2 * * *", duration: 0s }\n', 7, 54, 'the window must last longer than 0s'],
    ['window without cron', '  policy:\n    disruptiveWindow:\n      duration: 2h\n', 8, 7, 'spec.policy.disruptiveWindow: missing required key "cron"'],
    // the document
    ['unknown top-level key in spec', '  specs: {}\n', 6, 3, 'unknown key "specs" in spec'],
    ['stacks listed twice', '  stacks:\n    - { name: msa, file: a.yml }\n    - { name: msa, file: b.yml }\n', 8, 15, 'stack msa is already listed at line 7'],
  ])('%s', async (_name, spec, line, col, message) => {
    const problems = await problemsOf(HEAD + spec, { readFile: async () => Buffer.from('services: {}\n') });
    expect(problems.map(formatProblem)).toContainEqual(expect.stringContaining(message));
    const problem = problems.find((p) => p.message.includes(message))!;
    expect({ line: problem.line, col: problem.col }).toEqual({ line, col });
    expect(problem.file).toBe('w.yml');
  });

  it.each([
    ['wrong apiVersion', 'apiVersion: swarm-warden/v2\nkind: ClusterState\nmetadata: { name: t }\nspec: {}\n', 1, 13, 'apiVersion: must be swarm-warden/v1, not the string "swarm-warden/v2"'],
    ['wrong kind', 'apiVersion: swarm-warden/v1\nkind: Cluster\nmetadata: { name: t }\nspec: {}\n', 2, 7, 'kind: must be ClusterState'],
    ['missing metadata', 'apiVersion: swarm-warden/v1\nkind: ClusterState\nspec: {}\n', 1, 1, 'missing required key "metadata"'],
    ['missing spec', 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: t }\n', 1, 1, 'missing required key "spec"'],
    ['cluster name with a space', 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: "my cluster" }\nspec: {}\n', 3, 19, 'metadata.name is letters, digits'],
    ['misspelt top-level key', 'apiVersion: swarm-warden/v1\nkind: ClusterState\nmetadata: { name: t }\nspek: {}\n', 4, 1, 'unknown key "spek": did you mean spec?'],
    ['duplicate key', `${HEAD}  policy: { mode: observe }\n  policy: { mode: enforce }\n`, 7, 3, 'each key may appear once in a mapping'],
    ['unclosed flow sequence', `${HEAD}  services:\n    - { name: api, dependsOn: [db }\n`, 7, 35, 'YAML:'],
    ['tab indentation', `${HEAD}  managers:\n\tcount: 3\n`, 7, 1, 'YAML'],
    ['empty file', '', 1, 1, 'the file is empty'],
    ['a list instead of a mapping', '- apiVersion: swarm-warden/v1\n', 1, 1, 'expected a mapping, got a list'],
    ['several documents', `${HEAD}  {}\n---\n${HEAD}  {}\n`, 7, 1, 'several YAML documents'],
  ])('%s', async (_name, text, line, col, message) => {
    const problems = await problemsOf(text);
    const problem = problems.find((p) => p.message.includes(message));
    expect(problem, problems.map(formatProblem).join('\n')).toBeDefined();
    expect({ line: problem!.line, col: problem!.col }).toEqual({ line, col });
  });

  it('reports every problem at once, in file order', async () => {
    const problems = await problemsOf(`${HEAD}  managers: { count: 4 }\n  policy:\n    mode: enfroce\n    maxActionsPerPass: 0\n`);
    expect(problems.map(formatProblem)).toEqual([
      expect.stringMatching(/^w\.yml:6:22: spec\.managers\.count: 4 managers/),
      expect.stringMatching(/^w\.yml:8:11: spec\.policy\.mode: must be one of/),
      expect.stringMatching(/^w\.yml:9:24: spec\.policy\.maxActionsPerPass: must be at least 1/),
    ]);
  });

  it('keeps the message of the error it throws equal to the formatted problems', async () => {
    const err = await loadDesiredStateText(`${HEAD}  managers: { count: 6 }\n`, 'w.yml').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DesiredStateError);
    expect((err as Error).message).toBe((err as DesiredStateError).problems.map(formatProblem).join('\n'));
  });
});

describe('good documents', () => {
  it('applies the contract defaults; every section is optional', async () => {
    const loaded = await loadDesiredStateText(`${HEAD}  {}\n`, 'w.yml');
    expect(loaded.state).toEqual({
      cluster: 't',
      policy: { mode: 'enforce', reconcilers: {}, maxActionsPerPass: 20, resync: '*/30 * * * * *', ignoreLabel: 'warden.ignore', rebalance: false, rollbackGraceMs: 600_000 },
    });
    expect(loaded.revision).toMatch(/^[0-9a-f]{12}$/);
    expect(loaded.source).toBe('w.yml');
    expect(loaded.warnings).toBeUndefined();
  });

  it.each([
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['30s', 30_000],
    ['1d', 86_400_000],
    ['never', null],
  ])('reads replaceUnreachableAfter %s', async (text, ms) => {
    const loaded = await loadDesiredStateText(`${HEAD}  managers: { count: 3, replaceUnreachableAfter: ${text} }\n`, 'w.yml');
    expect(loaded.state.managers?.replaceUnreachableAfterMs).toBe(ms);
  });

  it.each([
    [1], [3], [5], [7],
  ])('accepts %i managers', async (count) => {
    const loaded = await loadDesiredStateText(`${HEAD}  managers: { count: ${count} }\n`, 'w.yml');
    expect(loaded.state.managers).toEqual({ count, replaceUnreachableAfterMs: 300_000 });
  });

  it('resolves volumes, registry and policy', async () => {
    const loaded = await loadDesiredStateText(
      `${HEAD}  volumes:\n    - { path: /mnt/NASVolume/msa_db, owner: 70, group: 70, mode: "0700" }\n` +
        '    - { path: /mnt/NASVolume/msa_es, owner: 1000, mode: "2775", recursive: true }\n' +
        '  registry: { service: registry, address: "10.0.0.5:5000" }\n' +
        '  policy:\n    mode: observe\n    reconcilers: { volumes: enforce }\n    maxActionsPerPass: 5\n' +
        '    resync: "0 */5 * * * *"\n    disruptiveWindow: { cron: "0 2 * * *", duration: 2h }\n    ignoreLabel: ops.hands-off\n    rebalance: true\n',
      'w.yml',
    );
    expect(loaded.state.volumes).toEqual([
      { path: '/mnt/NASVolume/msa_db', owner: 70, group: 70, mode: 0o700, recursive: false },
      { path: '/mnt/NASVolume/msa_es', owner: 1000, mode: 0o2775, recursive: true },
    ]);
    expect(loaded.state.registry).toEqual({ service: 'registry', address: '10.0.0.5:5000', probe: 'http://10.0.0.5:5000/v2/' });
    expect(loaded.state.policy).toEqual({
      mode: 'observe',
      reconcilers: { volumes: 'enforce' },
      maxActionsPerPass: 5,
      resync: '0 */5 * * * *',
      disruptiveWindow: { cron: '0 2 * * *', durationMs: 7_200_000 },
      ignoreLabel: 'ops.hands-off',
      rebalance: true,
      rollbackGraceMs: 600_000,
    });
  });

  it('gives each volume the longest of policy.volumeRoots it lies at or below', async () => {
    const loaded = await loadDesiredStateText(
      `${HEAD}  volumes:\n    - { path: /srv/data/pg, owner: 70 }\n    - { path: /srv/data/local/es, owner: 1000 }\n` +
        '    - { path: /srv/data, owner: 0 }\n    - { path: /srv/database, owner: 0 }\n    - { path: /mnt/nas/x, owner: 0 }\n' +
        '  policy:\n    volumeRoots: [/srv/data, /srv/data/local]\n',
      'w.yml',
    );
    expect(loaded.state.volumes?.map((v) => [v.path, v.root])).toEqual([
      ['/srv/data/pg', '/srv/data'],
      ['/srv/data/local/es', '/srv/data/local'],
      ['/srv/data', '/srv/data'],
      ['/srv/database', undefined],
      ['/mnt/nas/x', undefined],
    ]);
    expect(loaded.state.policy.volumeRoots).toEqual(['/srv/data', '/srv/data/local']);
  });

  it('keeps nodes and services as written, with their origin', async () => {
    const loaded = await loadDesiredStateText(
      `${HEAD}  nodes:\n    - match: { hostname: "db-*", labels: { zone: a } }\n      labels: { function: database }\n      availability: drain\n` +
        '  services:\n    - name: msa_api\n      replicas: 3\n      placement:\n        constraints: ["node.labels.function == app", "node.role!=manager"]\n' +
        '        preferences: [node.labels.zone]\n        maxReplicasPerNode: 1\n      dependsOn: [msa_db, external_service]\n      rebalance: true\n',
      'w.yml',
    );
    expect(loaded.state.nodes).toEqual([
      { match: { hostname: 'db-*', labels: { zone: 'a' } }, labels: { function: 'database' }, availability: 'drain' },
    ]);
    // A dependency on a service this file does not list is allowed: it may run in the cluster unmanaged.
    expect(loaded.state.services).toEqual([
      {
        name: 'msa_api',
        origin: 'services',
        replicas: 3,
        placement: { constraints: ['node.labels.function == app', 'node.role!=manager'], preferences: ['node.labels.zone'], maxReplicasPerNode: 1 },
        dependsOn: ['msa_db', 'external_service'],
        rebalance: true,
      },
    ]);
  });

  it('gives the same revision for the same bytes and a new one for a change', async () => {
    const a = await loadDesiredStateText(`${HEAD}  {}\n`, 'w.yml');
    const b = await loadDesiredStateText(`${HEAD}  {}\n`, 'other.yml');
    const c = await loadDesiredStateText(`${HEAD}  policy: { mode: observe }\n`, 'w.yml');
    expect(a.revision).toBe(b.revision);
    expect(c.revision).not.toBe(a.revision);
  });
});
