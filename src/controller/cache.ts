// The services cache: an informer, as Kubernetes controllers keep one. One list fills it; each service
// event is followed by one inspect of the service it names, and the answer replaces the cached one if its
// version index is newer; a `remove` event drops it. A pass plans on the cache instead of listing every
// service, so that correcting one drift costs the same at 15 services as at 5,000.
//
// Level-triggered still: a resync and every reconnection of the events stream relist and replace the cache,
// and a write still goes out with the version read (the engine refuses a stale one, and the apply path
// reads the object again). The cache is trusted only while the events stream is followed (`follow`): a
// one-shot `plan` or `apply`, or an instance whose stream broke, lists at every pass. A service warden
// wrote is read again before the next pass plans on it, unless its event's read came after the write. What an event cannot tell (the services' task counts, the nodes' reachability and
// leadership) is kept only as far as a list tells it: the task counts of the last list that had them stay
// with each service (an inspect has none) for reconcilers that only report from them (`recent`), and a
// pass whose reconcilers act on them (`fresh`) lists with them; a pass always lists the nodes (a short
// list: one per machine).
//
// Reads overlap (an inspect may still be out while a relist comes back, or two inspects of one service
// answer in the other order), so every read takes a ticket when it starts, and every entry and every removal
// remembers the ticket of the read that taught it: an answer never undoes what a later-started read or a
// later removal taught, and of two answers about one service the higher version index wins.
import { EngineError } from '../docker/errors.js';
import type { DockerPort, SwarmService } from '../docker/port.js';
import type { CountsNeed } from '../reconcilers/types.js';

/**
 * CACHE_MAX_AGE_MS is how old the last list may be before a pass lists again (default 5 min), whatever the
 * resync schedule: an events stream over a connection that died without a word (a half-open TCP one)
 * still looks followed, and what it missed must not be planned on for longer than this.
 */
export const CACHE_MAX_AGE_MS = 5 * 60_000;

/**
 * MAX_HEARD_READS is how many services named by events during a list are read one by one after it
 * (default 16); beyond it the cache lists again.
 */
export const MAX_HEARD_READS = 16;

interface Entry {
  service: SwarmService;
  ticket: number;
}

/** ServiceCache keeps every service as of the last list and the events since. */
export class ServiceCache {
  private readonly entries = new Map<string, Entry>();
  // Removed services, by the ticket of the removal: an answer from a read that started before it is stale.
  private readonly removed = new Map<string, number>();
  // Services warden wrote, by the ticket at the write's answer: read again before services() returns.
  private readonly written = new Map<string, number>();
  // Services an event named while the cache was not synced (its list was out, or not yet sent), by the
  // ticket at the event: a list that started before the event may not have it, so they are read again
  // after the list, before services() returns.
  private readonly heard = new Map<string, number>();
  private ticket = 0;
  private listed = false;
  // Bumped whenever the cache stops being synced (follow, invalidate): a list that started before that
  // may miss events the stream lost, and must not mark the cache synced when it lands.
  private generation = 0;
  // When the last list that synced the cache started (monotonic ms).
  private listedAt = -Infinity;
  // Whether the last list had the task counts (every entry then carries some).
  private counted = false;
  private following = false;

  /**
   * `port` serves the reads of a pass (lists, and the re-read of a service warden wrote); `eventsPort` the
   * reads that follow events (default `port`). The controller watches the first for liveness: answers that
   * arrive because services churn must not make a stuck pass look alive.
   */
  constructor(
    private readonly port: DockerPort,
    private readonly eventsPort: DockerPort = port,
    private readonly maxAgeMs = CACHE_MAX_AGE_MS,
  ) {}

  /** synced is true while the events stream is followed and a list has filled the cache since (until invalidate()). */
  get synced(): boolean {
    return this.following && this.listed;
  }

  /**
   * follow says whether the events stream is followed now; while it is not, every services() lists. Either
   * way the next services() lists: a list from before the stream connected may miss what happened since.
   */
  follow(following: boolean): void {
    this.following = following;
    this.invalidate();
  }

  /** invalidate makes the next services() list again (the events stream broke: events may have been missed). */
  invalidate(): void {
    this.listed = false;
    this.generation += 1;
  }

