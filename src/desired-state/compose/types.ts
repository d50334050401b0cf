// What a compose file with `deploy: true` becomes: the engine objects `docker stack deploy` would make
// from it, named and labelled as it names and labels them. Specs are the engine's JSON shapes (what the
// API takes and returns), so that the stacks reconciler compares them field by field with what it reads.
import type { ServiceSpec } from '../../docker/port.js';

/** LABEL_NAMESPACE is the label stack deploy puts on every object of a stack (docker/cli's LabelNamespace). */
export const LABEL_NAMESPACE = 'com.docker.stack.namespace';
/** LABEL_IMAGE is the service label that keeps the image as the file wrote it (docker/cli's LabelImage). */
export const LABEL_IMAGE = 'com.docker.stack.image';
/** LABEL_CONTENT_HASH is warden's label on the configs and secrets it creates: the sha256 of their content. */
export const LABEL_CONTENT_HASH = 'warden.content-sha256';

/** ResolveImage is stack deploy's --resolve-image: when to ask the registry for the image's digest. */
export type ResolveImage = 'always' | 'changed' | 'never';

/** StackService is one service of a stack: its full spec as stack deploy would send it. */
export interface StackService {
  /** key is the service's name in the compose file; the swarm name is `<stack>_<key>`. */
  key: string;
  name: string;
  /**
   * spec is the ServiceSpec; networks, secrets and configs are referenced by name (Target, SecretName,
   * ConfigName) with empty IDs: the plan puts in the IDs it observes.
   */
  spec: ServiceSpec;
  /** image is the image as the file wrote it (the com.docker.stack.image label). */
  image: string;
}

/** NetworkSpec is the body of `POST /networks/create` for a stack network. */
export interface NetworkSpec {
  Name: string;
  Driver: string;
  Options?: Record<string, string>;
  Labels: Record<string, string>;
  Internal?: boolean;
  Attachable?: boolean;
  IPAM?: { Driver?: string; Config?: Array<{ Subnet: string }> };
}

/** StackNetwork is a network a stack's services attach to. */
export interface StackNetwork {
  key: string;
  name: string;
  /** external networks must exist (swarm-scoped) and are never created or removed; spec is then absent. */
  external: boolean;
  spec?: NetworkSpec;
}

/** StackFileObject is a config or secret of a stack. */
export interface StackFileObject {
  kind: 'config' | 'secret';
  key: string;
  /** name is `<stack>_<key>_<hash8>`, the `name:` the file gives, or the external object's name. */
  name: string;
  /** fixedName is true when the file gave the name (`name:`), so that a content change cannot rotate it. */
  fixedName: boolean;
  external: boolean;
  /** data is the content, base64 as the API takes it; absent for external and driver objects. */
  data?: string;
  /** hash is the sha256 (hex) of the content; absent when data is. */
  hash?: string;
  labels: Record<string, string>;
  /** driver is a secret's driver (the content then comes from it, not from a file). */
  driver?: { Name: string; Options?: Record<string, string> };
  templating?: { Name: string };
}

/** DesiredStack is one stack with `deploy: true`: everything warden creates and keeps for it. */
export interface DesiredStack {
  name: string;
  /** file is the compose file's path, for messages. */
  file: string;
  prune: boolean;
  resolveImage: ResolveImage;
  services: StackService[];
  networks: StackNetwork[];
  configs: StackFileObject[];
  secrets: StackFileObject[];
}
