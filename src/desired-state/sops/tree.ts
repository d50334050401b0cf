// sops's tree formats: YAML, JSON and binary (a document whose `data` holds the file's bytes). The document
// is walked in the order sops walks its tree (keys in file order, a list's items under the list's own
// path, comments under the path of the mapping or list that holds them), and written back as sops -d
// writes it: YAML with an indent of 4, JSON indented with tabs, binary as the bytes themselves.
import { isCollection, isMap, isScalar, isSeq, parseDocument, Scalar, type Document, type Node, type YAMLMap } from 'yaml';
import { typedValue, type DecryptedValue } from './cipher.js';
import { readMetadata, type SopsMetadata } from './metadata.js';

/** Leaf is one value or comment of a sops file, in sops's walking order. */
export interface Leaf {
  path: readonly string[];
  comment: boolean;
  /** value is as the file holds it: an ENC[…] string, or a value kept in clear; a comment's text. */
  value: string | number | boolean | null;
  /** set replaces the value with its decryption. */
  set(v: DecryptedValue): void;
}

/** SopsDocument is a parsed sops file: metadata, leaves to decrypt, and its rendering once they are. */
export interface SopsDocument {
  metadata: SopsMetadata;
  leaves: Leaf[];
  render(): Buffer;
}

/** TreeFormat is how a tree file is written out. */
export type TreeFormat = 'yaml' | 'json' | 'binary';

type AnyMap = YAMLMap<unknown, unknown>;

/** parseTree reads a YAML or JSON text; undefined when it is not one document whose top level holds a `sops` mapping. */
export function parseTree(text: string): { doc: Document.Parsed; root: AnyMap; meta: AnyMap } | undefined {
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { uniqueKeys: false, merge: false });
  } catch {
    return undefined;
  }
  if (doc.errors.length > 0 || !isMap(doc.contents)) return undefined;
  const root = doc.contents as AnyMap;
  const meta = root.get('sops', true);
  if (!isMap(meta)) return undefined;
  if (!['mac', 'version', 'lastmodified'].some((k) => (meta as AnyMap).has(k))) return undefined;
  return { doc, root, meta: meta as AnyMap };
}

// Comment lines of one node (yaml joins a run of `#…` lines with newlines): one leaf each.
function commentLeaves(lines: string | null | undefined, path: readonly string[], write: (text: string) => void, out: Leaf[]): void {
  if (!lines) return;
  const parts = lines.split('\n');
  parts.forEach((text, i) => {
    out.push({
      path,
      comment: true,
      value: text,
      set: (v) => {
        parts[i] = v.bytes.toString('utf8');
        write(parts.join('\n'));
      },
    });
  });
}

function scalarLeaf(node: Scalar, path: readonly string[], binary: boolean): Leaf {
  const raw = node.value;
  const value = typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean' ? raw : raw === null || raw === undefined ? null : String(raw);
  return {
    path,
    comment: false,
    value,
    set: (v) => {
      // A binary file's data is its bytes, whatever sops called their type.
      node.value = binary ? v.bytes : typedValue(v);
      delete node.type;
    },
  };
}

function walk(node: Node | null | undefined, path: readonly string[], binary: boolean, out: Leaf[]): void {
  if (!node) return;
  commentLeaves(node.commentBefore, path, (t) => (node.commentBefore = t), out);
  if (isScalar(node)) {
    out.push(scalarLeaf(node, path, binary));
    return;
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key : undefined;
      if (key) commentLeaves(key.commentBefore, path, (t) => (key.commentBefore = t), out);
      walk(pair.value as Node | null, [...path, String(key?.value ?? pair.key)], binary, out);
    }
  } else if (isSeq(node)) {
    for (const item of node.items) walk(item as Node | null, path, binary, out);
  }
  if (isCollection(node)) commentLeaves(node.comment, path, (t) => (node.comment = t), out);
}

/** treeDocument reads a parsed tree file's leaves, and renders it as `format` without its metadata. */
export function treeDocument(parsed: NonNullable<ReturnType<typeof parseTree>>, format: TreeFormat): SopsDocument {
  const { doc, root, meta } = parsed;
  const metadata = readMetadata(meta.toJSON() as Record<string, unknown>);
  root.delete('sops');
  const leaves: Leaf[] = [];
  commentLeaves(doc.commentBefore, [], (t) => (doc.commentBefore = t), leaves);
  walk(root, [], format === 'binary', leaves);
  return { metadata, leaves, render: () => render(doc, root, format) };
}

function render(doc: Document.Parsed, root: AnyMap, format: TreeFormat): Buffer {
  if (format === 'binary') {
    const data = root.get('data', true);
    const v = isScalar(data) ? data.value : undefined;
    return Buffer.isBuffer(v) ? v : Buffer.from(typeof v === 'string' ? v : '', 'utf8');
  }
  if (format === 'json') return Buffer.from(toJson(root, ''), 'utf8');
  return Buffer.from(doc.toString({ indent: 4, indentSeq: true, lineWidth: 0 }), 'utf8');
}

// encoding/json with json.Indent(…, "\t"), in the document's own key order (a JS object would move
// numeric keys first).
function toJson(node: unknown, indent: string): string {
  const inner = `${indent}\t`;
  if (isMap(node)) {
    if (node.items.length === 0) return '{}';
    const items = node.items.map((p) => `${inner}${JSON.stringify(String(isScalar(p.key) ? p.key.value : p.key))}: ${toJson(p.value, inner)}`);
    return `{\n${items.join(',\n')}\n${indent}}`;
  }
  if (isSeq(node)) {
    if (node.items.length === 0) return '[]';
    return `[\n${node.items.map((i) => `${inner}${toJson(i, inner)}`).join(',\n')}\n${indent}]`;
  }
  const v = isScalar(node) ? node.value : node;
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('base64'));
  return JSON.stringify(v ?? null);
}
