// Stack images' digests, asked for off the pass (issue 24, 2.6). `resolveImage` pins a deployed stack's
// images to the digest their registry gives (`GET /distribution`, through the engine). Asked at every
// pass, each ask counted as a pull against the registry's rate limit, and a registry that hung held the
// pass, every reconciler after the snapshot included, until the engine client's 30 s timeout. So the
// answers are kept here, between passes:
// - an image is asked for again only when the desired state's revision changed (a new commit may move a
//   tag) or the interval passed since it was last asked; never twice at once;
// - a pass waits only for an image that has no answer for the revision in force, and then at most the
//   deadline after that ask started; past it, the pass goes on with the last answer of an earlier
//   revision if there is one, else with the image unresolved (deployed by its tag, as stack deploy does);
// - an ask because the interval passed is not waited for: the pass keeps the answer it has meanwhile
//   (stale while revalidating), and an answer that changes what passes were given asks for a pass.
// A failed ask is an answer too (the image is unresolved): it is asked again at the next revision or
// interval, not at every pass.
import type { DockerPort, ImageDistribution } from '../docker/port.js';
import { isStackPort } from './stack-apply.js';

/** RESOLVE_IMAGE_INTERVAL_MS is how often an image's digest is asked for again within one revision (default 10 min). */
export const RESOLVE_IMAGE_INTERVAL_MS = 600_000;
/** RESOLVE_IMAGE_TIMEOUT_MS is how long a pass waits for an image's digest it has no answer for (default 5 s). */
export const RESOLVE_IMAGE_TIMEOUT_MS = 5_000;

/** ImageDigestsOptions wire an ImageDigests. */
export interface ImageDigestsOptions {
  /** port asks the registry, through the engine (a port without StackPort's calls answers every ask with an error). */
  port: DockerPort;
  /** registryAuth gives the X-Registry-Auth for an image (default none). */
  registryAuth?: ((image: string) => string | undefined) | undefined;
  /** now is the controller's clock (ms): the interval is measured on it. */
  now(): number;
  /** intervalMs is RESOLVE_IMAGE_INTERVAL_MS unless given. */
  intervalMs?: number | undefined;
  /** timeoutMs is RESOLVE_IMAGE_TIMEOUT_MS unless given. */
  timeoutMs?: number | undefined;
  /** onChange is told when an answer changes the digest passes were given for an image (default none). */
  onChange?: (() => void) | undefined;
}

/** ResolvedImages is what a pass hands to the stacks reconciler: digests, and why the others have none. */
export interface ResolvedImages {
  images: Map<string, ImageDistribution>;
  unresolved: Map<string, string>;
}

/** ImageResolver gives a pass the digests of `images` (observe's part of an ImageDigests). */
export type ImageResolver = (images: readonly string[]) => Promise<ResolvedImages>;

type Answer = { ok: true; value: ImageDistribution } | { ok: false; error: string };

interface Asking {
  revision: string | undefined;
  // Ends at the answer or at the deadline, whichever comes first; `late` once the deadline passed.
  first: Promise<void>;
  late: boolean;
  // A pass waits for it: an answer in time goes to that pass, with no need to ask for another.
  waited: boolean;
}

interface Entry {
  // When the last ask started (controller clock) and for which revision.
  askedAt: number;
  revision: string | undefined;
  asking?: Asking | undefined;
  answer?: { result: Answer; revision: string | undefined } | undefined;
  // The digest the last pass was given ('' for none): a later answer that differs asks for a pass.
  given?: string | undefined;
}

/** ImageDigests keeps the registry's answers for stack images between passes; see the top of this file. */
export class ImageDigests {
  private readonly entries = new Map<string, Entry>();
  private readonly intervalMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: ImageDigestsOptions) {
    this.intervalMs = opts.intervalMs ?? RESOLVE_IMAGE_INTERVAL_MS;
    this.timeoutMs = opts.timeoutMs ?? RESOLVE_IMAGE_TIMEOUT_MS;
  }

  /**
   * lookup gives the digests of `images` for the desired state at `revision`: from the answers kept, after
   * asking for those that are due, waiting only for those without an answer for this revision, and for
   * each at most the deadline after its ask started.
   */
  async lookup(images: readonly string[], revision: string | undefined): Promise<ResolvedImages> {
    const now = this.opts.now();
    this.forget(new Set(images), now);
    const waits: Array<Promise<void>> = [];
    for (const image of new Set(images)) {
      let entry = this.entries.get(image);
      if (!entry) this.entries.set(image, (entry = { askedAt: -Infinity, revision }));
      if (!entry.asking && (entry.revision !== revision || now - entry.askedAt >= this.intervalMs)) this.ask(image, entry, revision, now);
      const current = entry.answer !== undefined && entry.answer.revision === revision;
      if (entry.asking && !entry.asking.late && !current) {
        entry.asking.waited = true;
        waits.push(entry.asking.first);
      }
    }
    await Promise.all(waits);
    const out: ResolvedImages = { images: new Map(), unresolved: new Map() };
    for (const image of new Set(images)) {
      const entry = this.entries.get(image)!;
      const result = entry.answer?.result;
      if (result === undefined) {
        out.unresolved.set(image, `the registry has not answered within ${seconds(this.timeoutMs)}`);
      } else if (!result.ok) {
        out.unresolved.set(image, result.error);
      } else if (result.value.digest !== '') {
        // structuredClone: a plan may not change what the next pass is given.
        out.images.set(image, structuredClone(result.value));
      }
      entry.given = givenOf(result);
    }
    return out;
  }

  // One ask of the registry for `image`; the entry holds it until it ends, whenever that is.
  private ask(image: string, entry: Entry, revision: string | undefined, now: number): void {
    entry.askedAt = now;
    entry.revision = revision;
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd: a one-shot `plan` awaits it (issue 24, 0.2); it is cleared at the answer.
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), this.timeoutMs);
    });
    // Called at once; a port that throws is a failed ask, not an exception of the pass.
    const { port, registryAuth } = this.opts;
    const answered = new Promise<ImageDistribution>((resolve) => {
      if (!isStackPort(port)) throw new Error('this engine port cannot ask a registry');
      resolve(port.inspectDistribution(image, registryAuth?.(image)));
    }).then(
      (value): Answer => ({ ok: true, value }),
      (err: unknown): Answer => ({ ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
    const asking: Asking = { revision, late: false, waited: false, first: Promise.resolve() };
    // Registered before `first`'s own reaction: a pass that waited reads the entry with the answer in it.
    void answered.then((result) => {
      clearTimeout(timer);
      if (entry.asking === asking) entry.asking = undefined;
      entry.answer = { result, revision };
      // A pass was given something else (nothing, an older digest) and none waits for this answer: look
      // again with it.
      const waiting = asking.waited && !asking.late;
      if (!waiting && entry.given !== undefined && entry.given !== givenOf(result)) this.opts.onChange?.();
    });
    asking.first = Promise.race([answered, deadline]).then((r) => {
      if (r === 'deadline') asking.late = true;
    });
    entry.asking = asking;
  }

  // Images no pass asked for within an interval are dropped (a stack removed, a tag changed): the cache
  // holds what the desired state names, not every image it ever named.
  private forget(wanted: ReadonlySet<string>, now: number): void {
    for (const [image, entry] of this.entries) {
      if (!wanted.has(image) && !entry.asking && now - entry.askedAt >= this.intervalMs) this.entries.delete(image);
    }
  }
}

function givenOf(result: Answer | undefined): string {
  return result?.ok ? result.value.digest : '';
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
