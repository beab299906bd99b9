// docs/conformance.md claims, row by row, which requirement curfew meets and which tests prove
// it. This file keeps those claims honest: every row must have one of the four statuses, a row
// that says "met" must name tests, and every test it names must exist, by file and exact title
// (or, for the store-conformance suite, by case name). A renamed or deleted test fails here.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const MATRIX = 'docs/conformance.md';

const STATUSES = ['met', 'met with an integration', "application's duty", 'not yet'];
const NEEDS_PROOF = new Set(['met', 'met with an integration']);
// A matrix table is one with exactly these columns; any other table in the document is prose.
const HEADER = ['ID', 'Requirement', 'Status', 'How', 'Proof'];
const PROOF_SEPARATOR = /<br\s*\/?>/i;
const CITATION = ' › ';
// Proofs name test files and shared case files, never the library's sources.
const TEST_PATH = /^packages\/[a-z0-9-]+\/test\/(?!.*\.\.)[A-Za-z0-9_./-]+\.ts$/;
// The store-conformance suite lives in one file or, once split, in a folder: both are searched.
const CONFORMANCE_SOURCES = [
  'packages/curfew/src/testing/conformance.ts',
  'packages/curfew/src/testing/conformance',
];

interface MatrixRow {
  line: number;
  id: string;
  status: string;
  proofs: string[];
}

/** The rows of every matrix table in a Markdown document, and what could not be read. */
function parseMatrix(markdown: string): { rows: MatrixRow[]; errors: string[] } {
  const rows: MatrixRow[] = [];
  const errors: string[] = [];
  const lines = markdown.split('\n');
  let inTable = false;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!.trim();
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    const cells = splitCells(line);
    if (!inTable) {
      inTable = cells.length === HEADER.length && cells.every((cell, j) => cell === HEADER[j]);
      if (inTable) i += 1; // the |---| line under the header
      continue;
    }
    if (cells.length !== HEADER.length) {
      errors.push(`${MATRIX}:${i + 1}: expected ${HEADER.length} cells, found ${cells.length}`);
      continue;
    }
    const [id, , status, , proof] = cells as [string, string, string, string, string];
    const proofs = proof
      .split(PROOF_SEPARATOR)
      .map((item) => item.trim())
      .filter((item) => item !== '' && item !== '—' && item !== '-');
    rows.push({ line: i + 1, id, status, proofs });
  }
  return { rows, errors };
}

/** Splits `| a | b \| c |` into `['a', 'b | c']`. */
function splitCells(line: string): string[] {
  const inner = line.replace(/^\|/, '').replace(/(?<!\\)\|$/, '');
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim().replaceAll('\\|', '|'));
}

/** Everything the matrix says that is not so, as `file:line: what`; empty when all is well. */
function checkMatrix(markdown: string, root: string): string[] {
  const { rows, errors } = parseMatrix(markdown);
  const seen = new Map<string, number>();
  const files = new Map<string, TestTitles | null>();
  let suite: ConformanceSuite | undefined;
  for (const row of rows) {
    const at = `${MATRIX}:${row.line}`;
    if (row.id === '') errors.push(`${at}: the row has no ID`);
    const previous = seen.get(row.id);
    if (previous !== undefined) errors.push(`${at}: ID "${row.id}" is also on line ${previous}`);
    seen.set(row.id, row.line);
    if (!STATUSES.includes(row.status)) {
      errors.push(`${at}: status "${row.status}" is not one of ${STATUSES.join(', ')}`);
    }
    if (NEEDS_PROOF.has(row.status) && row.proofs.length === 0) {
      errors.push(`${at}: "${row.id}" says ${row.status} but names no test`);
    }
    for (const proof of row.proofs) {
      const cut = proof.indexOf(CITATION);
      if (cut === -1) {
        errors.push(`${at}: "${proof}" is not "path/to/file.test.ts › test title"`);
        continue;
      }
      const where = proof.slice(0, cut).trim();
      const title = proof.slice(cut + CITATION.length).trim();
      if (where === 'conformance') {
        suite ??= readConformanceSuite(root);
        const problem = checkConformanceCase(suite, title);
        if (problem !== null) errors.push(`${at}: ${problem}`);
        continue;
      }
      if (!TEST_PATH.test(where)) {
        errors.push(`${at}: "${where}" is not a .ts file under packages/<package>/test/`);
        continue;
      }
      if (!files.has(where)) {
        const path = join(root, where);
        files.set(where, existsSync(path) ? testTitles(readFileSync(path, 'utf8')) : null);
      }
      const titles = files.get(where)!;
      if (titles === null) errors.push(`${at}: no file ${where}`);
      else if (!titles.has(title)) errors.push(`${at}: no test titled "${title}" in ${where}`);
    }
  }
  return errors;
}

