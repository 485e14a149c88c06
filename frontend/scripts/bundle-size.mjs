// Initial JavaScript of the app (what the catalog route loads before any lazy chunk): the
// entry script and the chunks index.html preloads, gzip-compressed as the wire sees them.
// Fails when it exceeds the budget in docs/BENCHMARKS.md (200 KB).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const dist = new URL("../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const files = [...html.matchAll(/(?:src|href)="\/?([^"]+\.js)"/g)].map((m) => m[1]);
let raw = 0;
let gz = 0;
for (const f of new Set(files)) {
  const b = readFileSync(join(dist, f));
  raw += b.length;
  gz += gzipSync(b, { level: 9 }).length;
  console.log(`${f}: ${(b.length / 1024).toFixed(1)} KB, ${(gzipSync(b, { level: 9 }).length / 1024).toFixed(1)} KB gzip`);
}
console.log(`initial JS: ${(raw / 1024).toFixed(1)} KB raw, ${(gz / 1024).toFixed(1)} KB gzip (budget 200 KB)`);
if (gz > 200 * 1024) process.exit(1);
