// Registry credentials for deployed stacks (--registry-auth-file): a docker config.json, read as the
// docker CLI reads it, and the X-Registry-Auth header `docker stack deploy --with-registry-auth` sends
// with each service create and update (base64url of the registry's AuthConfig JSON), so that the nodes
// can pull private images. Credential helpers (credsStore, credHelpers) run programs warden does not
// have in its image: credentials must be in `auths`.

/** RegistryAuth answers the X-Registry-Auth header for an image, or undefined for a registry without credentials. */
export type RegistryAuth = (image: string) => string | undefined;

/** DOCKER_HUB_AUTH_KEY is the config.json key of Docker Hub's credentials (the CLI's IndexServer). */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/** RegistryAuthFile is a parsed config.json: the header function and what it cannot use. */
export interface RegistryAuthFile {
  auth: RegistryAuth;
  /** registries lists the registries it has credentials for (for the start-up log; never the secrets). */
  registries: string[];
  /** warnings say what the file asks for that warden cannot do (credential helpers). */
  warnings: string[];
}

/** registryOf returns the registry host an image is pulled from (docker.io for Docker Hub). */
export function registryOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  if (first.includes('.') || first.includes(':') || first === 'localhost') return first === 'index.docker.io' ? 'docker.io' : first;
  return 'docker.io';
}

// The CLI's ConvertToHostname: a key may be written as a URL with a scheme and a path.
function hostnameOf(key: string): string {
  const stripped = key.replace(/^https?:\/\//, '');
  return stripped.split('/')[0] ?? stripped;
}

/** parseRegistryAuthFile reads a docker config.json's text; it throws an Error that says what is wrong. */
export function parseRegistryAuthFile(text: string, file: string): RegistryAuthFile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not a docker config.json (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null) throw new Error(`${file}: not a docker config.json (expected an object with "auths")`);
  const cfg = raw as { auths?: Record<string, AuthEntry>; credsStore?: string; credHelpers?: Record<string, string> };
  const warnings: string[] = [];
  if (cfg.credsStore) warnings.push(`${file}: credsStore "${cfg.credsStore}" is a credential helper program warden cannot run; put the credentials in "auths"`);
  for (const [host, helper] of Object.entries(cfg.credHelpers ?? {})) {
    warnings.push(`${file}: credHelpers for ${host} ("${helper}") is a program warden cannot run; put the credentials in "auths"`);
  }
  const byHost = new Map<string, string>();
  for (const [key, entry] of Object.entries(cfg.auths ?? {})) {
    const host = key === DOCKER_HUB_AUTH_KEY || hostnameOf(key) === 'index.docker.io' ? 'docker.io' : hostnameOf(key);
    let username = entry.username ?? '';
    let password = entry.password ?? '';
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new Error(`${file}: the auth of ${key} is not base64 of user:password`);
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    const config: Record<string, string> = {};
    if (username) config.username = username;
    if (password) config.password = password;
    config.serveraddress = host === 'docker.io' ? DOCKER_HUB_AUTH_KEY : key;
    if (entry.identitytoken) config.identitytoken = entry.identitytoken;
    if (entry.registrytoken) config.registrytoken = entry.registrytoken;
    // URL-safe base64 with padding, as the docker CLI's EncodeAuthConfig (base64.URLEncoding) sends it.
    byHost.set(host, Buffer.from(JSON.stringify(config)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return {
    auth: (image) => byHost.get(registryOf(image)),
    registries: [...byHost.keys()].sort(),
    warnings,
  };
}