interface TestTitles {
  has(title: string): boolean;
}

// Comments and string literals, matched left to right so that neither is mistaken for the other.
const LITERALS =
  /\/\/[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\[\s\S])*`/g;
// it(…), test(…), it.skip(…), it.each(…)(…), test.skipIf(…)(…), and so on.
const TEST_CALL = /(?:^|[^\w$.])(?:it|test)(?:\.\w+)*$/;
const PLACEHOLDER = /%[sdifjo#%]|\$\{[^}]*\}/g;
// A title made mostly of placeholders would match anything.
const MIN_LITERAL_CHARACTERS = 8;

/**
 * The titles of the tests a source file declares: the first argument of each it/test call.
 * A title written as a template (`${n} rounds of …`) or a table title (`'%s: idle %s ms'`)
 * matches as written, or with its placeholders filled in by anything.
 */
function testTitles(source: string): TestTitles {
  const literals = [...source.matchAll(LITERALS)];
  // The source with every comment and string blanked out, so that parentheses can be counted.
  const masked = source.replace(LITERALS, (literal) => literal.replace(/[^\n]/g, ' '));
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const match of literals) {
    const text = match[0];
    if (text.startsWith('/')) continue;
    if (!isFirstArgumentOfTest(masked, match.index)) continue;
    const body = text.slice(1, -1);
    const title = text.startsWith('`') ? body : unescapeString(body);
    exact.add(title);
    const parts = title.split(PLACEHOLDER);
    if (parts.length > 1 && parts.join('').trim().length >= MIN_LITERAL_CHARACTERS) {
      patterns.push(new RegExp(`^${parts.map(escapeRegExp).join('.+?')}$`, 's'));
    }
  }
  return { has: (title) => exact.has(title) || patterns.some((pattern) => pattern.test(title)) };
}

function isFirstArgumentOfTest(masked: string, start: number): boolean {
  let i = skipSpaceBack(masked, start - 1);
  if (masked[i] !== '(') return false;
  i = skipSpaceBack(masked, i - 1);
  if (masked[i] === ')') {
    // it.each(table)('title', …): step over the table to the name before it.
    let depth = 0;
    for (; i >= 0; i -= 1) {
      if (masked[i] === ')') depth += 1;
      else if (masked[i] === '(' && --depth === 0) break;
    }
    i = skipSpaceBack(masked, i - 1);
  }
  return TEST_CALL.test(masked.slice(Math.max(0, i - 80), i + 1));
}

function skipSpaceBack(text: string, i: number): number {
  while (i >= 0 && /\s/.test(text[i]!)) i -= 1;
  return i;
}

function unescapeString(body: string): string {
  return body.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

interface ConformanceSuite {
  source: string;
  cases: Set<string>;
}

function readConformanceSuite(root: string): ConformanceSuite {
  const sources: string[] = [];
  const visit = (path: string) => {
    if (!existsSync(path)) return;
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) visit(join(path, entry));
    } else if (path.endsWith('.ts')) {
      sources.push(readFileSync(path, 'utf8'));
    }
  };
  for (const path of CONFORMANCE_SOURCES) visit(join(root, path));
  const source = sources.join('\n');
  return { source, cases: unionMembers(source, 'ConformanceCase', new Set()) };
}

