// Parsing YAML while keeping positions: every problem found later (a zod issue, a cross-reference,
// a compose feature warden cannot honour) is reported at the line and column of the node it is about.
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node, type ScalarTag, type Tags } from 'yaml';
import type { Problem } from './source.js';

/** PathSegment is one step into a YAML document: a mapping key or a sequence index. */
export type PathSegment = string | number;

/** YamlSource is a parsed YAML file with what it takes to turn a path into a position. */
export interface YamlSource {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
}

/** ParsedYaml is the outcome of parseYamlSource: the data, or the syntax problems that prevent it. */
export interface ParsedYaml {
  source: YamlSource;
  /** data is the document as plain JavaScript; undefined when there are syntax errors. */
  data: unknown;
  problems: Problem[];
  warnings: Problem[];
}

/**
 * parseYamlSource parses one YAML document (merge keys allowed, as compose files use them); `tags` adds
 * scalar tags (default none), e.g. the octal integers the Go YAML library reads in compose files.
 */
export function parseYamlSource(text: string, file: string, tags: ScalarTag[] = []): ParsedYaml {
  const lineCounter = new LineCounter();
  // uniqueKeys: a repeated key is almost always a merge mistake, so it is an error, as in YAML 1.2.
  const doc = parseDocument(text, {
    lineCounter, prettyErrors: false, merge: true, uniqueKeys: true, ...(tags.length > 0 ? { customTags: (known: Tags) => [...tags, ...known] } : {}),
  });
  const source: YamlSource = { file, doc, lineCounter };
  const at = (pos: number, message: string): Problem => ({ file, ...position(source, pos), message });
  const problems = doc.errors.map((e) => at(e.pos[0], yamlMessage(e.message, e.code)));
  const warnings = doc.warnings.map((w) => at(w.pos[0], yamlMessage(w.message, w.code)));
  if (problems.length > 0) return { source, data: undefined, problems, warnings };
  try {
    return { source, data: doc.toJS({ maxAliasCount: 1000 }), problems, warnings };
  } catch (err) {
    return { source, data: undefined, problems: [at(0, (err as Error).message)], warnings };
  }
}

// yaml's messages are good but some name internals; the code says what kind of mistake it is.
function yamlMessage(message: string, code: string): string {
  const first = message.split('\n')[0] ?? message;
  switch (code) {
    case 'DUPLICATE_KEY':
      return `${first}: each key may appear once in a mapping`;
    case 'MULTIPLE_DOCS':
      return 'the file holds several YAML documents ("---"); warden reads one';
    case 'TAB_AS_INDENT':
      return 'tabs cannot indent YAML: use spaces';
    default:
      return `YAML: ${first}`;
  }
}

/** position turns a character offset into a 1-based line and column. */
export function position(source: YamlSource, offset: number): { line: number; col: number } {
  const { line, col } = source.lineCounter.linePos(Math.max(0, offset));
  return { line, col };
}

/** nodeAt finds the node at a path, or undefined when the path leads outside the document. */
export function nodeAt(source: YamlSource, path: readonly PathSegment[]): Node | undefined {
  if (path.length === 0) return (source.doc.contents as Node | null) ?? undefined;
  const node = source.doc.getIn(path, true);
  return node !== null && typeof node === 'object' && 'range' in (node as object) ? (node as Node) : undefined;
}

/** keyNodeAt finds the key node of the last path segment in its mapping. */
export function keyNodeAt(source: YamlSource, path: readonly PathSegment[]): Node | undefined {
  const parent = nodeAt(source, path.slice(0, -1));
  const key = path[path.length - 1];
  if (!isMap(parent)) return undefined;
  for (const pair of parent.items) {
    if (isPair(pair) && isScalar(pair.key) && String(pair.key.value) === String(key)) return pair.key;
  }
  return undefined;
}

/** Target says which node of a path a problem points at: its value, its key, or the mapping holding it. */
export type Target = 'value' | 'key' | 'parent';

/** problemAt builds a problem positioned at the path's node, falling back to the nearest ancestor. */
export function problemAt(source: YamlSource, path: readonly PathSegment[], message: string, target: Target = 'value'): Problem {
  let node: Node | undefined;
  if (target === 'key') node = keyNodeAt(source, path);
  else if (target === 'value') node = nodeAt(source, path) ?? keyNodeAt(source, path);
  for (let n = path.length - (target === 'parent' ? 1 : 0); node === undefined && n >= 0; n--) {
    node = n === path.length ? undefined : nodeAt(source, path.slice(0, n));
  }
  // An empty value ("spec:" with nothing after it) has a zero-length range where the value would be.
  const offset = node?.range?.[0] ?? 0;
  return { file: source.file, ...position(source, offset), message };
}

/** formatPath renders a path as an operator reads it: spec.services[0].placement. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  return out;
}
