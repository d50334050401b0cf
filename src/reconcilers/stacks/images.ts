// The image a stack service's write sends, as `docker stack deploy --resolve-image` decides it, and whether
// the live service still runs the file's image (a hand-changed image is drift like any other field).
import { familiarImage } from '../../desired-state/compose/convert.js';
import { LABEL_IMAGE, type DesiredStack } from '../../desired-state/compose/types.js';
import type { ServiceSpec, SwarmService } from '../../docker/port.js';
import type { StackObservation } from '../types.js';

/**
 * deployedFrom tells whether `live` runs the file's `image` as deployed: its com.docker.stack.image label
 * says the file had it, and its image is that image (a digest stack deploy pinned aside). The label alone
 * is not enough: `docker service update --image` leaves it as it was.
 */
export function deployedFrom(live: SwarmService | undefined, image: string): boolean {
  if (live === undefined || live.spec.Labels?.[LABEL_IMAGE] !== image) return false;
  return sameImage(imageOf(live.spec), image);
}

/** sameImage tells whether a live image is the file's: same name and tag, and same digest when the file pins one. */
export function sameImage(live: string, file: string): boolean {
  const l = splitImage(familiarImage(live));
  const f = splitImage(familiarImage(file));
  if (f.digest !== '') return l.name === f.name && l.digest === f.digest;
  return l.name === f.name && l.tag === f.tag;
}

/** imageOf is a spec's image reference. */
export function imageOf(spec: ServiceSpec): string {
  return String(spec.TaskTemplate?.ContainerSpec?.Image ?? '');
}

/**
 * pinImage sets the image a write sends, as stack deploy decides it: an image still deployed from the file
 * (deployedFrom) keeps the live reference, digest included, unless resolveImage is always; an image to
 * resolve is pinned to the digest the registry gave (and its platforms), when it gave one.
 */
export function pinImage(spec: ServiceSpec, image: string, stack: DesiredStack, live: SwarmService | undefined, seen: StackObservation): void {
  const c = spec.TaskTemplate!.ContainerSpec!;
  const unchanged = deployedFrom(live, image);
  const resolved = stack.resolveImage === 'never' ? undefined : seen.images.get(image);
  if (live && unchanged && (stack.resolveImage !== 'always' || !resolved)) {
    c.Image = live.spec.TaskTemplate?.ContainerSpec?.Image ?? c.Image;
    const platforms = live.spec.TaskTemplate?.Placement?.Platforms;
    if (platforms !== undefined) spec.TaskTemplate = { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Platforms: platforms } };
    return;
  }
  if (!resolved || !resolved.digest) return;
  const tagged = familiarImage(image);
  c.Image = tagged.includes('@') ? tagged : `${tagged}@${resolved.digest}`;
  const platforms = resolved.platforms.map((p) => ({ Architecture: p.architecture.toLowerCase() === 'arm' ? '' : p.architecture, OS: p.os }));
  if (platforms.length > 0) spec.TaskTemplate = { ...spec.TaskTemplate, Placement: { ...spec.TaskTemplate?.Placement, Platforms: platforms } };
}

// name, :tag and @digest of a familiar reference (familiarImage gives every untagged name :latest).
function splitImage(ref: string): { name: string; tag: string; digest: string } {
  const at = ref.indexOf('@');
  const digest = at < 0 ? '' : ref.slice(at + 1);
  const rest = at < 0 ? ref : ref.slice(0, at);
  const colon = rest.lastIndexOf(':');
  return colon > rest.lastIndexOf('/') ? { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest } : { name: rest, tag: '', digest };
}