/** The string literals of a union type, following the unions it is made of. */
function unionMembers(source: string, name: string, visited: Set<string>): Set<string> {
  const members = new Set<string>();
  if (visited.has(name)) return members;
  visited.add(name);
  const body = new RegExp(`\\btype\\s+${name}\\s*=([^;]*);`).exec(source)?.[1] ?? '';
  for (const [, single, double] of body.matchAll(/'([^']+)'|"([^"]+)"/g)) {
    members.add((single ?? double)!);
  }
  for (const [other] of body.matchAll(/\b[A-Z]\w*\b/g)) {
    for (const member of unionMembers(source, other, visited)) members.add(member);
  }
  // (typeof CASES)[number]: the strings of the array CASES.
  for (const [, array] of body.matchAll(/\btypeof\s+(\w+)/g)) {
    const items = new RegExp(`\\b${array}\\s*=\\s*\\[([^\\]]*)\\]`).exec(source)?.[1] ?? '';
    for (const [, single, double] of items.matchAll(/'([^']+)'|"([^"]+)"/g)) {
      members.add((single ?? double)!);
    }
  }
  return members;
}

function checkConformanceCase(suite: ConformanceSuite, name: string): string | null {
  if (!suite.cases.has(name)) {
    return `"${name}" is not a ConformanceCase (in ${CONFORMANCE_SOURCES.join(' or ')})`;
  }
  // Registered: the case name as an argument followed by its title, as in
  // test('hash-only', 'stores the SHA-256 hash and never the token', …), or as the name of a
  // case object ({ name: 'hash-only', title: … }), whichever shape the suite's files take.
  const quoted = escapeRegExp(name);
  const registered =
    new RegExp(`[(,]\\s*(['"])${quoted}\\1\\s*,\\s*['"\`]`).test(suite.source) ||
    new RegExp(`\\bname\\s*:\\s*(['"])${quoted}\\1`).test(suite.source);
  return registered ? null : `the conformance case "${name}" is declared but never registered`;
}

describe(MATRIX, () => {
  const markdown = readFileSync(join(repo, MATRIX), 'utf8');

  it('has a row for each requirement, and the README links to it', () => {
    const { rows, errors } = parseMatrix(markdown);
    expect(errors).toEqual([]);
    expect(rows.length).toBeGreaterThan(100);
    expect(readFileSync(join(repo, 'README.md'), 'utf8')).toContain('(docs/conformance.md)');
  });

  it('gives every row a known status, and every met row tests that exist', () => {
    expect(checkMatrix(markdown, repo)).toEqual([]);
  });
});

