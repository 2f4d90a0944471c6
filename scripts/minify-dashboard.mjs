// Writes dashboards/dashboard.min.mjs, the on-call page's script as the worker embeds and serves
// it: esbuild's minified copy of dashboards/dashboard.mjs, the file to edit (the upload is
// smaller by about 2 KiB gzipped). Run it after changing the script:
//   source scripts/env.sh && node scripts/minify-dashboard.mjs
// tests/e2e/dashboard.test.mjs fails while the committed copy is not the current one.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { transformSync } from "esbuild";

const DASHBOARDS = join(fileURLToPath(new URL("..", import.meta.url)), "dashboards");
export const SOURCE = join(DASHBOARDS, "dashboard.mjs");
export const SHIPPED = join(DASHBOARDS, "dashboard.min.mjs");

/** The minified module for the script `source`. */
export function minified(source) {
  return transformSync(source, { minify: true, format: "esm", target: "es2022", legalComments: "none" }).code;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(SHIPPED, minified(readFileSync(SOURCE, "utf8")));
}
