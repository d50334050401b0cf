// A service's mounts, as docker/cli's convert.Volumes makes them: one function per mount type, as its
// handleVolumeToMount, handleBindToMount, handleTmpfsToMount and handleClusterToMount; bind sources
// resolved first as its loader's resolveVolumePaths does.
import type { PathSegment } from '../yaml-source.js';
import type { ConvertInput } from './convert.js';
import { parseVolumeShort } from './parse.js';
import { isObj, mapping, namespaced, str, type Obj, type Report } from './values.js';

/** serviceMounts converts a service's volumes: (short or long syntax) into Mounts; problems go to `error`. */
export function serviceMounts(v: unknown, at: PathSegment[], stackVolumes: Obj, input: ConvertInput, error: Report, warn: Report): Obj[] {
  if (!Array.isArray(v)) return [];
  const mounts: Obj[] = [];
  v.forEach((item, i) => {
    const here = [...at, i];
    let vol: Obj;
    if (typeof item === 'string') {
      try {
        const short = parseVolumeShort(item);
        vol = { type: short.type, source: short.source, target: short.target, read_only: short.readOnly };
        if (short.nocopy) vol.volume = { nocopy: true };
        if (short.propagation) vol.bind = { propagation: short.propagation };
      } catch (err) {
        error(here, (err as Error).message);
        return;
      }
    } else {
      vol = item as Obj;
    }
    const m = mount(vol, here, stackVolumes, input, warn);
    if (typeof m === 'string') error(here, m);
    else mounts.push(m);
  });
  return mounts;
}

/**
 * cleanPath is Go's path.Clean (filepath.Clean on Linux): repeated slashes, `.` elements, inner `..` with
 * the element before it, `..` at the root and any trailing slash removed; "" becomes ".".
 */
export function cleanPath(p: string): string {
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') out.push(part);
    else if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else if (!rooted) out.push('..');
  }
  const joined = out.join('/');
  return rooted ? `/${joined}` : joined || '.';
}

// loader.resolveVolumePaths: `~` becomes $HOME, and a relative source is joined to the file's directory
// with filepath.Join, which cleans it (`./prometheus/` is `<dir>/prometheus`): kept as written, it would
// differ from what the CLI deployed on every pass. An absolute source is sent as written, as the CLI does.
function bindSource(vol: Obj, at: PathSegment[], input: ConvertInput, warn: Report): string {
  let source = str(vol.source) ?? '';
  if (source.startsWith('~')) {
    const home = input.lookup('HOME');
    if (home !== undefined) source = source.replace('~', home);
  }
  if (source.startsWith('/')) return source;
  const abs = cleanPath(`${input.dir}/${source}`);
  warn(at, `the relative bind source ${JSON.stringify(str(vol.source))} becomes ${abs}, a path on the machine that reads the file (as stack deploy makes it); write an absolute path`);
  return abs;
}

function mount(vol: Obj, at: PathSegment[], stackVolumes: Obj, input: ConvertInput, warn: Report): Obj | string {
  const type = str(vol.type) ?? 'volume';
  let source = str(vol.source) ?? '';
  if (type === 'bind') {
    if (source === '') return 'invalid mount config for type "bind": field Source must not be empty';
    source = bindSource(vol, at, input, warn);
  }
  const target = str(vol.target) ?? '';
  const result: Obj = { Type: type === '' ? 'volume' : type };
  if (source !== '') result.Source = source;
  if (target !== '') result.Target = target;
  if (vol.read_only === true) result.ReadOnly = true;
  if (vol.consistency) result.Consistency = String(vol.consistency);
  const has = (k: string): boolean => vol[k] !== undefined && vol[k] !== null;
  const bad = (kinds: string[]): string | undefined => {
    const found = kinds.find(has);
    return found === undefined ? undefined : `${found} options are incompatible with type ${type}`;
  };
  switch (type) {
    case 'volume':
    case '':
      return bad(['tmpfs', 'bind']) ?? volumeMount(result, vol, source, stackVolumes, input.stack);
    case 'bind':
      if (isObj(vol.bind) && vol.bind.propagation) result.BindOptions = { Propagation: String(vol.bind.propagation) };
      return bad(['volume', 'tmpfs']) ?? result;
    case 'tmpfs':
      if (source !== '') return 'invalid tmpfs source, source must be empty';
      if (isObj(vol.tmpfs) && typeof vol.tmpfs.size === 'number' && vol.tmpfs.size !== 0) result.TmpfsOptions = { SizeBytes: vol.tmpfs.size };
      return bad(['bind', 'volume']) ?? result;
    case 'npipe':
      return 'npipe mounts are for Windows engines: a Linux swarm cannot run them';
    case 'cluster':
      if (source === '') return 'invalid cluster source, source cannot be empty';
      return bad(['tmpfs', 'bind', 'volume']) ?? clusterMount(result, source, stackVolumes, input.stack);
    default:
      return 'volume type must be volume, bind, tmpfs, npipe, or cluster';
  }
}

// handleVolumeToMount: a named volume is the stack's (namespaced, labelled, with its driver) unless
// external or named; an anonymous one is only a target.
function volumeMount(result: Obj, vol: Obj, source: string, stackVolumes: Obj, stack: string): Obj | string {
  if (source === '') return result;
  if (!(source in stackVolumes)) return `undefined volume ${JSON.stringify(source)}: declare it under the top-level volumes:`;
  const stackVolume = (stackVolumes[source] ?? {}) as Obj;
  result.Source = `${stack}_${source}`;
  const options: Obj = {};
  const vo = isObj(vol.volume) ? vol.volume : undefined;
  if (vo?.nocopy === true) options.NoCopy = true;
  if (vo?.subpath) options.Subpath = String(vo.subpath);
  const ext = stackVolume.external;
  const external = ext === true || isObj(ext);
  const extName = isObj(ext) ? str(ext.name) : undefined;
  const name = str(stackVolume.name) ?? extName ?? (external ? source : undefined);
  if (name !== undefined) result.Source = name;
  if (!external) {
    options.Labels = namespaced(stack, mapping(stackVolume.labels));
    const driverOpts = mapping(stackVolume.driver_opts);
    if (stackVolume.driver !== undefined || stackVolume.driver_opts !== undefined) {
      const driver: Obj = { Name: str(stackVolume.driver) ?? '' };
      if (driverOpts && Object.keys(driverOpts).length > 0) driver.Options = driverOpts;
      options.DriverConfig = driver;
    }
  }
  result.VolumeOptions = options;
  return result;
}

// handleClusterToMount: a volume group ("group:name") is not namespaced and need not be declared.
function clusterMount(result: Obj, source: string, stackVolumes: Obj, stack: string): Obj | string {
  result.ClusterOptions = {};
  if (source.startsWith('group:')) return result;
  if (!(source in stackVolumes)) return `undefined volume ${JSON.stringify(source)}: declare it under the top-level volumes:`;
  result.Source = str((stackVolumes[source] as Obj | null)?.name) ?? `${stack}_${source}`;
  return result;
}