  /**
   * services returns the cached services, listing first when the cache is not synced or `relist` is asked.
   * With `counts: 'fresh'` it always lists, with the task counts; with `recent`, it lists with them when the
   * last list had none; either way it keeps what it read.
   */
  async services(opts: { relist?: boolean; counts?: CountsNeed } = {}): Promise<SwarmService[]> {
    const counts = opts.counts ?? false;
    const old = performance.now() - this.listedAt > this.maxAgeMs;
    if (!this.synced || old || opts.relist || counts === 'fresh' || (counts === 'recent' && !this.counted)) {
      await this.relist(counts !== false);
    }
    // Many services changed while the list was out (a stack deployed, a cold boot): one more list is
    // cheaper than a read each, and it started after those events.
    if (this.heard.size > MAX_HEARD_READS) await this.relist(counts !== false);
    // What the list (or the events' reads) cannot be trusted to have: warden's own writes, and what
    // events named while the cache was not synced, later than the list's start.
    const again = new Set([...this.written.keys(), ...this.heard.keys()]);
    if (again.size > 0) await Promise.all([...again].map((id) => this.read(id, this.port)));
    return [...this.entries.values()].map((e) => e.service);
  }

  /** peek returns what the cache holds now, without reading anything (for tests and benchmarks). */
  peek(): SwarmService[] {
    return [...this.entries.values()].map((e) => e.service);
  }

  /** wrote records that warden changed a service: the cache reads it again before a pass plans on it. */
  wrote(id: string): void {
    this.written.set(id, ++this.ticket);
  }

  /**
   * heardOf records a service event that arrived while the cache was not synced (no read is made then):
   * the next services() reads that service again unless its list started after the event.
   */
  heardOf(id: string): void {
    this.heard.set(id, ++this.ticket);
  }

  /**
   * refresh reads the one service an event named and keeps the answer if it is newer than what the cache
   * has; a service the engine no longer has is dropped. `removed` (the event was a removal) drops it without
   * a read.
   */
  async refresh(id: string, removed = false): Promise<void> {
    if (removed) {
      this.drop(id, ++this.ticket);
      return;
    }
    await this.read(id, this.eventsPort);
  }

  private async read(id: string, port: DockerPort): Promise<void> {
    const ticket = ++this.ticket;
    let service: SwarmService;
    try {
      service = await port.inspectService(id);
    } catch (err) {
      if (err instanceof EngineError && err.code === 'not-found') {
        this.drop(id, ticket);
        if ((this.heard.get(id) ?? Infinity) < ticket) this.heard.delete(id);
        return;
      }
      // Nothing is learnt; the next list will tell. The events follower logs it.
      throw err;
    }
    this.keep(service, ticket);
    // A read that began after warden's write (or an event) has it in it.
    if ((this.written.get(id) ?? Infinity) < ticket) this.written.delete(id);
    if ((this.heard.get(id) ?? Infinity) < ticket) this.heard.delete(id);
  }

  private async relist(status: boolean): Promise<void> {
    const ticket = ++this.ticket;
    const generation = this.generation;
    const started = performance.now();
    const listed = await this.port.listServices({ status });
    const seen = new Set<string>();
    for (const s of listed) {
      seen.add(s.id);
      this.keep(s, ticket);
    }
    // Gone from the list: dropped, unless a read that started after the list taught it.
    for (const [id, entry] of this.entries) if (!seen.has(id) && entry.ticket < ticket) this.entries.delete(id);
    // A removal older than this list is in the list already (as an absence): forget it.
    for (const [id, at] of this.removed) if (at < ticket) this.removed.delete(id);
    for (const [id, at] of this.written) if (at < ticket) this.written.delete(id);
    for (const [id, at] of this.heard) if (at < ticket) this.heard.delete(id);
    // Synced only if nothing made the cache unsynced while the list was out (the stream broke and came back).
    this.listed = generation === this.generation;
    if (this.listed) this.listedAt = started;
    this.counted = status;
  }

  private keep(service: SwarmService, ticket: number): void {
    if ((this.removed.get(service.id) ?? -1) > ticket) return;
    const had = this.entries.get(service.id);
    // The higher version index wins; at the same index (the engine's own status writes do not always bump
    // it), the later-started read does, since it may carry the task counts or the update status.
    if (had && (had.service.version > service.version || (had.service.version === service.version && had.ticket > ticket))) return;
    // An inspect has no task counts: the last list's stay with the service until the next list with them.
    const kept = service.status === undefined && had?.service.status ? { ...service, status: had.service.status } : service;
    this.entries.set(service.id, { service: kept, ticket });
  }

  private drop(id: string, ticket: number): void {
    this.written.delete(id);
    const had = this.entries.get(id);
    if (had && had.ticket > ticket) return;
    this.entries.delete(id);
    this.removed.set(id, Math.max(ticket, this.removed.get(id) ?? -1));
  }
}
