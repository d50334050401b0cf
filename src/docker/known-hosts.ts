// known_hosts as OpenSSH reads it: plain, hashed and wildcard host patterns, @revoked keys, and the
// words of a refusal (an unknown or changed key is never accepted silently).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SSH_DEFAULT_PORT, type SshTarget } from './ssh-target.js';

/** KnownHostLine is one key line of a known_hosts file. */
export interface KnownHostLine {
  /** where is FILE:LINE, for messages. */
  where: string;
  /** marker is @revoked or @cert-authority; undefined for a plain key. */
  marker: 'revoked' | 'cert-authority' | undefined;
  /** patterns is the host field as written: comma-separated patterns, or one hashed `|1|salt|hash`. */
  patterns: string;
  keyType: string;
  key: Buffer;
}

/** parseKnownHosts reads a known_hosts file's text; comments, blank and malformed lines are skipped, as sshd does. */
export function parseKnownHosts(text: string, file: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === undefined || fields[0] === '' || fields[0].startsWith('#')) continue;
    let marker: KnownHostLine['marker'];
    if (fields[0].startsWith('@')) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [patterns, keyType, base64] = fields;
    if (!patterns || !keyType || !base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) continue;
    lines.push({ where: `${file}:${i + 1}`, marker, patterns, keyType, key: Buffer.from(base64, 'base64') });
  }
  return lines;
}

/** knownHostName is how known_hosts names a host: `host` on port 22, else `[host]:port`. */
export function knownHostName(host: string, port: number): string {
  return port === SSH_DEFAULT_PORT ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
}

/** hostMatches tells whether a known_hosts host field names `name` (hashed, wildcards, negations). */
export function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) {
    const [, , salt, hash] = patterns.split('|');
    if (!salt || !hash) return false;
    const want = Buffer.from(hash, 'base64');
    const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
    return want.length === got.length && timingSafeEqual(want, got);
  }
  let matched = false;
  for (const pattern of patterns.toLowerCase().split(',')) {
    const negated = pattern.startsWith('!');
    if (!globMatch(negated ? pattern.slice(1) : pattern, name)) continue;
    // A matching negation rules the line out whatever else matches, as OpenSSH's match_hostname.
    if (negated) return false;
    matched = true;
  }
  return matched;
}

