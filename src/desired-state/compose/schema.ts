// The compose file format `docker stack deploy` accepts: the v3 JSON Schema of docker/cli
// (cli/compose/schema/data/config_schema_v3.13.json, v28.2), written out again here as draft-07 for ajv,
// and a table of the keys each later 3.x version added, so that a key a file's `version:` does not know
// yet is refused as docker/cli refuses it. What the schema leaves open (a port string, a duration) is
// checked by the formats below with the same rules as docker/cli's checkers.

/** COMPOSE_VERSIONS lists the compose file versions stack deploy reads; "3" and no version mean 3.13. */
export const COMPOSE_VERSIONS = ['3.0', '3.1', '3.2', '3.3', '3.4', '3.5', '3.6', '3.7', '3.8', '3.9', '3.10', '3.11', '3.12', '3.13'] as const;
/** ComposeVersion is one of COMPOSE_VERSIONS. */
export type ComposeVersion = (typeof COMPOSE_VERSIONS)[number];
/** DEFAULT_COMPOSE_VERSION is the version of a file without `version:` (docker/cli's defaultVersion). */
export const DEFAULT_COMPOSE_VERSION: ComposeVersion = '3.13';

type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const bool: Schema = { type: 'boolean' };
const int: Schema = { type: 'integer' };
const num: Schema = { type: 'number' };
const duration: Schema = { type: 'string', format: 'duration' };
const ref = (name: string): Schema => ({ $ref: `#/definitions/${name}` });
const obj = (properties: Record<string, Schema>, extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  additionalProperties: false,
  ...extra,
});
const stringOrArray: Schema = { oneOf: [str, { type: 'array', items: str }] };
const driverOpts: Schema = { type: 'object', patternProperties: { '^.+$': { type: ['string', 'number'] } } };
const external: Schema = { type: ['boolean', 'object'], properties: { name: str }, additionalProperties: false };
const fileRef: Schema = {
  oneOf: [str, { type: 'object', properties: { source: str, target: str, uid: str, gid: str, mode: num } }],
};
const updateConfig = obj({
  parallelism: int,
  delay: duration,
  failure_action: str,
  monitor: duration,
  max_failure_ratio: num,
  order: { type: 'string', enum: ['start-first', 'stop-first'] },
});
const NAME = '^[a-zA-Z0-9._-]+$';
const extensions = { '^x-': {} };

const service: Schema = obj(
  {
    deploy: ref('deployment'),
    build: {
      oneOf: [
        str,
        {
          type: 'object',
          properties: {
            context: str, dockerfile: str, args: ref('list_or_dict'), labels: ref('list_or_dict'),
            cache_from: ref('list_of_strings'), network: str, target: str, shm_size: { type: ['integer', 'string'] },
            extra_hosts: ref('list_or_dict'),
          },
          additionalProperties: true,
        },
      ],
    },
    cap_add: { type: 'array', items: str, uniqueItems: true },
    cap_drop: { type: 'array', items: str, uniqueItems: true },
    cgroupns_mode: str,
    cgroup_parent: str,
    command: stringOrArray,
    configs: { type: 'array', items: fileRef },
    container_name: str,
    credential_spec: obj({ config: str, file: str, registry: str }),
    depends_on: ref('list_of_strings'),
    devices: { type: 'array', items: str, uniqueItems: true },
    dns: ref('string_or_list'),
    dns_search: ref('string_or_list'),
    domainname: str,
    entrypoint: stringOrArray,
    env_file: ref('string_or_list'),
    environment: ref('list_or_dict'),
    expose: { type: 'array', items: { type: ['string', 'number'], format: 'expose' }, uniqueItems: true },
    external_links: { type: 'array', items: str, uniqueItems: true },
    extra_hosts: ref('list_or_dict'),
    healthcheck: ref('healthcheck'),
    hostname: str,
    image: str,
    init: bool,
    ipc: str,
    isolation: str,
    labels: ref('list_or_dict'),
    links: { type: 'array', items: str, uniqueItems: true },
    logging: obj({
      driver: str,
      options: { type: 'object', patternProperties: { '^.+$': { type: ['string', 'number', 'null'] } } },
    }),
    mac_address: str,
    network_mode: str,
    networks: {
      oneOf: [
        ref('list_of_strings'),
        {
          type: 'object',
          patternProperties: {
            [NAME]: {
              oneOf: [
                obj({ aliases: ref('list_of_strings'), driver_opts: driverOpts, ipv4_address: str, ipv6_address: str }),
                { type: 'null' },
              ],
            },
          },
          additionalProperties: false,
        },
      ],
    },
    pid: { type: ['string', 'null'] },
    ports: {
      type: 'array',
      items: {
        oneOf: [
          // docker/cli checks a number's port too, but any whole number parses: the range is checked on conversion.
          { type: 'number' },
          { type: 'string', format: 'ports' },
          obj({ mode: str, target: int, published: int, protocol: str }),
        ],
      },
      uniqueItems: true,
    },
    privileged: bool,
    read_only: bool,
    restart: str,
    security_opt: { type: 'array', items: str, uniqueItems: true },
    shm_size: { type: ['number', 'string'] },
    secrets: { type: 'array', items: fileRef },
    sysctls: ref('list_or_dict'),
    stdin_open: bool,
    stop_grace_period: duration,
    stop_signal: str,
    tmpfs: ref('string_or_list'),
    tty: bool,
    ulimits: {
      type: 'object',
      patternProperties: {
        '^[a-z]+$': { oneOf: [int, obj({ hard: int, soft: int }, { required: ['soft', 'hard'] })] },
      },
    },
    oom_score_adj: int,
    user: str,
    userns_mode: str,
    volumes: {
      type: 'array',
      items: {
        oneOf: [
          str,
          obj(
            {
              type: str,
              source: str,
              target: str,
              read_only: bool,
              consistency: str,
              bind: { type: 'object', properties: { propagation: str } },
              volume: { type: 'object', properties: { nocopy: bool } },
              tmpfs: { type: 'object', properties: { size: { type: 'integer', minimum: 0 } } },
            },
            { required: ['type'] },
          ),
        ],
      },
      uniqueItems: true,
    },
    working_dir: str,
  },
  { patternProperties: extensions },
);

