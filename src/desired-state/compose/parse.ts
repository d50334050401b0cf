// The small languages inside compose values, parsed as the Go libraries stack deploy uses parse them:
// Go durations (time.ParseDuration), sizes (go-units RAMInBytes), port specs (go-connections nat and
// docker/cli's swarmopts), CPU counts (opts.ParseCPUs), shell words (google/shlex), volume short syntax
// (loader.ParseVolume) and env files (pkg/kvfile). Each throws an Error whose message says what is wrong.

const DURATION_UNITS: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};

/** parseGoDuration reads a Go duration ("1m30s", "1.5h", "0") into nanoseconds; undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  const re = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/;
  while (s.length > 0) {
    const m = re.exec(s);
    if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) return undefined;
    const value = Number(`${m[1] || '0'}.${m[2] ?? '0'}`);
    total += value * DURATION_UNITS[m[3]!]!;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

/** durationText explains why a string is not a Go duration; undefined when it is one. */
export function durationProblem(text: string): string | undefined {
  if (parseGoDuration(text) !== undefined) return undefined;
  if (/^\d+$/.test(text)) return `"${text}" has no unit: write ${text}s, ${text}m or ${text}h`;
  return `"${text}" is not a duration: write a number and a unit (ns, us, ms, s, m, h), e.g. 10s, 1m30s or 1.5h`;
}

/** parseRamInBytes reads a size ("512m", "1G", "1.5gb", 1024) as go-units RAMInBytes does (binary units). */
export function parseRamInBytes(value: string | number): number {
  if (typeof value === 'number') return Math.trunc(value);
  const sizeStr = value;
  let sep = -1;
  for (let i = sizeStr.length - 1; i >= 0; i--) {
    if ('01234567890. '.includes(sizeStr[i]!)) {
      sep = i;
      break;
    }
  }
  if (sep === -1) throw new Error(`invalid size: '${sizeStr}'`);
  const num = sizeStr[sep] !== ' ' ? sizeStr.slice(0, sep + 1) : sizeStr.slice(0, sep);
  let sfx = sizeStr.slice(sep + 1);
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(num)) throw new Error(`invalid size: '${sizeStr}'`);
  let size = Number(num);
  if (size < 0) throw new Error(`invalid size: '${sizeStr}'`);
  if (sfx.length === 0) return Math.trunc(size);
  const bad = (): never => {
    throw new Error(`invalid suffix: '${sfx}' in size '${sizeStr}'`);
  };
  if (sfx.length > 3) bad();
  sfx = sfx.toLowerCase();
  if (sfx[0] === 'b') {
    if (sfx.length > 1) bad();
    return Math.trunc(size);
  }
  const mul = ({ k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 } as Record<string, number>)[sfx[0]!];
  if (mul === undefined) bad();
  size *= mul!;
  if ((sfx.length === 2 && sfx[1] !== 'b') || (sfx.length === 3 && sfx.slice(1) !== 'ib')) bad();
  return Math.trunc(size);
}

/** parseCpus reads "0.5" or "2" into nano CPUs, refusing more precision than a nano CPU (opts.ParseCPUs). */
export function parseCpus(value: string): number {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(value.trim() === value ? value : '');
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new Error(`failed to parse ${value} as a rational number`);
  const frac = (m[3] ?? '').replace(/0+$/, '');
  if (frac.length > 9) throw new Error(`${value} CPUs is too precise: at most 9 decimals`);
  const nano = Number(m[2] || '0') * 1e9 + Number(frac.padEnd(9, '0') || '0');
  return m[1] === '-' ? -nano : nano;
}

/** PortConfig is the engine's PortConfig as stack deploy makes it. */
export interface PortConfig {
  Protocol: string;
  TargetPort: number;
  PublishedPort: number;
  PublishMode: string;
}

