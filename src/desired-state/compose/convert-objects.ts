// The stack's configs, secrets and networks, as docker/cli's convert (compose.go: Networks, Secrets,
// Configs) and deploy_composefile.go make them: external ones are only names; the others are named
// `<stack>_<key>` and labelled with the stack. warden names a config or secret by its content's hash, so
// that a change of content is a new object that services roll over to (swarm cannot change content).
import { createHash } from 'node:crypto';
import type { PathSegment } from '../yaml-source.js';
import type { ConvertInput } from './convert.js';
import { LABEL_CONTENT_HASH, type NetworkSpec, type StackFileObject, type StackNetwork } from './types.js';
import { isObj, mapping, namespaced, str, type Obj, type Report } from './values.js';

// How many hex digits of the content's sha256 a name carries.
const NAME_HASH_DIGITS = 8;

/** contentName is `<stack>_<key>_<first 8 hex of sha256>`: a config's or secret's name under warden. */
export function contentName(stack: string, key: string, hash: string): string {
  return `${stack}_${key}_${hash.slice(0, NAME_HASH_DIGITS)}`;
}

/**
 * isContentName tells whether a name is one contentName gives for this stack and key, whatever the content:
 * exactly `<stack>_<key>_` and the hash digits, so that key `app` does not claim `<stack>_app_tls_<hash>`.
 */
export function isContentName(name: string, stack: string, key: string): boolean {
  const prefix = `${stack}_${key}_`;
  return name.length === prefix.length + NAME_HASH_DIGITS && name.startsWith(prefix) && /^[0-9a-f]+$/.test(name.slice(prefix.length));
}

/** fileObject converts one entry of configs: or secrets: (undefined when stack deploy would refuse it). */
export function fileObject(
  kind: 'config' | 'secret',
  key: string,
  def: Obj,
  input: ConvertInput,
  at: PathSegment[],
  error: Report,
): StackFileObject | undefined {
  const { stack } = input;
  const labels = namespaced(stack, mapping(def.labels));
  const ext = def.external;
  const external = ext === true || isObj(ext);
  const givenName = str(def.name);
  if (external) {
    const extName = isObj(ext) ? str(ext.name) : undefined;
    if (extName !== undefined && givenName !== undefined) {
      error([...at, 'external', 'name'], `${kind} ${key}: ${kind}.external.name and ${kind}.name conflict; only use ${kind}.name`);
      return undefined;
    }
    return { kind, key, name: extName ?? givenName ?? key, fixedName: true, external: true, labels };
  }
  const out: StackFileObject = { kind, key, name: '', fixedName: givenName !== undefined, external: false, labels };
  if (def.template_driver !== undefined) out.templating = { Name: String(def.template_driver) };
  if (kind === 'secret' && def.driver !== undefined) {
    if (def.file !== undefined) {
      error([...at, 'driver'], `secret ${key}: secret.driver and secret.file conflict; only use secret.driver`);
      return undefined;
    }
    out.driver = { Name: String(def.driver) };
    const opts = mapping(def.driver_opts);
    if (opts) out.driver.Options = opts;
    // A driver secret has no content of its own: its name is fixed, as stack deploy names it.
    out.name = givenName ?? `${stack}_${key}`;
    out.fixedName = true;
    out.data = '';
    return out;
  }
  if (def.file === undefined) {
    error(at, `${kind} ${key} needs file: (or external: true${kind === 'secret' ? ', or driver:' : ''}): stack deploy cannot read its content`);
    return undefined;
  }
  const content = input.content(kind, key);
  if (content === undefined) return undefined; // the loader reported the unreadable file
  out.data = content.toString('base64');
  out.hash = createHash('sha256').update(content).digest('hex');
  out.labels = { ...labels, [LABEL_CONTENT_HASH]: out.hash };
  out.name = givenName ?? contentName(stack, key, out.hash);
  if (out.name.length > 64) {
    error([...at, ...(givenName !== undefined ? ['name'] : [])], `${kind} name ${out.name} is ${out.name.length} characters: swarm allows 64; give a shorter stack name, key or name:`, givenName === undefined);
    return undefined;
  }
  return out;
}

/** network converts one network the services use (undefined when stack deploy would refuse it). */
export function network(
  key: string,
  defRaw: unknown,
  stack: string,
  at: PathSegment[],
  error: Report,
  warn: Report,
): StackNetwork | undefined {
  const def = isObj(defRaw) ? defRaw : {};
  const ext = def.external;
  const external = ext === true || isObj(ext);
  const givenName = str(def.name);
  if (external) {
    const extName = isObj(ext) ? str(ext.name) : undefined;
    if (extName !== undefined && givenName !== undefined) {
      error([...at, 'external', 'name'], `network ${key}: network.external.name and network.name conflict; only use network.name`);
      return undefined;
    }
    if (extName !== undefined) warn([...at, 'external', 'name'], `network ${key}: network.external.name is deprecated in favor of network.name`);
    return { key, name: extName ?? givenName ?? key, external: true };
  }
  const spec: NetworkSpec = {
    Name: givenName ?? `${stack}_${key}`,
    // deploy_composefile.go: a network without a driver is an overlay network.
    Driver: str(def.driver) || 'overlay',
    Labels: namespaced(stack, mapping(def.labels)),
  };
  const opts = mapping(def.driver_opts);
  if (opts && Object.keys(opts).length > 0) spec.Options = opts;
  if (def.internal === true) spec.Internal = true;
  if (def.attachable === true) spec.Attachable = true;
  const ipam = isObj(def.ipam) ? def.ipam : undefined;
  if (ipam && (ipam.driver !== undefined || (Array.isArray(ipam.config) && ipam.config.length > 0))) {
    spec.IPAM = {};
    if (ipam.driver !== undefined) spec.IPAM.Driver = String(ipam.driver);
    if (Array.isArray(ipam.config)) spec.IPAM.Config = ipam.config.map((c) => ({ Subnet: String((c as Obj).subnet ?? '') }));
  }
  return { key, name: spec.Name, external: false, spec };
}