/** COMPOSE_SCHEMA is the compose v3.13 JSON Schema (draft-07) that stack deploy validates files against. */
export const COMPOSE_SCHEMA: Schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: {
    version: str,
    services: { type: 'object', patternProperties: { [NAME]: ref('service') }, additionalProperties: false },
    // docker/cli's schema leaves additionalProperties open for networks only.
    networks: { type: 'object', patternProperties: { [NAME]: ref('network') } },
    volumes: { type: 'object', patternProperties: { [NAME]: ref('volume') }, additionalProperties: false },
    secrets: { type: 'object', patternProperties: { [NAME]: ref('secret') }, additionalProperties: false },
    configs: { type: 'object', patternProperties: { [NAME]: ref('config') }, additionalProperties: false },
  },
  patternProperties: extensions,
  additionalProperties: false,
  definitions: {
    service,
    healthcheck: obj({
      disable: bool, interval: duration, retries: num, test: stringOrArray, timeout: duration, start_period: duration,
      start_interval: duration,
    }),
    deployment: {
      type: ['object', 'null'],
      properties: {
        mode: str,
        endpoint_mode: str,
        replicas: int,
        labels: ref('list_or_dict'),
        rollback_config: updateConfig,
        update_config: updateConfig,
        resources: obj({
          limits: obj({ cpus: str, memory: str, pids: int }),
          reservations: obj({ cpus: str, memory: str, generic_resources: ref('generic_resources') }),
        }),
        restart_policy: obj({ condition: str, delay: duration, max_attempts: int, window: duration }),
        placement: obj({
          constraints: { type: 'array', items: str },
          preferences: { type: 'array', items: obj({ spread: str }) },
          max_replicas_per_node: int,
        }),
      },
      additionalProperties: false,
    },
    generic_resources: {
      type: 'array',
      items: obj({ discrete_resource_spec: obj({ kind: str, value: num }) }),
    },
    network: {
      type: ['object', 'null'],
      properties: {
        name: str,
        driver: str,
        driver_opts: driverOpts,
        ipam: obj({ driver: str, config: { type: 'array', items: obj({ subnet: str }) } }),
        external,
        internal: bool,
        attachable: bool,
        labels: ref('list_or_dict'),
      },
      patternProperties: extensions,
      additionalProperties: false,
    },
    volume: {
      type: ['object', 'null'],
      properties: {
        name: str,
        driver: str,
        driver_opts: driverOpts,
        external,
        labels: ref('list_or_dict'),
        'x-cluster-spec': { type: 'object' },
      },
      patternProperties: extensions,
      additionalProperties: false,
    },
    secret: obj(
      {
        name: str, file: str, external: { type: ['boolean', 'object'], properties: { name: str } }, labels: ref('list_or_dict'),
        driver: str, driver_opts: driverOpts, template_driver: str,
      },
      { patternProperties: extensions },
    ),
    config: obj(
      {
        name: str, file: str, external: { type: ['boolean', 'object'], properties: { name: str } }, labels: ref('list_or_dict'),
        template_driver: str,
      },
      { patternProperties: extensions },
    ),
    string_or_list: { oneOf: [str, ref('list_of_strings')] },
    list_of_strings: { type: 'array', items: str, uniqueItems: true },
    list_or_dict: {
      oneOf: [
        { type: 'object', patternProperties: { '.+': { type: ['string', 'number', 'null'] } }, additionalProperties: false },
        { type: 'array', items: str, uniqueItems: true },
      ],
    },
  },
};