function parsePortRange(ports: string): [number, number] {
  if (ports === '') throw new Error('empty string specified for ports');
  const one = (p: string): number => {
    if (!/^\d+$/.test(p) || Number(p) > 65535) throw new Error(`invalid port ${p}`);
    return Number(p);
  };
  if (!ports.includes('-')) {
    const n = one(ports);
    return [n, n];
  }
  const parts = ports.split('-');
  const start = one(parts[0]!);
  const end = one(parts[1]!);
  if (end < start) throw new Error(`invalid range specified for port: ${ports}`);
  return [start, end];
}

function isIp(text: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return text.split('.').every((o) => Number(o) <= 255);
  return /^[0-9a-fA-F:.]+$/.test(text) && text.includes(':');
}

/**
 * parsePortSpec reads a short port ("80", "8080:80", "127.0.0.1:8080:80/udp", "9090-9091:8080-8081") into
 * the engine's port configs, one per port of a range, as docker/cli's loader does (ingress mode; a host IP
 * is dropped, as the swarm listens on every address).
 */
export function parsePortSpec(rawPort: string): PortConfig[] {
  const parts = rawPort.split(':');
  const n = parts.length;
  let ip = '';
  let hostPort = '';
  let containerPort = parts[n - 1]!;
  if (n === 2) hostPort = parts[0]!;
  else if (n === 3) [ip, hostPort] = [parts[0]!, parts[1]!];
  else if (n > 3) [ip, hostPort] = [parts.slice(0, n - 2).join(':'), parts[n - 2]!];
  let proto = 'tcp';
  const slash = containerPort.split('/');
  if (containerPort === '' || slash[0] === '') containerPort = '';
  else if (slash.length > 1 && slash[1] !== '') [containerPort, proto] = [slash[0]!, slash[1]!];
  else containerPort = slash[0]!;
  if (ip.startsWith('[')) {
    if (!ip.endsWith(']')) throw new Error(`invalid IP address ${ip}`);
    ip = ip.slice(1, -1);
  }
  if (ip !== '' && !isIp(ip)) throw new Error(`invalid IP address: ${ip}`);
  if (containerPort === '') throw new Error(`no port specified: ${rawPort}<empty>`);
  let start: number;
  let end: number;
  try {
    [start, end] = parsePortRange(containerPort);
  } catch {
    throw new Error(`invalid containerPort: ${containerPort}`);
  }
  let hostStart = 0;
  let hostEnd = 0;
  if (hostPort !== '') {
    try {
      [hostStart, hostEnd] = parsePortRange(hostPort);
    } catch {
      throw new Error(`invalid hostPort: ${hostPort}`);
    }
    if (end - start !== hostEnd - hostStart && end !== start) {
      throw new Error(`invalid ranges specified for container and host Ports: ${containerPort} and ${hostPort}`);
    }
  }
  proto = proto.toLowerCase();
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new Error(`invalid proto: ${proto}`);
  // nat.ParsePortSpecs keys the bindings by container port, and the loader walks the keys sorted as text.
  const byPort = new Map<string, Array<[number, number]>>();
  for (let i = 0; i <= end - start; i++) {
    const target = start + i;
    let published: [number, number];
    if (hostPort === '') published = [0, 0];
    else if (start === end && hostStart !== hostEnd) published = [hostStart, hostEnd];
    else published = [hostStart + i, hostStart + i];
    const key = `${target}/${proto}`;
    byPort.set(key, [...(byPort.get(key) ?? []), published]);
  }
  const out: PortConfig[] = [];
  for (const key of [...byPort.keys()].sort()) {
    const target = Number(key.split('/')[0]);
    for (const [from, to] of byPort.get(key)!) {
      for (let p = from; p <= to; p++) out.push({ Protocol: proto, TargetPort: target, PublishedPort: p, PublishMode: 'ingress' });
    }
  }
  return out;
}

// google/shlex's classes (docker/cli's loader splits command and entrypoint with shlex.Split): only these
// four are spaces (not \v, \f or Unicode spaces), and every other rune is a word rune.
const SHLEX_SPACES = ' \t\r\n';