describe('the matrix checker', () => {
  const table = (...rows: string[]) =>
    ['| ID | Requirement | Status | How | Proof |', '| --- | --- | --- | --- | --- |', ...rows]
      .join('\n')
      .concat('\n');

  it('accepts tests from a test file, a shared case file, a table and the conformance suite', () => {
    const markdown = table(
      '| A | a | met | x | packages/curfew/test/token.test.ts › hash to lowercase hex SHA-256 of their UTF-8 bytes |',
      '| B | b | met with an integration | x | packages/curfew/test/support/integration-cases.ts › refuses alg none<br>conformance › hash-only |',
      '| C | c | met | x | packages/curfew/test/policy.test.ts › %s: default AAL%s, limits for all three levels |',
      '| D | d | met | x | packages/curfew/test/postgres-race.test.ts › 1000 rounds of one revoke against 50 validations |',
      "| E | e | application's duty | x | — |",
      '| F | f \\| g | not yet | x | |',
    );
    expect(parseMatrix(markdown).rows.map((row) => row.id)).toEqual(['A', 'B', 'C', 'D', 'E', 'F']);
    expect(checkMatrix(markdown, repo)).toEqual([]);
  });

  it('rejects a made-up row', () => {
    const markdown = table(
      '| X | a requirement nobody tested | met | trust us | packages/curfew/test/token.test.ts › are 44 characters of pure luck |',
    );
    expect(checkMatrix(markdown, repo)).toEqual([
      `${MATRIX}:3: no test titled "are 44 characters of pure luck" in packages/curfew/test/token.test.ts`,
    ]);
  });

  it('rejects an unknown status, a met row without tests, and tests that do not exist', () => {
    const markdown = table(
      '| A | a | mostly met | x | |',
      '| B | b | met | x | — |',
      '| C | c | met | x | packages/curfew/test/nowhere.test.ts › anything |',
      '| D | d | met | x | conformance › teleport |',
      '| E | e | met | x | packages/curfew/src/core/token.ts › generateSessionToken |',
      '| F | f | met | x | packages/curfew/test/token.test.ts |',
      '| A | a again | not yet | x | |',
      '| G | g | met | x | packages/curfew/test/express.test.ts › curfew/express |',
      '| H | too | few |',
    );
    expect(checkMatrix(markdown, repo)).toEqual([
      `${MATRIX}:11: expected 5 cells, found 3`,
      `${MATRIX}:3: status "mostly met" is not one of ${STATUSES.join(', ')}`,
      `${MATRIX}:4: "B" says met but names no test`,
      `${MATRIX}:5: no file packages/curfew/test/nowhere.test.ts`,
      `${MATRIX}:6: "teleport" is not a ConformanceCase (in ${CONFORMANCE_SOURCES.join(' or ')})`,
      `${MATRIX}:7: "packages/curfew/src/core/token.ts" is not a .ts file under packages/<package>/test/`,
      `${MATRIX}:8: "packages/curfew/test/token.test.ts" is not "path/to/file.test.ts › test title"`,
      `${MATRIX}:9: ID "A" is also on line 3`,
      // A describe title is not a test.
      `${MATRIX}:10: no test titled "curfew/express" in packages/curfew/test/express.test.ts`,
    ]);
  });

  it('finds conformance cases declared in a union of unions and registered in any file', () => {
    const suite: ConformanceSuite = {
      source: [
        "export type ConformanceCase = ExpiryCase | 'create';",
        "type ExpiryCase = 'idle-boundary' | (typeof MORE)[number];",
        "const MORE = ['absolute-boundary'] as const;",
        "test('create', 'creates a session', async () => {});",
        "test(\n  'idle-boundary',\n  `is valid 1 ms before`,\n  async () => {},\n);",
      ].join('\n'),
      cases: new Set(),
    };
    suite.cases = unionMembers(suite.source, 'ConformanceCase', new Set());
    expect([...suite.cases].sort()).toEqual(['absolute-boundary', 'create', 'idle-boundary']);
    expect(checkConformanceCase(suite, 'create')).toBeNull();
    expect(checkConformanceCase(suite, 'idle-boundary')).toBeNull();
    expect(checkConformanceCase(suite, 'absolute-boundary')).toBe(
      'the conformance case "absolute-boundary" is declared but never registered',
    );
  });

  it('reads the suite from one file, or from a folder once it is split', () => {
    const root = mkdtempSync(join(tmpdir(), 'curfew-matrix-'));
    try {
      const folder = join(root, CONFORMANCE_SOURCES[1]!);
      mkdirSync(join(folder, 'cases'), { recursive: true });
      writeFileSync(
        join(folder, 'index.ts'),
        "export type ConformanceCase = RaceCase | 'create';\ntest('create', 'creates', f);\n",
      );
      writeFileSync(
        join(folder, 'cases', 'races.ts'),
        "export type RaceCase = 'race-revoke-all' | 'race-sweeps';\nrun(ctx, 'race-revoke-all', 'races', f);\nconst c = { name: 'race-sweeps', title: 'sweeps' };\n",
      );
      const split = readConformanceSuite(root);
      expect([...split.cases].sort()).toEqual(['create', 'race-revoke-all', 'race-sweeps']);
      expect(checkConformanceCase(split, 'race-revoke-all')).toBeNull();
      expect(checkConformanceCase(split, 'race-sweeps')).toBeNull();
      expect(readConformanceSuite(repo).cases.has('hash-only')).toBe(true);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads titles past comments, strings that look like code, and it.each tables', () => {
    const titles = testTitles(
      [
        "// it('a comment', () => {})",
        "const url = 'https://example.test/it(';",
        "it('plain', () => {});",
        'it("double \\"quoted\\"", () => {});',
        "it.each([['x', f(1)]])('%s is a row', () => {});",
        "describe('a group', () => { test.skip('skipped', () => {}); });",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: source text holding a template
        'it(`${n} rounds of one revoke`, () => {});',
        "expect('not a title').toBe(1);",
      ].join('\n'),
    );
    for (const title of [
      'plain',
      'double "quoted"',
      '%s is a row',
      'x is a row',
      'skipped',
      '7 rounds of one revoke',
    ]) {
      expect(titles.has(title), title).toBe(true);
    }
    for (const title of ['a comment', 'a group', 'not a title', 'https://example.test/it(']) {
      expect(titles.has(title), title).toBe(false);
    }
  });
});