// globMatch matches one known_hosts pattern (`*` and `?` wildcards) against a host name.
function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`).test(name);
}

/** HostKeyVerdict is what known_hosts says of the key a server showed. */
export type HostKeyVerdict =
  | { kind: 'known'; where: string }
  | { kind: 'unknown' }
  /** changed: the host is known with other keys; `where` is the first of them. */
  | { kind: 'changed'; where: string; knownTypes: string[] }
  | { kind: 'revoked'; where: string }
  /**
   * cert-authority: the host is known only through a @cert-authority line. ssh2 (the SSH client warden
   * uses) offers no `*-cert-v01@openssh.com` host key algorithm, so the server never shows it a host
   * certificate and the CA cannot vouch for the plain key it shows: refused, with that reason.
   */
  | { kind: 'cert-authority'; where: string };

/** checkHostKey judges a server's host key (the raw key blob) against known_hosts lines, as OpenSSH does. */
export function checkHostKey(lines: readonly KnownHostLine[], host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostName(host, port);
  const revoked = lines.find((l) => l.marker === 'revoked' && l.key.equals(key));
  if (revoked) return { kind: 'revoked', where: revoked.where };
  const forHost = lines.filter((l) => l.marker === undefined && hostMatches(l.patterns, name));
  const same = forHost.find((l) => l.key.equals(key));
  if (same) return { kind: 'known', where: same.where };
  if (forHost.length === 0) {
    const ca = lines.find((l) => l.marker === 'cert-authority' && hostMatches(l.patterns, name));
    return ca ? { kind: 'cert-authority', where: ca.where } : { kind: 'unknown' };
  }
  return { kind: 'changed', where: forHost[0]!.where, knownTypes: [...new Set(forHost.map((l) => l.keyType))] };
}

/** keyFingerprint is a key's OpenSSH fingerprint, `SHA256:` and unpadded base64, as ssh and ssh-keygen -l print it. */
export function keyFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** keyBlobType is the key type a raw SSH public key blob names (its first string). */
export function keyBlobType(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const len = key.readUInt32BE(0);
  return len > 0 && 4 + len <= key.length ? key.subarray(4, 4 + len).toString('latin1') : 'unknown';
}

/** knownHostsFiles are OpenSSH's defaults: the user's known_hosts (and known_hosts2), then the system's. */
export function knownHostsFiles(home: string): string[] {
  return [
    join(home, '.ssh', 'known_hosts'),
    join(home, '.ssh', 'known_hosts2'),
    '/etc/ssh/ssh_known_hosts',
    '/etc/ssh/ssh_known_hosts2',
  ];
}

/** readKnownHosts reads the key lines of known_hosts files; a missing file knows no host. */
export function readKnownHosts(files: readonly string[]): KnownHostLine[] {
  return files.flatMap((file) => {
    try {
      return parseKnownHosts(readFileSync(file, 'utf8'), file);
    } catch {
      return []; // A missing file knows no host, as for ssh.
    }
  });
}

// The host key algorithms to offer, those of the keys known_hosts has for this host first (as OpenSSH
// orders them), so that a server with several host keys shows the one we can check.
const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa',
] as const;
type HostKeyAlgorithm = (typeof DEFAULT_HOST_KEY_ALGORITHMS)[number];

/** hostKeyAlgorithms orders the host key algorithms to offer: those of the host's known key types first. */
export function hostKeyAlgorithms(lines: readonly KnownHostLine[], host: string, port: number): HostKeyAlgorithm[] {
  const name = knownHostName(host, port);
  const known = new Set(lines.filter((l) => l.marker === undefined && hostMatches(l.patterns, name)).map((l) => l.keyType));
  const algorithmsOf = (type: string): readonly string[] => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]);
  const first = DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => [...known].some((t) => algorithmsOf(t).includes(a)));
  return [...first, ...DEFAULT_HOST_KEY_ALGORITHMS.filter((a) => !first.includes(a))];
}

/** hostKeyRefusal words why a server's host key was refused, and what the operator can do. */
export function hostKeyRefusal(verdict: Exclude<HostKeyVerdict, { kind: 'known' }>, t: SshTarget, key: Buffer, userFile: string): string {
  const name = knownHostName(t.host, t.port);
  const shown = `${keyBlobType(key)} ${keyFingerprint(key)}`;
  const scan = `ssh-keyscan${t.port === SSH_DEFAULT_PORT ? '' : ` -p ${t.port}`} -t ${keyBlobType(key).replace(/^ssh-/, '')} ${t.host}`;
  switch (verdict.kind) {
    case 'unknown':
      return `the host key of ${name} (${shown}) is not known, refused: no entry for ${name} in known_hosts (${userFile} and the system's). ` +
        `Check the fingerprint with the host's administrator (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host), ` +
        `then add it to ${userFile} (${scan} >> ${userFile}, and compare what it prints), or connect once with ssh ${t.user}@${t.host} and accept it there`;
    case 'changed':
      return `the host key of ${name} has CHANGED, refused: the server showed ${shown}, but ${verdict.where} knows ${name} with ` +
        `another key (${verdict.knownTypes.join(', ')}). Someone may be intercepting the connection, or the host was reinstalled. ` +
        `If the change is expected, check the new fingerprint with the host's administrator, remove the old entry (ssh-keygen -R '${name}') and add the new one`;
    case 'revoked':
      return `the host key of ${name} (${shown}) is marked @revoked in ${verdict.where}, refused`;
    case 'cert-authority':
      return `the host key of ${name} (${shown}) cannot be checked, refused: ${verdict.where} trusts a @cert-authority for ${name}, ` +
        'but warden\'s SSH client (ssh2) cannot verify host certificates (it offers no *-cert-v01@openssh.com host key algorithm, so ' +
        `the server shows its plain key, which no CA signs). Add the host's plain key to ${userFile} (${scan} >> ${userFile}, ` +
        `and compare its fingerprint with ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub on the host)`;
  }
}