/**
 * splitShellWords splits a command string into words as google/shlex does: '...' keeps everything, "..."
 * and bare words take a backslash as escaping the next rune whatever it is (the backslash is dropped:
 * "\." is "."), a # that starts a word starts a comment to the end of the line.
 */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  const runes = [...text];
  let word: string | undefined;
  let i = 0;
  const push = (c: string): void => {
    word = (word ?? '') + c;
  };
  while (i < runes.length) {
    const c = runes[i]!;
    if (SHLEX_SPACES.includes(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
      i++;
    } else if (c === '\\') {
      if (i + 1 >= runes.length) throw new Error('EOF found after escape character');
      push(runes[i + 1]!);
      i += 2;
    } else if (c === "'") {
      let j = i + 1;
      while (j < runes.length && runes[j] !== "'") j++;
      if (j >= runes.length) throw new Error('EOF found when expecting closing quote');
      push(runes.slice(i + 1, j).join(''));
      i = j + 1;
    } else if (c === '"') {
      // shlex's escapingQuotedState: the rune after a backslash is taken as it is, the backslash dropped.
      let j = i + 1;
      let acc = '';
      for (;;) {
        if (j >= runes.length) throw new Error('EOF found when expecting closing quote');
        const d = runes[j]!;
        if (d === '"') break;
        if (d === '\\') {
          if (j + 1 >= runes.length) throw new Error('EOF found after escape character');
          acc += runes[j + 1];
          j += 2;
          continue;
        }
        acc += d;
        j++;
      }
      push(acc);
      i = j + 1;
    } else if (c === '#' && word === undefined) {
      // A comment runs to the end of the line.
      while (i < runes.length && runes[i] !== '\n') i++;
    } else {
      push(c);
      i++;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** VolumeShort is what the short volume syntax says. */
export interface VolumeShort {
  type: 'volume' | 'bind';
  source: string;
  target: string;
  readOnly: boolean;
  nocopy: boolean;
  propagation?: string;
}

const PROPAGATIONS = ['rprivate', 'private', 'rshared', 'shared', 'rslave', 'slave'];

/** parseVolumeShort reads "src:dst:ro" as docker/cli's loader.ParseVolume does (without Windows paths). */
export function parseVolumeShort(spec: string): VolumeShort {
  if (spec === '') throw new Error('invalid empty volume spec');
  const out: VolumeShort = { type: 'volume', source: '', target: '', readOnly: false, nocopy: false };
  if (spec.length <= 2) {
    out.target = spec;
    return out;
  }
  const fields = spec.split(':');
  const last = fields.length - 1;
  for (const [i, field] of fields.entries()) {
    if (field === '') throw new Error(`invalid spec: ${spec}: empty section between colons`);
    if (out.source === '' && i === last && out.target === '') out.target = field;
    else if (out.source === '') out.source = field;
    else if (out.target === '') out.target = field;
    else if (i !== last) throw new Error(`invalid spec: ${spec}: too many colons`);
    else {
      for (const option of field.split(',')) {
        if (option === 'ro') out.readOnly = true;
        else if (option === 'rw') out.readOnly = false;
        else if (option === 'nocopy') out.nocopy = true;
        else if (PROPAGATIONS.includes(option)) out.propagation = option;
      }
    }
  }
  if (out.source !== '' && ['.', '/', '~'].includes(out.source[0]!)) out.type = 'bind';
  return out;
}

/**
 * parseEnvFile reads an env file as docker/cli's kvfile does: KEY=VALUE lines, # comments, a bare KEY
 * taken from `lookup` (dropped when it has no value there). Values are not unquoted.
 */
export function parseEnvFile(text: string, lookup: (key: string) => string | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line : line.slice(0, eq);
    if (key === '') throw new Error(`line ${i + 1}: no variable name on line '${line}'`);
    if (/[ \t]/.test(key)) throw new Error(`line ${i + 1}: variable '${key}' contains whitespaces`);
    if (eq >= 0) {
      out.push([key, line.slice(eq + 1)]);
      return;
    }
    const value = lookup(line);
    if (value !== undefined) out.push([key, value]);
  });
  return out;
}
