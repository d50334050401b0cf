// What a revision's sops files decrypted to, kept so that none of it is ever shown (contract §2,
// "Encrypted files": plaintext never reaches a log, a plan or /status). The loader records every value
// it decrypted; the stacks reconciler marks the fields that hold one (shown `(encrypted) changed`), and
// the views, drift messages and errors go through mask/scrub as a last net. The values are held in
// private fields: an object that holds a SealedValues serializes, logs and clones without them.
import { ENCRYPTED } from '../redact.js';

/**
 * MIN_WITHIN is the length from which a sealed value is looked for anywhere inside a text (a URL that
 * interpolates a password, a message); a shorter one (a port, `1`, an int, a bool) is matched only as a
 * whole value or a whole token of one (the value of NAME=value, of a constraint, an argument).
 */
export const MIN_WITHIN = 4;

// A token of a shown string: what lies between spaces and the punctuation that separates values in
// specs (NAME=value, node.labels.zone==a, host:port, a/b, "x", k=v,k=v); dots, dashes and underscores
// stay inside (1.2, eu-west, DB_NAME).
const TOKEN = /[^\s=:,;/@"'`()[\]{}<>!|&]+/g;

interface Layer {
  /** exact holds every value, matched whole. */
  exact: Set<string>;
  /** within holds the string values of MIN_WITHIN characters or more, matched anywhere in a text. */
  within: Set<string>;
}

function emptyLayer(): Layer {
  return { exact: new Set(), within: new Set() };
}

/**
 * SealedValues are the plaintext values of a revision's sops-encrypted files (and, once the controller
 * has moved on from one, of the revision before: a value removed or moved to the clear in this one is
 * still masked where the engine still holds it). Empty by default.
 */
export class SealedValues {
  // The first layer is this revision's own; a second, the previous revision's own (following()).
  readonly #layers: Layer[];
  #longestFirst: string[] | undefined;

  constructor() {
    this.#layers = [emptyLayer()];
  }

  /** add records a decrypted value; `typed` (an int, float or bool of sops) is matched only whole. Default: a string. */
  add(value: string, typed = false): void {
    if (value === '') return;
    const own = this.#layers[0]!;
    own.exact.add(value);
    if (!typed && value.length >= MIN_WITHIN) own.within.add(value);
    this.#longestFirst = undefined;
  }

  /** size is how many distinct values this revision's files decrypted (not counting the previous revision's). */
  get size(): number {
    return this.#layers[0]!.exact.size;
  }

  /** following returns a copy of these values joined by `previous`'s own (not by those it carried itself: one revision back). */
  following(previous: SealedValues | undefined): SealedValues {
    const copy = (l: Layer): Layer => ({ exact: new Set(l.exact), within: new Set(l.within) });
    const out = new SealedValues();
    out.#layers[0] = copy(this.#layers[0]!);
    if (previous) out.#layers.push(copy(previous.#layers[0]!));
    return out;
  }

  /** holds tells whether a value (a string, number or boolean, or a list or mapping of them, keys too) carries a sealed value. */
  holds(value: unknown): boolean {
    if (typeof value === 'string') return this.#holdsString(value);
    if (typeof value === 'number' || typeof value === 'boolean') return this.#exact(String(value));
    if (Array.isArray(value)) return value.some((v) => this.holds(v));
    if (value !== null && typeof value === 'object') return Object.entries(value).some(([k, v]) => this.#holdsString(k) || this.holds(v));
    return false;
  }

  /** mask returns a copy of a value to show, each sealed value in it replaced by `(encrypted)`. */
  mask(value: unknown): unknown {
    if (typeof value === 'string') {
      if (this.#exact(value)) return ENCRYPTED;
      const eq = value.indexOf('=');
      if (eq >= 0 && this.#exact(value.slice(eq + 1))) return `${this.scrub(value.slice(0, eq))}=${ENCRYPTED}`;
      return this.scrub(value.replace(TOKEN, (t) => (this.#exact(t) ? ENCRYPTED : t)));
    }
    if (typeof value === 'number' || typeof value === 'boolean') return this.#exact(String(value)) ? ENCRYPTED : value;
    if (Array.isArray(value)) return value.map((v) => this.mask(v));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.scrub(k), this.mask(v)]));
    return value;
  }

  /** scrub replaces each sealed value of MIN_WITHIN characters or more in a text (a message, a name) with `(encrypted)`. */
  scrub(text: string): string {
    let out = text;
    // Longest first, so that a value that contains a shorter one is replaced whole.
    for (const v of this.#sorted()) if (out.includes(v)) out = out.split(v).join(ENCRYPTED);
    return out;
  }

  #exact(s: string): boolean {
    return this.#layers.some((l) => l.exact.has(s));
  }

  #holdsString(s: string): boolean {
    if (this.#exact(s)) return true;
    // NAME=value (an env entry, a label, --flag=value), whatever the value holds.
    const eq = s.indexOf('=');
    if (eq >= 0 && this.#exact(s.slice(eq + 1))) return true;
    // A short value as a whole token: the value of a constraint, an argument of a command.
    if ((s.match(TOKEN) ?? []).some((t) => this.#exact(t))) return true;
    return this.#sorted().some((v) => s.includes(v));
  }

  #sorted(): string[] {
    this.#longestFirst ??= [...new Set(this.#layers.flatMap((l) => [...l.within]))].sort((a, b) => b.length - a.length);
    return this.#longestFirst;
  }
}

/** sealedScrub is `sealed.scrub(text)`, or the text itself when nothing is sealed. */
export function sealedScrub(sealed: SealedValues | undefined, text: string): string {
  return sealed ? sealed.scrub(text) : text;
}
