// A sops file's metadata (its `sops` mapping, or the `sops_*` lines of a dotenv or INI file): who the data
// key was encrypted for, which values the file keeps in clear, and the MAC. Read leniently, as sops reads
// it: a field sops does not write for this file is simply absent.
import type { SopsRules } from './cipher.js';

/** RecipientKind is a kind of sops master key; warden opens age and pgp, and names the others. */
export type RecipientKind = 'age' | 'pgp' | 'kms' | 'gcp_kms' | 'azure_kv' | 'hc_vault' | 'hckms';

/** Recipient is one master key the data key was encrypted for: its public identity and the encrypted data key. */
export interface Recipient {
  kind: RecipientKind;
  /** id is public: an age recipient, a PGP fingerprint, a KMS ARN, a vault key's address. */
  id: string;
  enc: string;
}

/** SopsMetadata is what warden reads of a file's metadata. */
export interface SopsMetadata extends SopsRules {
  mac?: string;
  lastModified?: string;
  /** groups are the key groups; more than one means the data key is split (Shamir), which warden does not join. */
  groups: Recipient[][];
  commentRegex: boolean;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

// The field that names each kind of master key publicly.
const ID_FIELD: Record<RecipientKind, (k: Obj) => string | undefined> = {
  age: (k) => str(k.recipient),
  pgp: (k) => str(k.fp),
  kms: (k) => str(k.arn),
  gcp_kms: (k) => str(k.resource_id),
  azure_kv: (k) => (str(k.vault_url) ? `${String(k.vault_url)}/keys/${String(k.name ?? '')}` : undefined),
  hc_vault: (k) => (str(k.vault_address) ? `${String(k.vault_address)}/v1/${String(k.engine_path ?? '')}/keys/${String(k.key_name ?? '')}` : undefined),
  hckms: (k) => str(k.key_id),
};

function recipientsOf(group: Obj): Recipient[] {
  const out: Recipient[] = [];
  for (const kind of Object.keys(ID_FIELD) as RecipientKind[]) {
    const list = group[kind];
    if (!Array.isArray(list)) continue;
    for (const k of list) {
      if (!isObj(k)) continue;
      out.push({ kind, id: ID_FIELD[kind](k) ?? '(unnamed)', enc: typeof k.enc === 'string' ? k.enc : '' });
    }
  }
  return out;
}

/** readMetadata reads a `sops` mapping. */
export function readMetadata(m: Obj): SopsMetadata {
  const groups = Array.isArray(m.key_groups) ? m.key_groups.filter(isObj).map(recipientsOf) : [recipientsOf(m)];
  const out: SopsMetadata = {
    groups,
    commentRegex: str(m.unencrypted_comment_regex) !== undefined || str(m.encrypted_comment_regex) !== undefined,
  };
  const set = <K extends keyof SopsMetadata>(k: K, v: SopsMetadata[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('mac', str(m.mac));
  set('lastModified', str(m.lastmodified));
  set('unencryptedSuffix', str(m.unencrypted_suffix));
  set('encryptedSuffix', str(m.encrypted_suffix));
  set('unencryptedRegex', str(m.unencrypted_regex));
  set('encryptedRegex', str(m.encrypted_regex));
  if (m.mac_only_encrypted === true || m.mac_only_encrypted === 'true') out.macOnlyEncrypted = true;
  return out;
}

/**
 * unflatten rebuilds the `sops` mapping from the flat keys of a dotenv or INI file (stores/flatten.go):
 * `pgp__list_0__map_enc` is pgp[0].enc. `escapedNewlines` (INI) turns a written `\n` back into a newline.
 */
export function unflatten(entries: ReadonlyArray<[string, string]>, escapedNewlines: boolean): Obj {
  const root: Obj = {};
  for (const [flat, raw] of entries) {
    const value = escapedNewlines ? raw.replaceAll('\\n', '\n') : raw;
    const tokens = flat.split(/(?=__map_|__list_)/).map((t) =>
      t.startsWith('__list_') ? Number.parseInt(t.slice('__list_'.length), 10) : t.startsWith('__map_') ? t.slice('__map_'.length) : t,
    );
    let cur: Obj | unknown[] = root;
    tokens.forEach((tok, i) => {
      const last = i === tokens.length - 1;
      const next = tokens[i + 1];
      const container = cur as Record<string | number, unknown>;
      if (last) container[tok] = value;
      else container[tok] ??= typeof next === 'number' ? [] : {};
      cur = container[tok] as Obj | unknown[];
    });
  }
  return root;
}

/** describeRecipients names a file's recipients for an error: public identities only, never a key. */
export function describeRecipients(meta: SopsMetadata): string {
  const all = meta.groups.flat();
  if (all.length === 0) return 'none';
  return all.map((r) => `${r.kind} ${r.id}`).join(', ');
}