/**
 * KEY_SINCE maps the keys later versions added (a path with `*` for any name, `[]` for any item) to the
 * first version whose schema has them; a file of an older version that uses one is refused by stack deploy.
 */
export const KEY_SINCE: ReadonlyArray<readonly [string, ComposeVersion]> = [
  ['secrets', '3.1'],
  ['services.*.secrets', '3.1'],
  ['networks.*.attachable', '3.2'],
  ['services.*.build.cache_from', '3.2'],
  ['services.*.deploy.endpoint_mode', '3.2'],
  ['services.*.ports.[].mode', '3.2'],
  ['services.*.ports.[].protocol', '3.2'],
  ['services.*.ports.[].published', '3.2'],
  ['services.*.ports.[].target', '3.2'],
  ['services.*.volumes.[].type', '3.2'],
  ['configs', '3.3'],
  ['services.*.build.labels', '3.3'],
  ['services.*.configs', '3.3'],
  ['services.*.credential_spec', '3.3'],
  ['services.*.deploy.placement.preferences', '3.3'],
  ['services.*.build.network', '3.4'],
  ['services.*.build.target', '3.4'],
  ['services.*.deploy.update_config.order', '3.4'],
  ['services.*.healthcheck.start_period', '3.4'],
  ['volumes.*.name', '3.4'],
  ['configs.*.name', '3.5'],
  ['networks.*.name', '3.5'],
  ['secrets.*.name', '3.5'],
  ['services.*.build.shm_size', '3.5'],
  ['services.*.deploy.resources.reservations.generic_resources', '3.5'],
  ['services.*.isolation', '3.5'],
  ['services.*.volumes.[].tmpfs', '3.6'],
  ['services.*.deploy.rollback_config', '3.7'],
  ['services.*.init', '3.7'],
  ['configs.*.template_driver', '3.8'],
  ['secrets.*.driver', '3.8'],
  ['secrets.*.driver_opts', '3.8'],
  ['secrets.*.template_driver', '3.8'],
  ['services.*.credential_spec.config', '3.8'],
  ['services.*.deploy.placement.max_replicas_per_node', '3.8'],
  ['services.*.build.extra_hosts', '3.9'],
  ['services.*.cgroupns_mode', '3.9'],
  ['services.*.deploy.resources.limits.pids', '3.9'],
  ['services.*.healthcheck.start_interval', '3.12'],
  ['services.*.networks.*.driver_opts', '3.13'],
  ['services.*.oom_score_adj', '3.13'],
];

/** EXTENSIONS_SINCE is when `x-` keys became allowed: at the top level in 3.4, inside definitions in 3.7. */
export const EXTENSIONS_SINCE = { top: '3.4', nested: '3.7' } as const satisfies Record<string, ComposeVersion>;

/** compareVersions orders two 3.x versions numerically (3.10 after 3.9). */
export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

/** normalizeVersion reads a `version:` value as docker/cli does: absent, "" and "3" are 3.13. */
export function normalizeVersion(version: unknown): string {
  if (version === undefined) return DEFAULT_COMPOSE_VERSION;
  // YAML reads `version: 3.1` as a number; docker/cli prints it back with %v, so 3.10 becomes 3.1 there too.
  const text = String(version);
  return text === '' || text === '3' ? DEFAULT_COMPOSE_VERSION : text;
}
