// Parses every ```mermaid block of a Markdown file with mermaid's own parser (under jsdom).
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';
const dom = new JSDOM('<!DOCTYPE html><body></body>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
globalThis.DOMParser = dom.window.DOMParser;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });
const text = readFileSync(process.argv[2], 'utf8');
const blocks = [...text.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]);
if (blocks.length === 0) { console.error('no mermaid block'); process.exit(1); }
let n = 0;
for (const b of blocks) {
  const r = await mermaid.parse(b);
  if (!r || r.diagramType !== 'sequence') { console.error('not a sequence diagram'); process.exit(1); }
  n++;
}
console.log(`parsed ${n}`);
